{{/* The shared gateway (gateway.enabled): names, labels, checks. */}}
{{- define "ratekeeper.gatewayName" -}}
{{- printf "%s-gateway" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.gatewayAdminService" -}}
{{- printf "%s-gateway-admin" (include "ratekeeper.fullname" .) -}}
{{- end -}}

{{- define "ratekeeper.gatewaySelectorLabels" -}}
{{ include "ratekeeper.selectorLabels" . }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* The in-cluster URL agent pods reach the gateway's proxy at. */}}
{{- define "ratekeeper.gatewayUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "ratekeeper.gatewayName" .) .Release.Namespace (int .Values.gateway.port) -}}
{{- end -}}

{{/* "true" when more than one gateway replica runs at the least (a PDB over one blocks node drains). */}}
{{- define "ratekeeper.gatewayReplicated" -}}
{{- if .Values.gateway.autoscaling.enabled -}}
{{- if gt (int .Values.gateway.autoscaling.minReplicas) 1 -}}true{{- end -}}
{{- else if gt (int .Values.gateway.replicas) 1 -}}true{{- end -}}
{{- end -}}

{{/* RATEKEEPER_UPSTREAM_KEY_<NAME>: the upstream name upper-cased, dashes as underscores (as the sidecar reads it). */}}
{{- define "ratekeeper.upstreamKeyVariable" -}}
{{- printf "RATEKEEPER_UPSTREAM_KEY_%s" (. | upper | replace "-" "_") -}}
{{- end -}}
