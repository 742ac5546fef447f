{{/* Names */}}
{{- define "ratekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ratekeeper.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ratekeeper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels: every object; selectors take name, instance and component only. */}}
{{- define "ratekeeper.labels" -}}
helm.sh/chart: {{ include "ratekeeper.chart" . }}
app.kubernetes.io/name: {{ include "ratekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ratekeeper
{{- end -}}

{{- define "ratekeeper.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ratekeeper.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ratekeeper.operatorSelectorLabels" -}}
{{ include "ratekeeper.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "ratekeeper.redisSelectorLabels" -}}
{{ include "ratekeeper.selectorLabels" . }}
app.kubernetes.io/component: redis
{{- end -}}

{{- define "ratekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ratekeeper.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- /* An image reference from (list <image values> <default tag>): repository@digest when a digest is
set (pinned: it wins over the tag), else repository:tag. */ -}}
{{- define "ratekeeper.image" -}}
{{- $image := index . 0 -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default (index . 1) $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "ratekeeper.operatorImage" -}}
{{- include "ratekeeper.image" (list .Values.operator.image .Chart.AppVersion) -}}
{{- end -}}

{{- define "ratekeeper.sidecarImage" -}}
{{- include "ratekeeper.image" (list .Values.sidecar.image .Chart.AppVersion) -}}
{{- end -}}

{{/* Webhook object names; the operator is told each one (RATEKEEPER_WEBHOOK_*). */}}
{{- define "ratekeeper.webhookService" -}}
{{- printf "%s-webhook" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.webhookConfigName" -}}
{{- printf "%s-sidecar-injector" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.adminService" -}}
{{- printf "%s-operator" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.leaseName" -}}
{{- printf "%s-operator" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.leaderElection" -}}
{{- if or .Values.operator.leaderElection (gt (int .Values.operator.replicas) 1) -}}true{{- else -}}false{{- end -}}
{{- end -}}

{{/* Redis */}}
{{- define "ratekeeper.redisName" -}}
{{- printf "%s-redis" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.builtinRedisUrl" -}}
{{- printf "redis://%s.%s.svc:6379" (include "ratekeeper.redisName" .) .Release.Namespace -}}
{{- end -}}

{{/* standalone, cluster or sentinel: the built-in Redis is one node. */}}
{{- define "ratekeeper.redisTopology" -}}
{{- if eq .Values.redis.mode "external" -}}{{ .Values.redis.external.topology }}{{- else -}}standalone{{- end -}}
{{- end -}}

{{/* The operator's Redis URL: comma-separated nodes for a Cluster (seeds) or Sentinel (sentinels). */}}
{{- define "ratekeeper.redisUrl" -}}
{{- if and (eq .Values.redis.mode "external") (ne .Values.redis.external.topology "standalone") -}}
{{- if not .Values.redis.external.nodes -}}
{{- fail (printf "redis.external.nodes is required with redis.external.topology %s" .Values.redis.external.topology) -}}
{{- end -}}
{{- join "," .Values.redis.external.nodes -}}
{{- else if eq .Values.redis.mode "external" -}}
{{- required "redis.external.url is required with redis.mode external" .Values.redis.external.url -}}
{{- else -}}
{{- include "ratekeeper.builtinRedisUrl" . -}}
{{- end -}}
{{- end -}}

{{/* The sidecars' Redis URL. */}}
{{- define "ratekeeper.sidecarRedisUrl" -}}
{{- if .Values.sidecar.redisUrl -}}
{{- .Values.sidecar.redisUrl -}}
{{- else if and (eq .Values.redis.mode "external") (ne .Values.redis.external.topology "standalone") -}}
{{- join "," (default .Values.redis.external.nodes .Values.redis.external.sidecarNodes) -}}
{{- else if eq .Values.redis.mode "external" -}}
{{- default (include "ratekeeper.redisUrl" .) .Values.redis.external.sidecarUrl -}}
{{- else -}}
{{- include "ratekeeper.builtinRedisUrl" . -}}
{{- end -}}
{{- end -}}

{{/* The port of a redis:// or rediss:// URL (6379 when it names none). Call with the URL. */}}
{{- define "ratekeeper.urlPort" -}}
{{- $host := (urlParse .).host -}}
{{- if regexMatch ":[0-9]+$" $host -}}{{ regexFind "[0-9]+$" $host }}{{- else -}}6379{{- end -}}
{{- end -}}

{{/* The distinct ports of comma-separated Redis URLs, as a JSON list of numbers. Call with the URLs. */}}
{{- define "ratekeeper.urlPorts" -}}
{{- $ports := list -}}
{{- range $url := splitList "," . -}}
{{- $ports = append $ports (include "ratekeeper.urlPort" $url | int) -}}
{{- end -}}
{{- toJson ($ports | uniq) -}}
{{- end -}}

{{/* "true" when Redis has a password. */}}
{{- define "ratekeeper.redisAuth" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- if or .Values.redis.external.password .Values.redis.external.existingSecret -}}true{{- end -}}
{{- else if .Values.redis.auth.enabled -}}true{{- end -}}
{{- end -}}

{{/* Secret (release namespace) and key holding the Redis password. */}}
{{- define "ratekeeper.redisSecretName" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.existingSecret -}}
{{- .Values.redis.external.existingSecret -}}
{{- else if and (eq .Values.redis.mode "builtin") .Values.redis.auth.existingSecret -}}
{{- .Values.redis.auth.existingSecret -}}
{{- else -}}
{{- include "ratekeeper.redisName" . -}}
{{- end -}}
{{- end -}}

{{- define "ratekeeper.redisSecretKey" -}}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.existingSecret -}}
{{- .Values.redis.external.existingSecretKey -}}
{{- else if and (eq .Values.redis.mode "builtin") .Values.redis.auth.existingSecret -}}
{{- .Values.redis.auth.existingSecretKey -}}
{{- else -}}
password
{{- end -}}
{{- end -}}

{{/* "true" when the chart creates the password Secret (and so knows the password). */}}
{{- define "ratekeeper.redisSecretCreated" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- if and .Values.redis.external.password (not .Values.redis.external.existingSecret) -}}true{{- end -}}
{{- else if and .Values.redis.auth.enabled (not .Values.redis.auth.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/*
The Redis password the chart stores: the value given, else on an upgrade the one already in the
cluster (so it stays), else a new random one. Computed once per render and remembered in
.Values, so every Secret that holds it holds the same value. (Looked up on upgrades only: on an
install there is nothing to find, and dry runs without a cluster must not try.)
*/}}
{{- define "ratekeeper.redisPassword" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- .Values.redis.external.password -}}
{{- else -}}
{{- if not .Values.redis.auth.password -}}
{{- $existing := dict -}}
{{- if .Release.IsUpgrade -}}
{{- $existing = lookup "v1" "Secret" .Release.Namespace (include "ratekeeper.redisName" .) -}}
{{- end -}}
{{- if and $existing $existing.data (hasKey $existing.data "password") -}}
{{- $_ := set .Values.redis.auth "password" (index $existing.data "password" | b64dec) -}}
{{- else -}}
{{- $_ := set .Values.redis.auth "password" (randAlphaNum 32) -}}
{{- end -}}
{{- end -}}
{{- .Values.redis.auth.password -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the sidecars' password Secret is created in. */}}
{{- define "ratekeeper.sidecarSecretNamespaces" -}}
{{- $list := .Values.sidecar.redisPasswordSecret.createIn -}}
{{- if and (not $list) (include "ratekeeper.redisSecretCreated" .) -}}
{{- $list = .Values.watchNamespaces -}}
{{- end -}}
{{- toJson (default (list) $list) -}}
{{- end -}}


{{/* The ConfigMap (release namespace) with the CA of an external Redis over TLS. */}}
{{- define "ratekeeper.redisCaConfigMap" -}}
{{- printf "%s-redis-ca" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{/* Namespaces that get the sidecars' CA ConfigMap. */}}
{{- define "ratekeeper.sidecarCaNamespaces" -}}
{{- toJson (default .Values.watchNamespaces .Values.sidecar.redisCaConfigMap.createIn | default (list)) -}}
{{- end -}}

{{/*
Where Redis is and how to log in, for a program in the release namespace (the operator, the gateway):
the RATEKEEPER_REDIS_* variables every program reads (cli RedisEndpoint), as container env entries.
The TLS files are the mounts of ratekeeper.redisTlsVolumeMounts.
*/}}
{{- define "ratekeeper.redisEnv" -}}
{{- $topology := include "ratekeeper.redisTopology" . -}}
- name: RATEKEEPER_REDIS_URL
  value: {{ include "ratekeeper.redisUrl" . | quote }}
{{- if ne $topology "standalone" }}
- name: RATEKEEPER_REDIS_MODE
  value: {{ $topology | quote }}
{{- end }}
{{- if eq $topology "sentinel" }}
- name: RATEKEEPER_REDIS_MASTER_NAME
  value: {{ required "redis.external.sentinelMasterName is required with topology sentinel" .Values.redis.external.sentinelMasterName | quote }}
{{- end }}
{{- if and (eq .Values.redis.mode "external") .Values.redis.external.user }}
- name: RATEKEEPER_REDIS_USER
  value: {{ .Values.redis.external.user | quote }}
{{- end }}
{{- if include "ratekeeper.redisAuth" . }}
- name: RATEKEEPER_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "ratekeeper.redisSecretName" . }}
      key: {{ include "ratekeeper.redisSecretKey" . }}
{{- end }}
{{- if eq .Values.redis.mode "external" }}
{{- with .Values.redis.external.tls }}
{{- if .caCert }}
- name: RATEKEEPER_REDIS_CA_FILE
  value: /etc/ratekeeper/redis-ca/ca.crt
{{- end }}
{{- if .clientCertSecret }}
- name: RATEKEEPER_REDIS_CERT_FILE
  value: /etc/ratekeeper/redis-client/tls.crt
- name: RATEKEEPER_REDIS_KEY_FILE
  value: /etc/ratekeeper/redis-client/tls.key
{{- end }}
{{- if not .verifyHostname }}
- name: RATEKEEPER_REDIS_VERIFY_HOSTNAME
  value: "false"
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The mounts of the files ratekeeper.redisEnv names (CA, client certificate); empty without TLS files. */}}
{{- define "ratekeeper.redisTlsVolumeMounts" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- if .Values.redis.external.tls.caCert }}
- name: redis-ca
  mountPath: /etc/ratekeeper/redis-ca
  readOnly: true
{{- end }}
{{- if .Values.redis.external.tls.clientCertSecret }}
- name: redis-client
  mountPath: /etc/ratekeeper/redis-client
  readOnly: true
{{- end }}
{{- end -}}
{{- end -}}

{{/* The volumes of ratekeeper.redisTlsVolumeMounts: the CA ConfigMap, the client certificate Secret (release namespace). */}}
{{- define "ratekeeper.redisTlsVolumes" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- if .Values.redis.external.tls.caCert }}
- name: redis-ca
  configMap:
    name: {{ include "ratekeeper.redisCaConfigMap" . }}
{{- end }}
{{- if .Values.redis.external.tls.clientCertSecret }}
- name: redis-client
  secret:
    secretName: {{ .Values.redis.external.tls.clientCertSecret }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* "true" when per-namespace Redis users are on. */}}
{{- define "ratekeeper.tenantUsers" -}}
{{- if .Values.redis.tenantUsers.enabled -}}true{{- end -}}
{{- end -}}

{{/* The built-in Redis's redis.conf. */}}
{{- define "ratekeeper.redisConf" -}}
bind * -::*
port 6379
{{- if not .Values.redis.auth.enabled }}
# no password: reachable by every pod the network allows (see networkPolicy)
protected-mode no
{{- end }}
dir /data
# Spend and quota counters live here: the append-only file is the persistence, with
# appendfsync always no acknowledged write is lost on a restart, with everysec about a second.
appendonly yes
appendfsync {{ .Values.redis.appendfsync }}
aof-use-rdb-preamble yes
save ""
{{- with .Values.redis.maxmemory }}
maxmemory {{ . }}
{{- end }}
# never evict: a dropped counter would reset a limit or a budget
maxmemory-policy noeviction
{{- end -}}

{{/* Restricted pod and container security contexts. */}}
{{- define "ratekeeper.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- /* "true" when a Prometheus Operator kind, from (list . "ServiceMonitor"), may be rendered: the API
server serves monitoring.coreos.com/v1 of that kind, or monitoring.requireCrds is false (helm template
without --api-versions, GitOps). Without the CRDs, helm install would fail on the unknown kind. */ -}}
{{- define "ratekeeper.monitoringKind" -}}
{{- $root := index . 0 -}}
{{- if or (not $root.Values.monitoring.requireCrds) ($root.Capabilities.APIVersions.Has (printf "monitoring.coreos.com/v1/%s" (index . 1))) -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}
