# Shared by hack/chaos.sh, hack/fuzz.sh and hack/soak.sh. Sourced, not run: builds the tools and cozystack-api
# (debug unless COZY_RELIABILITY_PROFILE=release) and uses the control plane of hack/up.sh if it runs (settings:
# hack/lib.sh), or starts one and stops it at the end.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
PROFILE=${COZY_RELIABILITY_PROFILE:-debug}
case $PROFILE in
  release) CARGO_PROFILE=(--release) ;;
  debug) CARGO_PROFILE=() ;;
  *) die "COZY_RELIABILITY_PROFILE must be release or debug, not $PROFILE" ;;
esac
TOOLS=$ROOT/target/$PROFILE

# Builds the named tool binaries and, unless a control plane runs, starts one (stopped when the script exits).
reliability_setup() {
  say "building $* ($PROFILE)"
  local bins=()
  for b in "$@"; do bins+=(--bin "$b"); done
  nice cargo build "${CARGO_PROFILE[@]}" -p chaos "${bins[@]}" >&2
  if pid_alive kube-apiserver && pid_alive cozystack-api; then
    say "using the running control plane in $STATE"
    return
  fi
  if [[ -z ${COZY_API_BIN:-} ]]; then
    say "building cozystack-api ($PROFILE)"
    nice cargo build "${CARGO_PROFILE[@]}" --bin cozystack-api >&2
    export COZY_API_BIN=$ROOT/target/$PROFILE/cozystack-api
  fi
  say "starting a control plane in $STATE"
  trap '"$ROOT/hack/down.sh" || true' EXIT
  COZY_HELM_CONTROLLER=${COZY_HELM_CONTROLLER:-0} "$ROOT/hack/up.sh" >/dev/null
}
