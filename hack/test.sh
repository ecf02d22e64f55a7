#!/usr/bin/env bash
# Runs every test: unit and property tests of all crates, then the end-to-end tests against one real control
# plane (started here on free ports, in its own folder, and stopped at the end, whatever happens).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
say() { printf '[test] %s\n' "$*" >&2; }
source "$ROOT/hack/lib.sh"

"$ROOT/hack/install.sh" >/dev/null
say "building"
cargo build --bins

say "unit tests"
cargo test --workspace --exclude e2e

free_port() {
  local p
  while :; do
    p=$((10000 + RANDOM % 22000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
STATE=$(mktemp -d /tmp/cozy-test.XXXXXX)
export COZY_STATE_DIR=$STATE COZY_API_BIN=$ROOT/target/debug/cozystack-api
export COZY_ETCD_PORT=$(free_port) COZY_ETCD_PEER_PORT=$(free_port) COZY_APISERVER_PORT=$(free_port) COZY_API_PORT=$(free_port)
# helm-controller reconciles only the releases of the full-chain test (tests/tests/full_chain.rs labels its apps):
# the other tests check HelmReleases as the server writes them and count their watch events exactly.
export COZY_CHARTS_PORT=$(free_port) COZY_HELM_CONTROLLER_SELECTOR=apps.cozystack.io-e2e-full-chain=true
cleanup() {
  local pids
  pids=$(cat "$STATE"/pids/*.pid 2>/dev/null || true)
  "$ROOT/hack/down.sh" || true
  for p in $pids; do
    if process_alive "$p"; then say "ERROR: process $p survived hack/down.sh"; exit 1; fi
  done
  rm -rf "$STATE"
}
trap cleanup EXIT
say "starting the control plane in $STATE"
"$ROOT/hack/up.sh" >/dev/null

say "end-to-end tests"
COZY_E2E_STATE_DIR=$STATE cargo test -p e2e -- --test-threads=4

say "the server's ClusterRole against kube-apiserver's audit log of that run"
"$ROOT/hack/rbac-audit.sh"

# Short forms of the reliability runs (docs/reliability.md has the long ones): a few hundred writes across SIGKILLs
# of etcd, kube-apiserver and cozystack-api, checked by the Jepsen-style checker; then fuzzed requests.
say "fault harness (short form)"
"$ROOT/hack/chaos.sh" --seed "${COZY_CHAOS_SEED:-$RANDOM}" --ops 400 --kills 2
say "fuzzing the live server (short form)"
"$ROOT/hack/fuzz.sh" --seed "${COZY_FUZZ_SEED:-$RANDOM}" --inputs 3000

# The server is stateless: three replicas behind one APIService, the aggregator picking one per request, must
# behave as one server.
say "restarting with three replicas"
"$ROOT/hack/down.sh" >/dev/null
while :; do
  COZY_API_PORT=$(free_port)
  ! port_in_use $((COZY_API_PORT + 1)) && ! port_in_use $((COZY_API_PORT + 2)) && break
done
export COZY_API_PORT COZY_API_REPLICAS=3
"$ROOT/hack/up.sh" >/dev/null
say "end-to-end tests of applications, watches and tenants against three replicas"
COZY_E2E_STATE_DIR=$STATE cargo test -p e2e --test applications --test watch --test tenants -- --test-threads=4
for port in $COZY_API_PORT $((COZY_API_PORT + 1)) $((COZY_API_PORT + 2)); do
  served=$(curl -sf --cacert "$STATE/certs/ca.crt" --cert "$STATE/certs/admin.crt" --key "$STATE/certs/admin.key" "https://127.0.0.1:$port/metrics" |
    awk '/^apiserver_request_total\{/ && /resource="(postgreses|tenants|redises)"/ { n += $NF } END { print n + 0 }')
  ((served > 0)) || { say "ERROR: the replica on port $port served no application request"; exit 1; }
  say "the replica on port $port served $served application requests"
done
