#!/usr/bin/env bash
# Fault harness: a random workload of creates, updates, patches, server-side applies and deletes by several
# clients, watchers following it, and SIGKILLs of etcd, kube-apiserver and cozystack-api at points the seed fixes;
# the checker then compares what clients were told, what watchers saw and etcd. Exits non-zero on any anomaly.
#
#   hack/chaos.sh [--seed 1] [--ops 10000] [--kills 20] [--doc docs/reliability.md]    options: --help
#
# Uses the control plane of hack/up.sh if it runs (COZY_STATE_DIR and the other settings of hack/lib.sh),
# otherwise starts one and stops it at the end.
set -euo pipefail
source "$(dirname "$0")/reliability-lib.sh"
reliability_setup cozystack-chaos
"$TOOLS/cozystack-chaos" --state "$STATE" "$@"
