#!/usr/bin/env bash
# Restarts one component of a control plane started by hack/up.sh (etcd, kube-apiserver, kube-controller-manager,
# cozystack-api or a further replica, cozystack-api-2, ...) with exactly the command line it was started with, and waits until it serves again.
# Usage: COZY_STATE_DIR=... hack/restart.sh kube-apiserver
set -euo pipefail
source "$(dirname "$0")/lib.sh"
name=${1:?usage: hack/restart.sh <component>}
[[ -f $STATE/cmdline/$name ]] || die "no recorded command line for $name in $STATE/cmdline (start the control plane with hack/up.sh)"
# The ports and kubectl of this control plane, whatever the environment says.
eval "$(grep -E '^(APISERVER_PORT|API_PORT|ETCD_PORT|KUBECTL)=' "$STATE/env")"

say "stopping $name"
stop_component "$name"
say "starting $name"
cmdline=$(cat "$STATE/cmdline/$name")
# exec: the recorded PID is the component's own, as hack/up.sh records it.
(eval "exec setsid $cmdline") >>"$LOGS/$name.log" 2>&1 < /dev/null &
echo $! > "$PIDS/$name.pid"

ready() {
  case $name in
    etcd) curl -sf "http://127.0.0.1:$ETCD_PORT/health" ;;
    kube-apiserver) "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get --raw /readyz ;;
    cozystack-api*) curl -sf --cacert "$CERTS/ca.crt" "https://127.0.0.1:$(api_port "$name")/readyz" ;;
    *) true ;;
  esac
}
for _ in $(seq 1 240); do
  if ready >/dev/null 2>&1; then say "$name is back"; exit 0; fi
  pid_alive "$name" || { log_tail "$name"; die "$name exited after the restart"; }
  sleep 0.5
done
log_tail "$name"; die "$name did not come back within 120 s"
