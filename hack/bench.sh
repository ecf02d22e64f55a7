#!/usr/bin/env bash
# Benchmarks cozystack-api side by side with the ceiling (kube-apiserver serving the same objects as a CRD, the
# backing HelmReleases, and etcd) on the local control plane, and writes docs/benchmarks.md and
# docs/benchmarks-latency.svg. See docs/benchmarks.md for what is measured.
#
#   hack/bench.sh [N...] [options]     default N: 1000 10000; options: hack/bench.sh --help
#
# Uses the control plane of hack/up.sh if it runs (COZY_STATE_DIR, default .local, and the other settings of
# hack/lib.sh); otherwise starts one and stops it at the end. Builds cozystack-api and the benchmark in release
# mode; COZY_BENCH_PROFILE=debug builds debug binaries instead (CI's quick run, numbers meaningless).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PROFILE=${COZY_BENCH_PROFILE:-release}
case $PROFILE in
  release) CARGO_PROFILE=(--release) ;;
  debug) CARGO_PROFILE=() ;;
  *) die "COZY_BENCH_PROFILE must be release or debug, not $PROFILE" ;;
esac
say "building the benchmark ($PROFILE)"
nice cargo build "${CARGO_PROFILE[@]}" -p bench >&2
BENCH=$ROOT/target/$PROFILE/cozystack-bench
for a in "$@"; do
  [[ $a == -h || $a == --help ]] && exec "$BENCH" --help
done

if pid_alive kube-apiserver && pid_alive cozystack-api; then
  say "using the running control plane in $STATE"
else
  if [[ -z ${COZY_API_BIN:-} ]]; then
    say "building cozystack-api ($PROFILE)"
    nice cargo build "${CARGO_PROFILE[@]}" --bin cozystack-api >&2
    export COZY_API_BIN=$ROOT/target/$PROFILE/cozystack-api
  fi
  say "starting a control plane in $STATE"
  trap '"$ROOT/hack/down.sh" || true' EXIT
  # No helm-controller: installing thousands of releases would be measured along with the server.
  COZY_HELM_CONTROLLER=${COZY_HELM_CONTROLLER:-0} "$ROOT/hack/up.sh" >/dev/null
fi
"$BENCH" --state "$STATE" "$@"
