#!/usr/bin/env bash
# Benchmarks cozystack-api side by side with the ceiling (kube-apiserver serving the same objects as a CRD, the
# backing HelmReleases, and etcd) on the local control plane, and writes docs/benchmarks.md and
# docs/benchmarks-latency.svg. See docs/benchmarks.md for what is measured.
#
#   hack/bench.sh [N...] [options]     default N: 1000 10000 (30000 works too); options: hack/bench.sh --help
#
# COZY_BENCH_FANOUT=1 also runs bench_watch afterwards (1 and 1,000 watchers; COZY_BENCH_WATCHERS and
# COZY_BENCH_EVENTS change that), which writes the "Watch fan-out" section with the memory per watcher.
#
# Uses the control plane of hack/up.sh if it runs (COZY_STATE_DIR, default .local, and the other settings of
# hack/lib.sh); otherwise starts one and stops it at the end. Builds cozystack-api and the benchmark in release
# mode; COZY_BENCH_PROFILE=debug builds debug binaries instead (CI's quick run, numbers meaningless).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Prerequisites first, so that a missing tool stops the run at once rather than deep in a build.
for a in "$@"; do [[ $a == -h || $a == --help ]] && HELP=1; done
if [[ -z ${PROTOC:-} ]] && ! command -v protoc >/dev/null; then
  die "protoc is missing: the benchmark's etcd client compiles etcd's protos. Install it as .ci/run does
  (apt-get install -y protobuf-compiler), or point PROTOC at a protoc binary."
fi
if [[ -z ${HELP:-} ]] && ! { pid_alive kube-apiserver && pid_alive cozystack-api; }; then
  command -v go >/dev/null || die "Go 1.26+ is missing: hack/install.sh builds the control plane (etcd, kube-apiserver,
  kube-controller-manager, kubectl) from Go modules; install Go, or start a control plane with hack/up.sh first."
  say "checking the control plane binaries (hack/install.sh; a cold build takes 15-30 minutes)"
  "$ROOT/hack/install.sh" >/dev/null || die "hack/install.sh could not build the control plane binaries"
fi

PROFILE=${COZY_BENCH_PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
case $PROFILE in
  release) CARGO_PROFILE=(--release) ;;
  debug) CARGO_PROFILE=() ;;
  *) die "COZY_BENCH_PROFILE must be release or debug, not $PROFILE" ;;
esac
say "building the benchmark ($PROFILE)"
nice cargo build "${CARGO_PROFILE[@]}" -p bench >&2
BENCH=$TARGET/$PROFILE/cozystack-bench
[[ -n ${HELP:-} ]] && exec "$BENCH" --help

if pid_alive kube-apiserver && pid_alive cozystack-api; then
  say "using the running control plane in $STATE"
else
  if [[ -z ${COZY_API_BIN:-} ]]; then
    say "building cozystack-api ($PROFILE)"
    nice cargo build "${CARGO_PROFILE[@]}" --bin cozystack-api >&2
    export COZY_API_BIN=$TARGET/$PROFILE/cozystack-api
  fi
  say "starting a control plane in $STATE"
  trap '"$ROOT/hack/down.sh" || true' EXIT
  # No helm-controller: installing thousands of releases would be measured along with the server.
  COZY_HELM_CONTROLLER=${COZY_HELM_CONTROLLER:-0} "$ROOT/hack/up.sh" >/dev/null
fi
"$BENCH" --state "$STATE" "$@"
if [[ ${COZY_BENCH_FANOUT:-0} == 1 ]]; then
  say "watch fan-out (bench_watch)"
  COZY_E2E_STATE_DIR=$STATE "$TARGET/$PROFILE/bench_watch" \
    --plane "the control plane of the run in \"Results\", right after it (\`COZY_BENCH_FANOUT=1\`), after its apps were deleted (what the allocator kept of that run is in \"RSS before\")"
fi
