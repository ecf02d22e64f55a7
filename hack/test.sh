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
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
STATE=$(mktemp -d /tmp/cozy-test.XXXXXX)
export COZY_STATE_DIR=$STATE COZY_API_BIN=$ROOT/target/debug/cozystack-api
export COZY_ETCD_PORT=$(free_port) COZY_ETCD_PEER_PORT=$(free_port) COZY_APISERVER_PORT=$(free_port) COZY_API_PORT=$(free_port)
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
