{{/* Chart name. */}}
{{- define "dpo.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: release + chart, unless the release name already holds the chart name. */}}
{{- define "dpo.fullname" -}}
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

{{- define "dpo.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the operator's pods (never change them: selectors are immutable). */}}
{{- define "dpo.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dpo.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dpo.labels" -}}
helm.sh/chart: {{ include "dpo.chart" . }}
{{ include "dpo.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: dataproduct-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "dpo.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dpo.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* repository:tag or repository@digest. */}}
{{- define "dpo.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge of maps: include "dpo.merge" (dict "dst" $a "src" $b) sets every key of $b into $a,
recursing where both sides are maps. Unlike sprig's mergeOverwrite, false, 0 and "" in $b do
override $a (so `versioning: false` works). Lists replace lists.
*/}}
{{- define "dpo.merge" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "dpo.merge" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k (deepCopy $v) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Refuses RBAC wildcards in user-supplied rules. */}}
{{- define "dpo.noWildcards" -}}
{{- range $i, $rule := . -}}
{{- range $field := list "apiGroups" "resources" "verbs" "resourceNames" "nonResourceURLs" -}}
{{- range (get $rule $field | default list) -}}
{{- if contains "*" (toString .) -}}
{{- fail (printf "rbac.extraRules[%d].%s contains a wildcard (%q): list the exact groups, resources and verbs" $i $field .) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not (and (hasKey $rule "apiGroups") $rule.resources $rule.verbs) -}}
{{- fail (printf "rbac.extraRules[%d] needs apiGroups, resources and verbs" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The catalogue's pods: a name of their own, so no operator selector (Service, PDB) picks them. */}}
{{- define "dpo.catalogue.fullname" -}}
{{- printf "%s-catalogue" (include "dpo.fullname" . | trunc 53 | trimSuffix "-") -}}
{{- end -}}

{{- define "dpo.catalogue.selectorLabels" -}}
app.kubernetes.io/name: {{ printf "%s-catalogue" (include "dpo.name" . | trunc 53 | trimSuffix "-") }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "dpo.catalogue.labels" -}}
helm.sh/chart: {{ include "dpo.chart" . }}
{{ include "dpo.catalogue.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: catalogue
app.kubernetes.io/part-of: dataproduct-operator
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}
