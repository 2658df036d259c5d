{{/* Object name prefix: <release>-clarus-operator, shortened to 63 characters. */}}
{{- define "clarus.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "clarus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "clarus.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clarus.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "clarus.labels" -}}
{{ include "clarus.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: clarus
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "clarus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "clarus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "clarus.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "clarus.proxyImage" -}}
{{- $repo := default .Values.image.repository .Values.proxyImage.repository -}}
{{- $tag := default (default .Chart.AppVersion .Values.image.tag) .Values.proxyImage.tag -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}

{{- define "clarus.webhookName" -}}
{{- include "clarus.fullname" . -}}
{{- end -}}

{{- define "clarus.webhookSecret" -}}
{{- printf "%s-webhook-tls" (include "clarus.fullname" .) -}}
{{- end -}}

{{- define "clarus.leaseName" -}}
{{- default (include "clarus.fullname" .) .Values.operator.leaderElection.leaseName -}}
{{- end -}}
