{{/* Names, labels and the pieces several templates share. */}}

{{- define "loki-guard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "loki-guard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "loki-guard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loki-guard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "loki-guard.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "loki-guard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
{{- end }}

{{- define "loki-guard.serviceAccountName" -}}
{{- default (include "loki-guard.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "loki-guard.tlsSecretName" -}}
{{- if eq .Values.certificates.mode "existingSecret" }}
{{- .Values.certificates.existingSecret.name }}
{{- else }}
{{- printf "%s-tls" (include "loki-guard.fullname" .) }}
{{- end }}
{{- end }}

{{- define "loki-guard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The agent LabelSelector in kubectl syntax for the policy config
("app=loki-mode,tier in (a,b),!legacy"): one source of truth for the config's
`selector` and the webhooks' objectSelector.
*/}}
{{- define "loki-guard.selectorString" -}}
{{- $parts := list }}
{{- range $k, $v := (.matchLabels | default dict) }}
{{- $parts = append $parts (printf "%s=%s" $k $v) }}
{{- end }}
{{- range (.matchExpressions | default list) }}
{{- if eq .operator "In" }}
{{- $parts = append $parts (printf "%s in (%s)" .key (join "," .values)) }}
{{- else if eq .operator "NotIn" }}
{{- $parts = append $parts (printf "%s notin (%s)" .key (join "," .values)) }}
{{- else if eq .operator "Exists" }}
{{- $parts = append $parts .key }}
{{- else if eq .operator "DoesNotExist" }}
{{- $parts = append $parts (printf "!%s" .key) }}
{{- else }}
{{- fail (printf "policy.agentSelector.matchExpressions: operator %q of key %q is not one of In, NotIn, Exists, DoesNotExist" .operator .key) }}
{{- end }}
{{- end }}
{{- join "," $parts }}
{{- end }}

{{/* Namespaces the webhooks never see: the release's own and webhook.excludeNamespaces. */}}
{{- define "loki-guard.excludedNamespaces" -}}
{{- $ns := list .Release.Namespace }}
{{- range .Values.webhook.excludeNamespaces }}{{ if not (has . $ns) }}{{ $ns = append $ns . }}{{ end }}{{ end }}
{{- toJson $ns }}
{{- end }}

{{/*
namespaceSelector of every webhook: the protected-namespace selector plus an
exclusion of the release namespace and kube-system by their immutable
kubernetes.io/metadata.name label (set by the API server since 1.21).
*/}}
{{- define "loki-guard.namespaceSelector" -}}
{{- $sel := deepCopy (.Values.webhook.namespaceSelector | default dict) }}
{{- $exprs := $sel.matchExpressions | default list }}
{{- $exprs = append $exprs (dict "key" "kubernetes.io/metadata.name" "operator" "NotIn" "values" (include "loki-guard.excludedNamespaces" . | fromJsonArray)) }}
{{- $_ := set $sel "matchExpressions" $exprs }}
{{- toYaml $sel }}
{{- end }}

{{/* clientConfig for one webhook path. */}}
{{- define "loki-guard.clientConfig" -}}
{{- $root := index . 0 }}{{ $path := index . 1 }}{{ $caBundle := index . 2 }}
{{- if $root.Values.webhook.url }}
url: {{ printf "%s%s" (trimSuffix "/" $root.Values.webhook.url) $path | quote }}
{{- else }}
service:
  name: {{ include "loki-guard.fullname" $root }}
  namespace: {{ $root.Release.Namespace }}
  path: {{ $path }}
  port: 443
{{- end }}
{{- if ne $root.Values.certificates.mode "certManager" }}
caBundle: {{ $caBundle }}
{{- end }}
{{- end }}

{{/* Webhook-configuration annotations: cert-manager's cainjector fills caBundle. */}}
{{- define "loki-guard.webhookAnnotations" -}}
{{- if eq .Values.certificates.mode "certManager" }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "loki-guard.fullname" .) }}
{{- end }}
{{- end }}
