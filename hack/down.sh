#!/usr/bin/env bash
# Stops exactly the processes hack/up.sh started (by their PID files) and removes their state.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# Replicas beyond the first, whatever COZY_API_REPLICAS says now.
for f in "$PIDS"/cozystack-api-*.pid; do
  [[ -e $f ]] || continue
  c=$(basename "$f" .pid)
  if pid_alive "$c"; then say "stopping $c"; fi
  stop_component "$c"
done
for ((i = ${#COMPONENTS[@]} - 1; i >= 0; i--)); do
  c=${COMPONENTS[i]}
  if pid_alive "$c"; then say "stopping $c"; fi
  stop_component "$c"
done
rm -rf "$STATE/etcd" "$PIDS" "$LOGS" "$STATE/cmdline" "$STATE/certs" "$STATE/users" "$STATE"/*.kubeconfig "$KUBECONFIG_FILE" "$STATE/env" \
  "$STATE/manifests" "$STATE/audit-policy.yaml" "$STATE/charts"
rmdir "$STATE" 2>/dev/null || true
say "stopped"
