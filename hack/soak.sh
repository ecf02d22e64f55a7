#!/usr/bin/env bash
# Soak run: an hour (--minutes) of mixed load against cozystack-api (writes, lists, watchers coming and going,
# ApplicationDefinitions added and removed) recording its resident memory and open file descriptors; writes the
# soak section of docs/reliability.md and docs/reliability-soak.svg.
#
#   hack/soak.sh [--minutes 60] [--seed 1] [options]     options: hack/soak.sh --help
#
# Uses the control plane of hack/up.sh if it runs (COZY_STATE_DIR and the other settings of hack/lib.sh),
# otherwise starts one and stops it at the end.
set -euo pipefail
source "$(dirname "$0")/reliability-lib.sh"
reliability_setup cozystack-soak
"$TOOLS/cozystack-soak" --state "$STATE" "$@"
