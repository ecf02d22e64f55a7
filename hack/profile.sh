#!/usr/bin/env bash
# Profiles cozystack-api while the benchmark measures one operation, and writes a flame graph into docs/.
#
#   hack/profile.sh <op> [N] [target]    e.g. hack/profile.sh list-all 1000 direct
#
# op: list-all, list-namespace, get, create, apply or watch (cozystack-bench --ops); N apps (default 1000);
# target: direct (default) or aggregated. Writes docs/flamegraph-<op>.svg (COZY_PROFILE_OUT sets the path).
# Builds cozystack-api, the benchmark and the flame graph writer with the `profiling` cargo profile (release with
# line tables; COZY_PROFILE_CARGO=debug uses debug builds, for trying the script quickly), uses the control plane
# of hack/up.sh if it runs (COZY_STATE_DIR and the other settings of hack/lib.sh), or starts one with that
# binary and stops it at the end. While the benchmark measures, `perf record --call-graph dwarf` samples
# cozystack-api at 499 Hz; `perf script` output is folded and drawn by bench/src/bin/flamegraph.rs.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

[[ $# -ge 1 && $1 != -h && $1 != --help ]] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
OP=$1 N=${2:-1000} TGT=${3:-direct}
OUT=${COZY_PROFILE_OUT:-$ROOT/docs/flamegraph-$OP.svg}
command -v perf >/dev/null || die "perf is missing: apt-get install -y linux-perf (Debian) or linux-tools-\$(uname -r) (Ubuntu)"
[[ -n ${PROTOC:-} ]] || command -v protoc >/dev/null || die "protoc is missing (the benchmark's etcd client needs it): apt-get install -y protobuf-compiler"

PROFILE=${COZY_PROFILE_CARGO:-profiling}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
say "building cozystack-api, the benchmark and the flame graph writer ($PROFILE profile)"
if [[ $PROFILE == debug ]]; then nice cargo build -p apiserver -p bench --bins >&2; else nice cargo build --profile "$PROFILE" -p apiserver -p bench --bins >&2; fi
BIN=$TARGET/$PROFILE

if pid_alive kube-apiserver && pid_alive cozystack-api; then
  say "using the running control plane in $STATE"
  exe=$(readlink "/proc/$(cat "$PIDS/cozystack-api.pid")/exe" || true)
  [[ $exe == "$BIN/cozystack-api" ]] || say "warning: the running cozystack-api is $exe, not $BIN/cozystack-api: frames may lack names or lines"
else
  export COZY_API_BIN=$BIN/cozystack-api
  say "starting a control plane in $STATE"
  trap '"$ROOT/hack/down.sh" || true' EXIT
  COZY_HELM_CONTROLLER=${COZY_HELM_CONTROLLER:-0} "$ROOT/hack/up.sh" >/dev/null
fi
PID=$(cat "$PIDS/cozystack-api.pid")
DATA=$STATE/perf-$OP.data
WORK=$STATE/profile-bench
mkdir -p "$WORK"

say "measuring $OP against $TGT with N=$N while perf records cozystack-api (pid $PID)"
"$BIN/cozystack-bench" --state "$STATE" "$N" --ops "$OP" --targets "$TGT" --out-dir "$WORK" \
  --during "exec perf record --quiet -F 499 --call-graph dwarf,16384 -p $PID -o $DATA 2>$WORK/perf-record.log"
say "folding $(du -h "$DATA" | cut -f1) of samples"
perf script --no-inline -i "$DATA" 2>/dev/null | "$BIN/flamegraph" --title "cozystack-api: $OP, N=$N, $TGT ($(date -u +%F))" >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
rm -f "$DATA"
say "wrote $OUT"
