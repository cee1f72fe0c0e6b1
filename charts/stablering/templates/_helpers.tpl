{{/*
The chart name, or nameOverride.
*/}}
{{- define "stablering.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The name prefix of the release's resources: fullnameOverride, or the release name followed by the
chart name unless the release name already contains it.
*/}}
{{- define "stablering.fullname" -}}
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

{{/*
The name of a component's resources: (dict "root" $ "component" "manager"). The prefix is cut so
that the longest name, the Service <prefix>-gateway-admin, fits in 63 characters.
*/}}
{{- define "stablering.componentName" -}}
{{- printf "%s-%s" (include "stablering.fullname" .root | trunc 49 | trimSuffix "-") .component }}
{{- end }}

{{- define "stablering.managerName" -}}
{{- include "stablering.componentName" (dict "root" . "component" "manager") }}
{{- end }}

{{- define "stablering.gatewayName" -}}
{{- include "stablering.componentName" (dict "root" . "component" "gateway") }}
{{- end }}

{{/*
chart name and version, for the helm.sh/chart label.
*/}}
{{- define "stablering.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The standard labels of every resource.
*/}}
{{- define "stablering.labels" -}}
helm.sh/chart: {{ include "stablering.chart" . }}
{{ include "stablering.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stablering
{{- end }}

{{/*
The labels that select the release's pods.
*/}}
{{- define "stablering.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stablering.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of a component: (dict "root" $ "component" "gateway").
*/}}
{{- define "stablering.componentLabels" -}}
{{ include "stablering.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "stablering.componentSelectorLabels" -}}
{{ include "stablering.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
The ServiceAccount names.
*/}}
{{- define "stablering.managerServiceAccountName" -}}
{{- if .Values.manager.serviceAccount.create }}
{{- default (include "stablering.managerName" .) .Values.manager.serviceAccount.name }}
{{- else }}
{{- required "manager.serviceAccount.name is required when manager.serviceAccount.create is false" .Values.manager.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "stablering.gatewayServiceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create }}
{{- default (include "stablering.gatewayName" .) .Values.gateway.serviceAccount.name }}
{{- else }}
{{- required "gateway.serviceAccount.name is required when gateway.serviceAccount.create is false" .Values.gateway.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
A container image reference, by digest when image.digest is set, else by tag (default the
chart's appVersion): (dict "image" .Values.manager.image "root" $).
*/}}
{{- define "stablering.image" -}}
{{- if .image.digest }}
{{- printf "%s@%s" .image.repository .image.digest }}
{{- else }}
{{- printf "%s:%s" .image.repository (.image.tag | default .root.Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The pod spec fields that both components share: pull secrets, security context and scheduling.
Takes (dict "root" $ "values" .Values.manager).
*/}}
{{- define "stablering.podCommon" -}}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .root.Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The rules of an RBAC manifest in files/ (a copy of config/rbac that `make manifests` keeps up to
date), so the chart grants exactly what controller-gen generated from the controller's markers.
*/}}
{{- define "stablering.rulesFrom" -}}
{{- $role := .Files.Get .file | fromYaml }}
{{- if not $role.rules }}
{{- fail (printf "%s has no rules" .file) }}
{{- end }}
{{- toYaml $role.rules }}
{{- end }}

{{/*
A Prometheus Operator ServiceMonitor that scrapes /metrics from the port named port of the
component's Service labelled stablering.io/service: <service>. Takes (dict "root" $ "component"
"gateway" "service" "admin" "port" "admin" "values" .Values.gateway.serviceMonitor).
*/}}
{{- define "stablering.serviceMonitor" -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "stablering.componentName" (dict "root" .root "component" .component) }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "stablering.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
    {{- with .values.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "stablering.componentSelectorLabels" (dict "root" .root "component" .component) | nindent 6 }}
      stablering.io/service: {{ .service }}
  namespaceSelector:
    matchNames:
      - {{ .root.Release.Namespace }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      interval: {{ .values.interval }}
      scrapeTimeout: {{ .values.scrapeTimeout }}
{{- end }}
