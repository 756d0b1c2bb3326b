// Hook objects that use `this` (docs/hooks.md: hooks are called as methods), through the roles: an LB whose hooks are a class
// instance next to built-in CIDR edge groups, and an origin whose authorizeUpload keeps state on `this`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLb } from '../lb/index.js';
import { createOrigin } from '../origin/index.js';
import type { LbHooks, SelectEdgesContext } from '../lb/hooks.js';
import type { OriginHooks, UploadContext } from '../origin/hooks.js';

class PinnedEdge implements LbHooks {
  picks = 0;
  constructor(private readonly edge: string) {}
  selectEdges(_ctx: SelectEdgesContext) {
    this.picks++;
    return [this.edge];
  }
}

test('LB: a class-instance hook wins over the built-in edge groups and keeps its state on `this`', async () => {
  const hooks = new PinnedEdge('e2');
  const lb = createLb({
    edges: [{ id: 'e1', url: 'http://127.0.0.1:9/one', weight: 100 }, { id: 'e2', url: 'http://127.0.0.1:9/two', weight: 100 }],
    health: { intervalMs: 0 },
    // Every client is in this group, which would send it to e1.
    edgeGroups: [{ name: 'all', edges: ['e1'], cidrs: ['0.0.0.0/0', '::/0'] }],
    hooks,
  });
  for (let i = 0; i < 5; i++) {
    const res = await lb.app.request('/hls/demo/index.m3u8', { headers: { 'x-forwarded-for': `192.0.2.${i}` } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), 'http://127.0.0.1:9/two/hls/demo/index.m3u8');
  }
  assert.equal(hooks.picks, 5);
  await lb.close();
});

test('origin: authorizeUpload as a method with its allow-list on `this`', async () => {
  const hooks = {
    allowed: new Set(['talk1']),
    authorizeUpload(ctx: UploadContext) {
      return this.allowed.has(ctx.stream);
    },
  } satisfies OriginHooks & { allowed: Set<string> };
  const origin = await createOrigin({ hooks });
  assert.equal((await origin.app.request('/hls/talk1/a.ts', { method: 'PUT', body: 'x' })).status, 201);
  assert.equal((await origin.app.request('/hls/talk2/a.ts', { method: 'PUT', body: 'x' })).status, 403);
  hooks.allowed.add('talk2');
  assert.equal((await origin.app.request('/hls/talk2/a.ts', { method: 'PUT', body: 'x' })).status, 201);
  await origin.close();
});
