#!/usr/bin/env bash
# The composite GitHub Action (action.yml), run step by step by
# tests/integrations/run_action.py in a scratch workspace as GitHub's runner
# would (uses: steps such as actions/cache are logged and skipped). The build
# never runs here: the `loki-audit` input names the binary just built, or the
# cache directory is pre-filled as a cache hit would leave it; a cmake, apt-get
# or sudo on PATH that fail loudly make sure nothing is compiled or installed.
#
#   tests/integrations/ci_action.sh build/bin/loki-audit
set -uo pipefail
AUDIT=$(cd "$(dirname "${1:?usage: ci_action.sh path/to/loki-audit}")" && pwd)/$(basename "$1")
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PY=${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/venv/bin/python
"$PY" -c 'import yaml' 2>/dev/null || PY=python3
RUNNER=("$PY" "$ROOT/tests/integrations/run_action.py" "$ROOT")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=60

# Tripwires: anything that would build or install.
mkdir -p "$TMP/tripwire"
for tool in cmake ninja apt-get sudo; do
  printf '#!/bin/sh\necho "TRIPWIRE: %s $*" >&2\nexit 99\n' "$tool" >"$TMP/tripwire/$tool"
  chmod +x "$TMP/tripwire/$tool"
done
export PATH="$TMP/tripwire:$PATH"
unset GITHUB_OUTPUT GITHUB_ENV GITHUB_PATH GITHUB_STEP_SUMMARY

# A repository checkout: a broken manifest, a clean one, and YAML that is not Kubernetes.
W=$TMP/ws
mkdir -p "$W/deploy" "$W/clean" "$W/.github/workflows"
cp "$ROOT/manifests/examples/broken/host-network-model-backend.yaml" "$W/deploy/"
cp "$ROOT/manifests/examples/hardened/loki-agent.yaml" "$W/clean/"
cp "$ROOT/manifests/examples/hardened/loki-agent.yaml" "$W/deploy/"
printf 'name: ci\non: [push]\njobs:\n  lint:\n    runs-on: ubuntu-latest\n    steps: [{uses: ./}]\n' \
  >"$W/.github/workflows/ci.yml"
printf 'replicaCount: 1\n' >"$W/deploy/values.yaml"

action() {  # name, then run_action.py arguments; result JSON in $TMP/<name>.json, log in $TMP/<name>.log
  local name=$1
  shift
  rm -f "$W"/*.sarif "$W"/reports/*
  "${RUNNER[@]}" --workspace "$W" --temp "$TMP/runner-$name" --result "$TMP/$name.json" "$@" >"$TMP/$name.log" 2>&1
  echo $? >"$TMP/$name.rc"
}
check() {  # description, scenario name, python asserting over r (result), log, rc, ws
  local desc=$1 name=$2 code=$3
  if "$PY" - "$TMP/$name.json" "$TMP/$name.log" "$(cat "$TMP/$name.rc")" "$W" <<PY >"$TMP/check.out" 2>&1; then
import json, os, sys
r = json.load(open(sys.argv[1]))
log = open(sys.argv[2]).read()
rc = int(sys.argv[3])
ws = sys.argv[4]
steps = {s["id"] or s["name"]: s for s in r["steps"]}
def sarif(path):
    doc = json.load(open(os.path.join(ws, path)))
    assert doc["version"] == "2.1.0", doc["version"]
    assert doc["runs"][0]["tool"]["driver"]["name"] == "loki-audit"
    return doc["runs"][0]["results"]
assert "TRIPWIRE" not in log, "something tried to build or install:\n" + log
$code
PY
    ok "$desc"
  else
    bad "$desc" "$(cat "$TMP/check.out"; echo "--- runner log:"; tail -40 "$TMP/$name.log")"
  fi
}

# 1. Broken manifests, prebuilt binary (the loki-audit input): SARIF written, exit code 1 kept.
action broken --input "loki-audit=$AUDIT" --input path=deploy
check "prebuilt: the action fails with loki-audit's exit code 1, after writing the SARIF" broken '
assert rc == 1 and r["conclusion"] == "failure", (rc, r["conclusion"])
assert r["outputs"] == {"report": "loki-audit.sarif", "exit-code": "1"}, r["outputs"]
res = sarif("loki-audit.sarif")
hn = [x for x in res if x["ruleId"] == "host-network"]
assert hn, [x["ruleId"] for x in res]
uri = hn[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
assert uri == "deploy/host-network-model-backend.yaml", uri
assert all("host-network-model-backend" in x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
           for x in res if x["level"] == "error"), "only the broken manifest has errors"
assert steps["lint"]["outcome"] == "success", "the lint step itself must not fail"
assert steps["Result"]["outcome"] == "failure" and steps["Result"]["exit_code"] == 1
assert steps["Cache the loki-audit build"]["outcome"] == "skipped"
assert steps["Build loki-audit"]["outcome"] == "skipped"
assert "findings at or above error" in log
assert "error\x1b[0m [host-network]" in log, "the job log shows the findings as text"
assert "the text copy of the report failed" not in log and "Run with --help" not in log
assert "exit code 1" in r["summary"]
'

# 2. A cache hit (the cache dir holds a working loki-audit): no setup-deps, no build; default path ".".
mkdir -p "$TMP/runner-cachehit/loki-audit-action"
cp "$AUDIT" "$TMP/runner-cachehit/loki-audit-action/loki-audit"
action cachehit --input path=clean
check "cache hit: nothing built, clean manifests pass with an empty SARIF run" cachehit '
assert rc == 0 and r["conclusion"] == "success", (rc, r["conclusion"])
assert r["outputs"] == {"report": "loki-audit.sarif", "exit-code": "0"}, r["outputs"]
assert sarif("loki-audit.sarif") == []
plan = steps["plan"]["outputs"]
assert plan["build"] == "true" and plan["bin"].endswith("/loki-audit-action/loki-audit"), plan
import re
assert re.fullmatch(r"loki-audit-[a-z]+[0-9.]*-[a-z0-9_]+-[0-9a-f]{24}", plan["key"]), plan["key"]
cache = steps["Cache the loki-audit build"]
assert cache["with"] == {"path": plan["dir"], "key": plan["key"]}, cache
assert steps["Build loki-audit"]["outcome"] == "success"
assert "loki-audit: from the cache" in log
assert "setup-deps" not in log
'

# The cache key is a content hash: the same sources give the same key.
"${RUNNER[@]}" --workspace "$W" --temp "$TMP/runner-cachehit" --result "$TMP/again.json" --input path=clean \
  >"$TMP/again.log" 2>&1
"$PY" -c "
import json, sys
a = json.load(open('$TMP/cachehit.json')); b = json.load(open('$TMP/again.json'))
key = lambda r: [s for s in r['steps'] if s['id'] == 'plan'][0]['outputs']['key']
sys.exit(0 if key(a) == key(b) else 1)" && ok "cache key is stable across runs" || bad "cache key changes between runs"

# 3. The default path (.): other YAML in the checkout is skipped, hidden dirs are not searched.
action whole --input "loki-audit=$AUDIT" --input output=reports/lint.sarif --input fail-on=none
check "default path, fail-on none: findings reported, the action passes" whole '
assert rc == 0 and r["conclusion"] == "success", (rc, r["conclusion"])
assert r["outputs"] == {"report": "reports/lint.sarif", "exit-code": "0"}, r["outputs"]
uris = {x["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for x in sarif("reports/lint.sarif")}
assert uris == {"deploy/host-network-model-backend.yaml"}, uris
'

# 4. Selector and config reach loki-audit.
printf 'selector: "app=nothing-matches"\n' >"$W/policy.yaml"
action selector --input "loki-audit=$AUDIT" --input path=deploy --input "selector=app=nothing-matches"
check "selector input: no loki-mode pod selected, no pod findings" selector '
res = sarif("loki-audit.sarif")
assert not [x for x in res if x["ruleId"] == "host-network"], [x["ruleId"] for x in res]
'
action config --input "loki-audit=$AUDIT" --input path=deploy --input config=policy.yaml
check "config input: the config file selects the pods" config '
res = sarif("loki-audit.sarif")
assert not [x for x in res if x["ruleId"] == "host-network"], [x["ruleId"] for x in res]
'

# 5. Another format, several paths (one per line).
action junit --input "loki-audit=$AUDIT" --input "path=clean
deploy/host-network-model-backend.yaml" --input format=junit --input output=lint.xml
check "format junit, two paths: exit code 1, a JUnit report" junit '
assert rc == 1 and r["outputs"] == {"report": "lint.xml", "exit-code": "1"}, (rc, r["outputs"])
import xml.etree.ElementTree as ET
root = ET.parse(os.path.join(ws, "lint.xml")).getroot()
assert any(c.find("failure") is not None for c in root.iter("testcase"))
'

# 6. A usage error (no such path): exit code 2, no report, the action fails.
action missing --input "loki-audit=$AUDIT" --input path=no/such/dir
check "usage error: exit code 2, empty report output, the action fails" missing '
assert rc == 1 and r["conclusion"] == "failure"
assert r["outputs"] == {"report": "", "exit-code": "2"}, r["outputs"]
assert not os.path.exists(os.path.join(ws, "loki-audit.sarif"))
assert steps["Result"]["exit_code"] == 2
assert "no such file or directory" in log
'

# 7. A prebuilt binary that does not run fails early, naming it.
action nobinary --input "loki-audit=$TMP/nope/loki-audit" --input path=deploy
check "loki-audit input that does not run: the plan step fails" nobinary '
assert rc == 1 and steps["plan"]["outcome"] == "failure"
assert steps["lint"]["outcome"] == "skipped"
assert "does not run" in log
'

summary
