#!/usr/bin/env bash
# Writes a kustomization that applies manifests/base to the local control plane as it is, adding only what a
# cluster would provide: the CA of the local serving certificate in the APIServices, and the route to the local
# server processes (EndpointSlices naming this machine's address and each replica's port, or, without an
# address, an ExternalName Service to localhost).
# Usage: hack/local-manifests.sh <output dir> <host IPv4 or ""> <ca.crt> <replica>...
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1 host_ip=$2 ca=$3; shift 3
mkdir -p "$out"
base=$(realpath --relative-to="$out" "$ROOT/manifests/base")
ca_bundle=$(base64 -w0 "$ca")

{
  echo "# Written by hack/local-manifests.sh for this control plane; hack/up.sh applies it."
  echo "apiVersion: kustomize.config.k8s.io/v1beta1"
  echo "kind: Kustomization"
  echo "resources: [$base${host_ip:+, routing.yaml}]"
  echo "patches:"
  echo "- target: {group: apiregistration.k8s.io, kind: APIService}"
  echo "  patch: '[{\"op\": \"add\", \"path\": \"/spec/caBundle\", \"value\": \"$ca_bundle\"}]'"
  if [[ -z $host_ip ]]; then
    # The aggregator dials an ExternalName Service's name at the APIService's port.
    echo "- target: {group: apiregistration.k8s.io, kind: APIService}"
    echo "  patch: '[{\"op\": \"replace\", \"path\": \"/spec/service/port\", \"value\": $API_PORT}]'"
    echo "- target: {kind: Service, name: cozystack-api}"
    echo "  patch: '{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"cozystack-api\", \"namespace\": \"cozy-system\"}, \"spec\": {\"type\": \"ExternalName\", \"externalName\": \"localhost\", \"selector\": null}}'"
  fi
} > "$out/kustomization.yaml"

if [[ -n $host_ip ]]; then
  for r in "$@"; do
    cat <<S
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $r-local
  namespace: cozy-system
  labels: {kubernetes.io/service-name: cozystack-api, endpointslice.kubernetes.io/managed-by: local.hack.cozystack.io}
addressType: IPv4
endpoints: [{addresses: ["$host_ip"], conditions: {ready: true}}]
ports: [{name: https, port: $(api_port "$r"), protocol: TCP}]
S
  done > "$out/routing.yaml"
fi
