# Shared settings and helpers of hack/up.sh and hack/down.sh. Sourced, not run.
# Every path and port can be overridden, so that a test run and a developer's setup can run side by side:
#   COZY_STATE_DIR (default <repo>/.local), COZY_ETCD_PORT (2379), COZY_ETCD_PEER_PORT (2380),
#   COZY_APISERVER_PORT (6443), COZY_API_PORT (8443), COZY_API_BIN (prebuilt cozystack-api; else cargo builds it),
#   COZY_API_REPLICAS (1; replica i listens on COZY_API_PORT+i-1), COZY_HOST_IP (the address the aggregator
#   reaches the replicas on; the first non-loopback IPv4 address by default), COZY_CHARTS_PORT (8090, the chart
#   archives), COZY_HELM_CONTROLLER (1; 0 leaves Flux's helm-controller and the charts out),
#   COZY_HELM_CONTROLLER_SELECTOR (a label selector: only the HelmReleases it selects are reconciled; all by default).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${COZY_STATE_DIR:-$ROOT/.local}
ETCD_PORT=${COZY_ETCD_PORT:-2379}
ETCD_PEER_PORT=${COZY_ETCD_PEER_PORT:-2380}
APISERVER_PORT=${COZY_APISERVER_PORT:-6443}
API_PORT=${COZY_API_PORT:-8443}
API_REPLICAS=${COZY_API_REPLICAS:-1}
CHARTS_PORT=${COZY_CHARTS_PORT:-8090}
HELM_CONTROLLER=${COZY_HELM_CONTROLLER:-1}
HELM_CONTROLLER_SELECTOR=${COZY_HELM_CONTROLLER_SELECTOR:-}
CERTS=$STATE/certs
PIDS=$STATE/pids
LOGS=$STATE/logs
KUBECONFIG_FILE=$STATE/kubeconfig
COMPONENTS=(etcd kube-apiserver kube-controller-manager cozystack-api chart-server helm-controller)
# The server replicas: cozystack-api, cozystack-api-2, ...
api_replicas() { local i; echo cozystack-api; for ((i = 2; i <= API_REPLICAS; i++)); do echo "cozystack-api-$i"; done; }
api_port() { local n=${1#cozystack-api}; n=${n#-}; echo $((API_PORT + ${n:-1} - 1)); }

say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$(basename "$0" .sh)" "$*" >&2; exit 1; }

# A process is alive while it exists and is not a zombie waiting to be reaped.
process_alive() { [[ -r /proc/$1/stat ]] && ! awk '{ sub(/.*\) /, ""); exit ($1 == "Z" ? 0 : 1) }' "/proc/$1/stat"; }
pid_alive() { [[ -f $PIDS/$1.pid ]] && process_alive "$(cat "$PIDS/$1.pid")"; }
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Prints the last lines of a component's log, for errors.
log_tail() { [[ -f $LOGS/$1.log ]] && { echo "----- last lines of $LOGS/$1.log -----" >&2; tail -n 25 "$LOGS/$1.log" >&2; }; }

stop_component() {
  local name=$1 pid
  [[ -f $PIDS/$name.pid ]] || return 0
  pid=$(cat "$PIDS/$name.pid")
  if process_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do process_alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDS/$name.pid"
}
