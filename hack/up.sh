#!/usr/bin/env bash
# Brings up a local control plane (etcd, kube-apiserver, kube-controller-manager) on loopback, loads the fixture
# CRDs and ApplicationDefinitions, applies manifests/base and runs cozystack-api from it (as its ServiceAccount,
# COZY_API_REPLICAS replicas) behind the aggregator, then Flux's helm-controller with the test charts, and prints
# how to use it. Settings: see hack/lib.sh. Stop it with hack/down.sh.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if pid_alive kube-apiserver && pid_alive cozystack-api; then
  say "already running from $STATE (kube-apiserver https://127.0.0.1:$APISERVER_PORT, cozystack-api https://127.0.0.1:$API_PORT)"
  echo "export KUBECONFIG=$KUBECONFIG_FILE"
  exit 0
fi
REPLICAS=($(api_replicas))
for c in "${COMPONENTS[@]}" "${REPLICAS[@]}"; do
  pid_alive "$c" && die "$c from an earlier run is still running but the setup is incomplete; run hack/down.sh first"
done
for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "$APISERVER_PORT" $(for r in "${REPLICAS[@]}"; do api_port "$r"; done) $( ((HELM_CONTROLLER)) && echo "$CHARTS_PORT"); do
  port_in_use "$p" && die "port $p on 127.0.0.1 is already in use; stop what holds it or choose other ports (see hack/lib.sh)"
done
# The aggregator reaches the server through the Service's EndpointSlices, as in a cluster, picking a replica per
# request; endpoints may not be loopback addresses, so they name this machine's own. Without such an address
# one replica is reached through an ExternalName Service (localhost) instead.
HOST_IP=${COZY_HOST_IP-$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+){3}$' | grep -v '^127\.' | head -n 1 || true)}
if [[ -z $HOST_IP ]] && ((API_REPLICAS > 1)); then
  die "COZY_API_REPLICAS=$API_REPLICAS needs a non-loopback IPv4 address for the replicas' endpoints (set COZY_HOST_IP)"
fi

BIN=$("$ROOT/hack/install.sh" | tail -n 1)
KUBECTL=$BIN/kubectl
if [[ -z ${COZY_API_BIN:-} ]]; then
  say "building cozystack-api (release)"
  (cd "$ROOT" && cargo build --release --bin cozystack-api) >&2
  COZY_API_BIN=$ROOT/target/release/cozystack-api
fi
[[ -x $COZY_API_BIN ]] || die "cozystack-api binary $COZY_API_BIN not found"

mkdir -p "$PIDS" "$LOGS"
"$ROOT/hack/certs.sh" "$CERTS"
# What a test harness needs to find this setup again.
cat > "$STATE/env" <<E
APISERVER_PORT=$APISERVER_PORT
API_PORT=$API_PORT
ETCD_PORT=$ETCD_PORT
API_REPLICAS=$API_REPLICAS
KUBECTL=$KUBECTL
E

kubeconfig() { # file user cert
  cat > "$1" <<K
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$CERTS/ca.crt"}}]
users: [{name: $2, user: {client-certificate: "$CERTS/$3.crt", client-key: "$CERTS/$3.key"}}]
contexts: [{name: local, context: {cluster: local, user: $2}}]
current-context: local
K
}
kubeconfig "$KUBECONFIG_FILE" admin admin
kubeconfig "$STATE/controller-manager.kubeconfig" kube-controller-manager controller-manager

start() { # name command...
  local name=$1; shift
  say "starting $name"
  # Recorded so that hack/restart.sh can start it again exactly so.
  mkdir -p "$STATE/cmdline" && printf '%q ' "$@" > "$STATE/cmdline/$name"
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/$name.pid"
}
wait_for() { # name description command...
  local name=$1 what=$2; shift 2
  for _ in $(seq 1 240); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    pid_alive "$name" || { log_tail "$name"; die "$name exited before it became $what"; }
    sleep 0.5
  done
  log_tail "$name"; die "$name did not become $what within 120 s"
}
K() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

start etcd "$BIN/etcd" --name=default --data-dir="$STATE/etcd" \
  --listen-client-urls="http://127.0.0.1:$ETCD_PORT" --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
  --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
  --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" --unsafe-no-fsync --listen-metrics-urls="" \
  --log-level=warn
wait_for etcd healthy curl -sf "http://127.0.0.1:$ETCD_PORT/health"

# kube-apiserver's audit log records what the server's ServiceAccount does (hack/rbac-audit.sh reads it).
cat > "$STATE/audit-policy.yaml" <<'A'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  users: ["system:serviceaccount:cozy-system:cozystack-api"]
- level: None
A
start kube-apiserver "$BIN/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
  --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
  --tls-cert-file="$CERTS/apiserver.crt" --tls-private-key-file="$CERTS/apiserver.key" \
  --client-ca-file="$CERTS/ca.crt" \
  --service-cluster-ip-range=10.0.0.0/24 \
  --authorization-mode=RBAC \
  --service-account-issuer="https://127.0.0.1:$APISERVER_PORT" \
  --service-account-key-file="$CERTS/sa.pub" --service-account-signing-key-file="$CERTS/sa.key" \
  --requestheader-client-ca-file="$CERTS/front-proxy-ca.crt" \
  --requestheader-allowed-names=front-proxy-client \
  --requestheader-username-headers=X-Remote-User \
  --requestheader-group-headers=X-Remote-Group \
  --requestheader-extra-headers-prefix=X-Remote-Extra- \
  --proxy-client-cert-file="$CERTS/front-proxy-client.crt" --proxy-client-key-file="$CERTS/front-proxy-client.key" \
  --disable-admission-plugins=ServiceAccount \
  --allow-privileged=true \
  --endpoint-reconciler-type=none \
  --enable-aggregator-routing="$([[ -n $HOST_IP ]] && echo true || echo false)" \
  --audit-policy-file="$STATE/audit-policy.yaml" --audit-log-path="$LOGS/audit.log"
wait_for kube-apiserver ready K get --raw /readyz

start kube-controller-manager "$BIN/kube-controller-manager" \
  --kubeconfig="$STATE/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$STATE/controller-manager.kubeconfig" --authorization-kubeconfig="$STATE/controller-manager.kubeconfig" \
  --controllers=namespace,garbagecollector,serviceaccount,serviceaccount-token \
  --service-account-private-key-file="$CERTS/sa.key" --root-ca-file="$CERTS/ca.crt" \
  --use-service-account-credentials=false --leader-elect=false --bind-address=127.0.0.1 --secure-port=0

say "loading CRDs and ApplicationDefinitions"
FIX=${COZY_FIXTURES:-$ROOT/tests/fixtures}
[[ -d $FIX ]] || die "fixtures not found at $FIX (set COZY_FIXTURES)"
K apply -f "$FIX/crds" >/dev/null
for crd in $(K get crd -o name); do K wait --for=condition=Established --timeout=60s "$crd" >/dev/null; done
K apply -f "$FIX/application-definitions" -f "$ROOT/hack/manifests/tenant-root.yaml" >/dev/null
# Cozystack's own admission policies, as a Cozystack cluster has them; cozystack-api runs them for its resources.
K apply -f "$FIX/admission" >/dev/null

say "applying manifests/ (local routing and CA)"
"$ROOT/hack/local-manifests.sh" "$STATE/manifests" "$HOST_IP" "$CERTS/ca.crt" "${REPLICAS[@]}"
K apply -k "$STATE/manifests" >/dev/null
# The server runs as its ServiceAccount, with the manifests' ClusterRole, as in a cluster.
cat > "$STATE/cozystack-api.kubeconfig" <<K
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: "$CERTS/ca.crt"}}]
users: [{name: cozystack-api, user: {token: "$(K create token cozystack-api -n cozy-system --duration=720h)"}}]
contexts: [{name: local, context: {cluster: local, user: cozystack-api}}]
current-context: local
K

# As manifests/base/deployment.yaml runs it: the allocator returns freed pages at once (docs/benchmarks.md, Memory).
for r in "${REPLICAS[@]}"; do
  start "$r" env MIMALLOC_PURGE_DELAY=0 "$COZY_API_BIN" \
    --bind-address="$([[ -n $HOST_IP ]] && echo 0.0.0.0 || echo 127.0.0.1)" --secure-port="$(api_port "$r")" \
    --tls-cert-file="$CERTS/cozystack-api.crt" --tls-private-key-file="$CERTS/cozystack-api.key" \
    --kubeconfig="$STATE/cozystack-api.kubeconfig" ${COZY_API_ARGS:-}
done
for r in "${REPLICAS[@]}"; do wait_for "$r" ready curl -sf --cacert "$CERTS/ca.crt" "https://127.0.0.1:$(api_port "$r")/readyz"; done
wait_for cozystack-api "Available behind the aggregator" \
  K wait --for=condition=Available --timeout=5s apiservice/v1alpha1.apps.cozystack.io apiservice/v1alpha1.core.cozystack.io \
    apiservice/v1alpha1.sdn.cozystack.io

if ((HELM_CONTROLLER)); then
  # Flux's helm-controller turns the HelmReleases into what the test charts render, as in a cluster.
  "$ROOT/hack/charts.sh"
  start helm-controller env KUBECONFIG="$KUBECONFIG_FILE" "$BIN/helm-controller" \
    --enable-leader-election=false --watch-all-namespaces=true --feature-gates=ExternalArtifact=true \
    --watch-label-selector="$HELM_CONTROLLER_SELECTOR" \
    --metrics-addr=0 --health-addr=0 --events-addr= --log-encoding=console
  wait_for helm-controller "reconciling" grep -q 'Starting workers' "$LOGS/helm-controller.log"
fi

say "ready: kube-apiserver https://127.0.0.1:$APISERVER_PORT, cozystack-api https://127.0.0.1:$API_PORT ($API_REPLICAS replica(s)), logs in $LOGS"
say "kubectl is $KUBECTL"
echo "export KUBECONFIG=$KUBECONFIG_FILE"
