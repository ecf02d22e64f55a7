#!/usr/bin/env bash
# Fuzzes the live cozystack-api: generated request bodies (JSON and YAML: truncated, deeply nested, huge, wrong
# types, duplicate keys, invalid UTF-8, numbers out of range), query parameters, paths and headers (content types,
# Accept, impersonation without the right to it). Fails on any panic, 5xx, rejection without a Status, or request
# left unanswered.
#
#   hack/fuzz.sh [--seed 1] [--inputs 100000] [--doc docs/reliability.md]    options: --help
#
# Uses the control plane of hack/up.sh if it runs (COZY_STATE_DIR and the other settings of hack/lib.sh),
# otherwise starts one and stops it at the end.
set -euo pipefail
source "$(dirname "$0")/reliability-lib.sh"
reliability_setup cozystack-fuzz
"$TOOLS/cozystack-fuzz" --state "$STATE" "$@"
