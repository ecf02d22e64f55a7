{{/* The tenant's namespace: tenant-root for the root tenant, tenant-<n> under tenant-root, <ns>-<n> below. */}}
{{- define "tenant.namespace" -}}
{{- if not (and (hasPrefix "tenant-" .Release.Name) (hasPrefix "tenant-" .Release.Namespace)) -}}
{{- fail "a tenant release is named tenant-<name> and lives in a tenant-* namespace" -}}
{{- end -}}
{{- if eq .Release.Namespace "tenant-root" -}}
{{- .Release.Name -}}
{{- else -}}
{{- printf "%s-%s" .Release.Namespace (trimPrefix "tenant-" .Release.Name) -}}
{{- end -}}
{{- end -}}
