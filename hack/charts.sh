#!/usr/bin/env bash
# Makes the test charts (tests/charts) reachable as a real cluster's platform makes its charts: packs each into
# an archive under <state>/charts, serves that folder on loopback, and creates the ExternalArtifact each
# ApplicationDefinition's chartRef names, its status pointing at the archive (URL, digest, Ready).
# Usage: hack/charts.sh (with the settings of hack/lib.sh); hack/up.sh runs it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
eval "$(grep -E '^KUBECTL=' "$STATE/env")"
K() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
mkdir -p "$STATE/charts"

if ! pid_alive chart-server; then
  say "starting chart-server"
  mkdir -p "$STATE/cmdline"
  cmd=(python3 -m http.server "$CHARTS_PORT" --bind 127.0.0.1 --directory "$STATE/charts")
  printf '%q ' "${cmd[@]}" > "$STATE/cmdline/chart-server"
  setsid "${cmd[@]}" >"$LOGS/chart-server.log" 2>&1 < /dev/null &
  echo $! > "$PIDS/chart-server.pid"
fi

now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for dir in "$ROOT"/tests/charts/*/; do
  chart=$(basename "$dir")
  version=$(awk '/^version:/ {print $2}' "$dir/Chart.yaml")
  archive=$chart-$version.tgz
  # Fixed owner, order and times: the same chart gives the same archive, hence the same digest.
  tar -C "$ROOT/tests/charts" --sort=name --owner=0 --group=0 --numeric-owner --mtime=2026-01-01 -cf - "$chart" | gzip -n > "$STATE/charts/$archive"
  digest=sha256:$(sha256sum "$STATE/charts/$archive" | cut -d' ' -f1)
  name=cozystack-$chart-application-default-$chart
  K apply -f - >/dev/null <<A
apiVersion: source.toolkit.fluxcd.io/v1
kind: ExternalArtifact
metadata: {name: $name, namespace: cozy-system}
spec: {}
A
  K patch externalartifact "$name" -n cozy-system --subresource=status --type=merge -p "$(cat <<S
{"status": {"artifact": {"path": "$archive", "url": "http://127.0.0.1:$CHARTS_PORT/$archive", "revision": "$version@$digest",
  "digest": "$digest", "lastUpdateTime": "$now", "size": $(stat -c %s "$STATE/charts/$archive")},
 "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "stored artifact for revision '$version@$digest'",
  "lastTransitionTime": "$now", "observedGeneration": 1}]}}
S
)" >/dev/null
done
for _ in $(seq 1 40); do curl -sf "http://127.0.0.1:$CHARTS_PORT/" >/dev/null && exit 0; sleep 0.25; done
log_tail chart-server; die "chart-server did not start on port $CHARTS_PORT"
