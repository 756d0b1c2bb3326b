# One image for every cascade role (origin, edge, lb) and the ffmpeg stages (transcoder, test source).
#   docker build -t cascade .      docker compose up
# Build stage: compile TypeScript with the locked dependencies, then drop the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY src ./src
COPY origin ./origin
COPY edge ./edge
COPY lb ./lb
COPY transcoder ./transcoder
RUN npm run build && npm prune --omit=dev

# Runtime stage: node + ffmpeg (with libx264, libsrt, drawtext) + a font for the test pattern's clock.
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/*
# The origin's data directory (compose mounts a volume there; a new volume takes this ownership).
RUN mkdir -p /data && chown node:node /data
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# Roles listen on CASCADE_PORT; in a container they must bind every interface.
ENV CASCADE_HOST=0.0.0.0
EXPOSE 8080 8081 8082 8090 1935 9000/udp
ENTRYPOINT ["node"]
CMD ["dist/cli.js", "--help"]
