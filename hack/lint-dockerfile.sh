#!/usr/bin/env bash
# Lints a Dockerfile (default: the repository's) with BuildKit's own parser, through the PyPI package
# `dockerfile` (a wheel wrapping the Go parser), installed into a throwaway venv. Fails on a parse error, an
# instruction Dockerfile syntax does not know, an instruction without arguments, an instruction before the
# first FROM other than ARG, and a final stage that does not set a literal non-root USER.
# Usage: hack/lint-dockerfile.sh [Dockerfile]. Needs python3 with venv, and PyPI.
set -euo pipefail
file=${1:-"$(cd "$(dirname "$0")/.." && pwd)/Dockerfile"}
[[ -f $file ]] || { echo "lint-dockerfile: $file: no such file" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
# --only-binary: the wheel carries the compiled parser; never build it from source.
"$tmp/venv/bin/pip" install -q --disable-pip-version-check --only-binary=:all: dockerfile==3.4.0

"$tmp/venv/bin/python" - "$file" <<'PY'
import sys

import dockerfile

path = sys.argv[1]


def fail(msg):
    sys.exit(f"lint-dockerfile: {path}: {msg}")


try:
    cmds = dockerfile.parse_file(path)
except (dockerfile.GoParseError, dockerfile.GoIOError) as e:
    fail(f"parse error: {e}")

known = {c.upper() for c in dockerfile.all_cmds()}
for c in cmds:
    for name in filter(None, (c.cmd, c.sub_cmd)):
        if name.upper() not in known:
            fail(f"line {c.start_line}: unknown instruction {name!r}")
    if not c.json and not any(c.value):
        fail(f"line {c.start_line}: {c.cmd.upper()} without arguments")

stages = [i for i, c in enumerate(cmds) if c.cmd.upper() == "FROM"]
if not stages:
    fail("no FROM instruction")
for c in cmds[: stages[0]]:
    if c.cmd.upper() != "ARG":
        fail(f"line {c.start_line}: {c.cmd.upper()} before the first FROM (only ARG may come first)")

final = cmds[stages[-1]]
users = [c for c in cmds[stages[-1]:] if c.cmd.upper() == "USER"]
if not users:
    fail(f"the final stage (line {final.start_line}) sets no USER: the image would run as root")
user = users[-1].value[0].split(":")[0]
if user in ("root", "0") or "$" in user:
    fail(f"line {users[-1].start_line}: the final stage must run as a literal non-root USER, not {users[-1].value[0]!r}")

print(f"lint-dockerfile: {path}: ok ({len(stages)} stages, {len(cmds)} instructions, final USER {users[-1].value[0]})")
PY
