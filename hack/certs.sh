#!/usr/bin/env bash
# Generates every certificate the local control plane needs into the folder given as $1 (idempotent).
#   ca            cluster CA: kube-apiserver serving, admin and component client certs, cozystack-api serving
#   front-proxy-ca / front-proxy-client   what the aggregator presents to cozystack-api
#   sa.key/sa.pub service-account signing keys
set -euo pipefail
dir=$1
mkdir -p "$dir" && cd "$dir"
[[ -f .complete ]] && exit 0
command -v openssl >/dev/null || { echo "[certs] ERROR: openssl is not installed" >&2; exit 1; }

days=3650
ca() { # name subject
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.crt" \
    -days $days -subj "/CN=$2" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}
leaf() { # name ca subject usage [sans]
  local name=$1 ca=$2 subj=$3 usage=$4 sans=${5:-}
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subj" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [[ -n $sans ]] && echo "subjectAltName=$sans"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$ca.crt" -CAkey "$ca.key" -CAcreateserial -out "$name.crt" -days $days \
    -extfile "$name.ext" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

ca ca cozy-local-ca
ca front-proxy-ca cozy-local-front-proxy-ca
leaf apiserver ca "/CN=kube-apiserver" serverAuth "DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:127.0.0.1,IP:10.0.0.1"
leaf admin ca "/O=system:masters/CN=admin" clientAuth
# Local only: the controllers run with this identity instead of per-controller service accounts.
leaf controller-manager ca "/O=system:masters/CN=system:kube-controller-manager" clientAuth
leaf cozystack-api ca "/CN=cozystack-api.cozy-system.svc" serverAuth "DNS:cozystack-api.cozy-system.svc,DNS:cozystack-api.cozy-system.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
leaf front-proxy-client front-proxy-ca "/CN=front-proxy-client" clientAuth
openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
chmod 600 ./*.key
touch .complete
