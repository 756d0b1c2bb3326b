{{/* Names: <release>-cascade, or the release name alone when it already says cascade. */}}
{{- define "cascade.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cascade.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cascade
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "edge") */}}
{{- define "cascade.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cascade.componentLabels" -}}
{{ include "cascade.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cascade.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "cascade.svc" -}}
{{ .name }}.{{ .root.Release.Namespace }}.svc.{{ .root.Values.clusterDomain }}
{{- end -}}

{{/* The URL of origin <i>: its stable name under the StatefulSet's headless Service. */}}
{{- define "cascade.originUrl" -}}
{{- $full := include "cascade.fullname" .root -}}
http://{{ $full }}-origin-{{ .index }}.{{ include "cascade.svc" (dict "root" .root "name" (printf "%s-origin-headless" $full)) }}:{{ .root.Values.origin.port }}
{{- end -}}

{{- define "cascade.lbPublicUrl" -}}
{{- if .Values.lb.publicUrl -}}
{{ .Values.lb.publicUrl }}
{{- else -}}
http://{{ include "cascade.svc" (dict "root" . "name" (printf "%s-lb" (include "cascade.fullname" .))) }}:{{ .Values.lb.service.port }}
{{- end -}}
{{- end -}}

{{- define "cascade.uploadTokenSecret" -}}
{{ .Values.uploadToken.existingSecret | default (printf "%s-upload-token" (include "cascade.fullname" .)) }}
{{- end -}}

{{- define "cascade.uploadTokenEnv" -}}
- name: CASCADE_UPLOAD_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "cascade.uploadTokenSecret" . }}
      key: {{ if .Values.uploadToken.existingSecret }}{{ .Values.uploadToken.existingSecretKey }}{{ else }}token{{ end }}
{{- end -}}

{{/* CASCADE_REDIS (and the prefix) for every role and ops command. */}}
{{- define "cascade.redisEnv" -}}
{{- if .Values.redis.enabled }}
- name: CASCADE_REDIS
  value: {{ printf "redis://%s:6379" (include "cascade.svc" (dict "root" . "name" (printf "%s-redis" (include "cascade.fullname" .)))) | quote }}
{{- else if .Values.redis.existingSecret }}
- name: CASCADE_REDIS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.existingSecret }}
      key: {{ .Values.redis.existingSecretKey }}
{{- else if .Values.redis.url }}
- name: CASCADE_REDIS
  value: {{ .Values.redis.url | quote }}
{{- else }}
{{- fail "redis: set redis.enabled, redis.url or redis.existingSecret (the edges and LBs share their state through Redis)" }}
{{- end }}
{{- with .Values.redis.prefix }}
- name: CASCADE_REDIS_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* An options map (NAME: value) as env entries, in name order. */}}
{{- define "cascade.envMap" -}}
{{- range $name := keys . | sortAlpha }}
- name: {{ $name }}
  value: {{ index $ $name | toString | quote }}
{{- end }}
{{- end -}}

{{/* Probes on /healthz of the named port. Liveness is lenient: a loop busy with a burst is not dead. */}}
{{- define "cascade.httpProbes" -}}
readinessProbe:
  httpGet: { path: /healthz, port: http }
  periodSeconds: 5
  timeoutSeconds: 2
  failureThreshold: 2
livenessProbe:
  httpGet: { path: /healthz, port: http }
  initialDelaySeconds: 10
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 6
{{- end -}}

{{- define "cascade.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{- define "cascade.containerSecurityContext" -}}
allowPrivilegeEscalation: false
capabilities: { drop: [ALL] }
{{- end -}}

{{- define "cascade.podAnnotations" -}}
{{- $a := dict }}
{{- if .root.Values.metricsAnnotations }}
{{- $a = dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString .port) "prometheus.io/path" "/metrics" }}
{{- end }}
{{- toYaml (merge (deepCopy (.extra | default dict)) $a) }}
{{- end -}}

{{/* A PodDisruptionBudget for one component: (dict "root" $ "component" "edge" "pdb" .Values.edge.pdb) */}}
{{- define "cascade.pdb" -}}
{{- if .pdb.enabled }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "cascade.fullname" .root }}-{{ .component }}
  labels:
    {{- include "cascade.componentLabels" . | nindent 4 }}
spec:
  {{- if hasKey .pdb "minAvailable" }}
  minAvailable: {{ .pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "cascade.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* The pod's own names and addresses (downward API), then the edge id from one of them. Kubernetes
expands $(VAR) of earlier variables in later values, which is how edge.publicUrl uses them. */}}
{{- define "cascade.edgeIdEnv" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_IP
  valueFrom: { fieldRef: { fieldPath: status.podIP } }
- name: HOST_IP
  valueFrom: { fieldRef: { fieldPath: status.hostIP } }
- name: NODE_NAME
  valueFrom: { fieldRef: { fieldPath: spec.nodeName } }
- name: CASCADE_ID
  value: {{ .Values.edge.id | eq "nodeName" | ternary "$(NODE_NAME)" "$(POD_NAME)" | quote }}
{{- end -}}

{{/* A transcoder's Deployment and ingest Service name: (dict "root" $ "stream" "demo" "origin" 0); the
origin's index is in the name when it is not 0, so one stream can be fed to two origins. */}}
{{- define "cascade.transcoderName" -}}
{{- $suffix := (int (.origin | default 0)) | eq 0 | ternary "" (printf "-o%d" (int .origin)) -}}
{{- printf "%s-ingest-%s" (include "cascade.fullname" .root) (.stream | lower | replace "_" "-") | trunc (int (sub 63 (len $suffix))) | trimSuffix "-" -}}{{ $suffix }}
{{- end -}}
