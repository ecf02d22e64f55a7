apiVersion: v1
kind: Namespace
metadata: {name: cozy-system}
---
# No kube-proxy runs locally: an ExternalName Service makes the aggregator dial localhost:<port> directly.
apiVersion: v1
kind: Service
metadata: {name: cozystack-api, namespace: cozy-system}
spec: {type: ExternalName, externalName: localhost}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.apps.cozystack.io}
spec:
  group: apps.cozystack.io
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {namespace: cozy-system, name: cozystack-api, port: @PORT@}
  caBundle: @CA_BUNDLE@
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.core.cozystack.io}
spec:
  group: core.cozystack.io
  version: v1alpha1
  groupPriorityMinimum: 1000
  versionPriority: 15
  service: {namespace: cozy-system, name: cozystack-api, port: @PORT@}
  caBundle: @CA_BUNDLE@
