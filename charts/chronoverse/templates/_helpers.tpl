{{/* Names and labels. */}}
{{- define "chronoverse.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "chronoverse.fullname" -}}
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

{{- define "chronoverse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "chronoverse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: chronoverse
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "users"). */}}
{{- define "chronoverse.selectorLabels" -}}
app.kubernetes.io/name: {{ include "chronoverse.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels every pod of the release carries (NetworkPolicy selectors). */}}
{{- define "chronoverse.releaseSelector" -}}
app.kubernetes.io/name: {{ include "chronoverse.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "chronoverse.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "chronoverse.authSecret" -}}
{{- default (printf "%s-auth" (include "chronoverse.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* true when the bundled Postgres is used. */}}
{{- define "chronoverse.bundledPostgres" -}}
{{- if and .Values.postgres.bundled.enabled (not .Values.postgres.external.url) (not .Values.postgres.external.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* The Secret name and key holding DATABASE_URL. */}}
{{- define "chronoverse.databaseSecretName" -}}
{{- if .Values.postgres.external.existingSecret -}}
{{- .Values.postgres.external.existingSecret -}}
{{- else if .Values.postgres.external.url -}}
{{- printf "%s-database" (include "chronoverse.fullname" .) -}}
{{- else if .Values.postgres.bundled.enabled -}}
{{- printf "%s-postgres" (include "chronoverse.fullname" .) -}}
{{- else -}}
{{- fail "no database: set postgres.external.url, postgres.external.existingSecret, or postgres.bundled.enabled=true" -}}
{{- end -}}
{{- end -}}

{{- define "chronoverse.databaseSecretKey" -}}
{{- if .Values.postgres.external.existingSecret -}}
{{- .Values.postgres.external.existingSecretKey -}}
{{- else -}}
url
{{- end -}}
{{- end -}}

{{/* Environment every Chronoverse process gets. */}}
{{- define "chronoverse.commonEnv" -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
- name: CHRONOVERSE_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CHRONOVERSE_ALLOW_PRIVATE_HEARTBEATS
  value: {{ .Values.allowPrivateHeartbeats | quote }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "chronoverse.databaseSecretName" . }}
      key: {{ include "chronoverse.databaseSecretKey" . }}
- name: DATABASE_MAX_CONNECTIONS
  value: {{ .Values.databaseMaxConnections | quote }}
- name: CHRONOVERSE_USER_TOKEN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "chronoverse.authSecret" . }}
      key: user-token-key
- name: CHRONOVERSE_SERVICE_TOKEN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "chronoverse.authSecret" . }}
      key: service-token-key
- name: CHRONOVERSE_USER_TOKEN_TTL
  value: {{ .Values.auth.userTokenTTL | quote }}
- name: CHRONOVERSE_SERVICE_TOKEN_TTL
  value: {{ .Values.auth.serviceTokenTTL | quote }}
{{- $root := . }}
{{- range $name, $svc := .Values.services }}
- name: CHRONOVERSE_{{ upper $name }}_ADDRESS
  value: {{ printf "%s-%s.%s.svc:%d" (include "chronoverse.fullname" $root) $name $root.Release.Namespace (int $svc.port) | quote }}
{{- end }}
{{- if .Values.tls.enabled }}
- name: CHRONOVERSE_TLS_CERT_FILE
  value: /etc/chronoverse/tls/tls.crt
- name: CHRONOVERSE_TLS_KEY_FILE
  value: /etc/chronoverse/tls/tls.key
- name: CHRONOVERSE_TLS_CA_FILE
  value: /etc/chronoverse/tls/ca.crt
- name: CHRONOVERSE_TLS_CLIENT_AUTH
  value: {{ .Values.tls.clientAuth | quote }}
{{- end }}
{{- end -}}

{{/* The quotas and limits a service enforces (values `limits`), on that service only. */}}
{{- define "chronoverse.limitsEnv" -}}
{{- $l := .root.Values.limits -}}
{{- if eq .name "users" -}}
- name: CHRONOVERSE_AUTH_ATTEMPTS_PER_EMAIL
  value: {{ $l.authAttemptsPerEmail | quote }}
- name: CHRONOVERSE_AUTH_ATTEMPTS_PER_ADDRESS
  value: {{ $l.authAttemptsPerAddress | quote }}
- name: CHRONOVERSE_AUTH_RATE_WINDOW
  value: {{ $l.authRateWindow | quote }}
{{- else if eq .name "workflows" -}}
- name: CHRONOVERSE_MAX_WORKFLOWS_PER_USER
  value: {{ $l.workflowsPerUser | quote }}
{{- else if eq .name "jobs" -}}
- name: CHRONOVERSE_MAX_MANUAL_RUNS_PER_WORKFLOW
  value: {{ $l.manualRunsPerWorkflow | quote }}
- name: CHRONOVERSE_MAX_LOG_STREAMS_PER_USER
  value: {{ $l.logStreamsPerUser | quote }}
- name: CHRONOVERSE_LOG_STREAM_MAX_DURATION
  value: {{ $l.logStreamMaxDuration | quote }}
- name: CHRONOVERSE_LOG_STREAM_IDLE_TIMEOUT
  value: {{ $l.logStreamIdleTimeout | quote }}
{{- end -}}
{{- end -}}

{{- define "chronoverse.tlsCheck" -}}
{{- if and .Values.tls.enabled (not .Values.tls.secretName) -}}
{{- fail "tls.enabled needs tls.secretName (a Secret with tls.crt, tls.key and ca.crt)" -}}
{{- end -}}
{{- if not (has .Values.tls.clientAuth (list "none" "require")) -}}
{{- fail "tls.clientAuth must be none or require" -}}
{{- end -}}
{{- end -}}

{{/* Volumes and mounts every Chronoverse pod has: a writable /tmp, TLS. */}}
{{- define "chronoverse.volumes" -}}
- name: tmp
  emptyDir: { sizeLimit: 64Mi }
{{- if .Values.tls.enabled }}
- name: tls
  secret:
    secretName: {{ .Values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "chronoverse.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.tls.enabled }}
- name: tls
  mountPath: /etc/chronoverse/tls
  readOnly: true
{{- end }}
{{- end -}}

{{- define "chronoverse.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
