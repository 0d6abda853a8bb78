#!/usr/bin/env bash
# End-to-end tests of the loki-audit binary: exit codes, stdin, output
# formats against golden files, usage errors. UPDATE_GOLDEN=1 rewrites the
# golden files (review the diff before committing).
set -uo pipefail
BIN=${1:?usage: run.sh path/to/loki-audit}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
GOLDEN=$HERE/golden
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cd "$ROOT"

# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"

expect_exit() {  # name expected_code cmd...
  local name=$1 want=$2
  shift 2
  "$@" >"$TMP/out" 2>"$TMP/err"
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want" "$(cat "$TMP/err" "$TMP/out")"; fi
}

golden() {  # name file
  local name=$1 file=$2
  if [ "${UPDATE_GOLDEN:-}" = 1 ]; then cp "$file" "$GOLDEN/$name"; ok "golden $name (updated)"; return; fi
  if diff -u "$GOLDEN/$name" "$file" >"$TMP/diff"; then ok "golden $name"; else bad "golden $name differs" "$(cat "$TMP/diff")"; fi
}

EX=manifests/examples
FIX=tests/fixtures/lint

# Exit codes
expect_exit "hardened example is clean" 0 "$BIN" lint --color never $EX/hardened
expect_exit "broken examples fail" 1 "$BIN" lint --color never $EX/broken
# manifests/examples/README.md lists the rule ids each example produces.
while IFS='|' read -r _ file _ rules _; do
  file=$(tr -d ' `' <<<"$file")
  want=$(grep -o '`[a-z-]*`' <<<"$rules" | tr -d '`' | sort | tr '\n' ' ')
  got=$("$BIN" lint -f json "$EX/$file" | python3 -c 'import json,sys; print(" ".join(sorted({f["rule"] for f in json.load(sys.stdin)["findings"]})))')
  [ "$(echo $want)" = "$(echo $got)" ] && ok "examples README: $file finds ${want:-nothing}" ||
    bad "examples README: $file" "README: $want"$'\n'"lint:   $got"
done < <(grep -E '^\| `(hardened|broken)/' $EX/README.md)
expect_exit "--fail-on none" 0 "$BIN" lint --fail-on none $EX/broken
expect_exit "missing path is a usage error" 2 "$BIN" lint /no/such/file.yaml
grep -q "no such file or directory" "$TMP/err" && ok "missing path message" || bad "missing path message" "$(cat "$TMP/err")"
expect_exit "bad selector is a usage error" 2 "$BIN" lint -l 'app in (' $EX/hardened
grep -q "invalid selector" "$TMP/err" && ok "bad selector message" || bad "bad selector message" "$(cat "$TMP/err")"
expect_exit "unknown flag is a usage error" 2 "$BIN" lint --no-such-flag $EX/hardened
expect_exit "bad config is a usage error" 2 "$BIN" lint --config $FIX/bad-config.yaml $EX/hardened
grep -q "bad-config.yaml:3" "$TMP/err" && ok "bad config names file:line" || bad "bad config message" "$(cat "$TMP/err")"
expect_exit "unwritable --output" 2 "$BIN" lint -o /no/such/dir/out.json $EX/hardened
# Out of memory is an error with a message and exit 2, not an abort (mimalloc's `new` aborted): 3M list items
# under a 120 MB address-space limit. Skipped where the binary cannot start under the limit (sanitizer builds).
python3 -c 'import sys; sys.stdout.write("apiVersion: v1\nkind: Pod\nmetadata: {name: big}\nspec:\n  containers: [{name: c, image: i}]\n  x: [" + ",".join(["1"] * 3000000) + "]\n")' >"$TMP/big-list.yaml"
if (ulimit -v 120000 && "$BIN" lint --fail-on none $EX/hardened) >/dev/null 2>&1; then
  expect_exit "out of memory: exit 2" 2 bash -c 'ulimit -v 120000 && exec "$0" lint "$1"' "$BIN" "$TMP/big-list.yaml"
  grep -q "^loki-audit: out of memory: " "$TMP/err" && ok "out of memory: says so" || bad "out of memory message" "$(tail -3 "$TMP/err")"
else
  echo "skip: out of memory (the binary does not start under a 120 MB limit: a sanitizer build)"
fi
rm -f "$TMP/big-list.yaml"
expect_exit "--help" 0 "$BIN" lint --help
expect_exit "rules" 0 "$BIN" rules
grep -q "^  docs: CVE-2024-10220: https://nvd.nist.gov/vuln/detail/CVE-2024-10220$" "$TMP/out" &&
  ok "rules lists each rule's references" || bad "rules references" "$(head -20 "$TMP/out")"
"$BIN" rules -f json | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r and all(x["references"] and x["references"][0]["url"].startswith("https://") for x in r) else 1)' &&
  ok "rules -f json: references per rule" || bad "rules -f json references"
# The README's rules table is generated (scripts/gen-docs.sh): it must match the registry.
expect_exit "rules -f markdown" 0 "$BIN" rules -f markdown
sed -n '/^<!-- rules:begin -->$/,/^<!-- rules:end -->$/{//!p}' README.md >"$TMP/readme-rules"
if diff -u "$TMP/readme-rules" "$TMP/out" >"$TMP/diff"; then
  ok "README rules table matches loki-audit rules -f markdown"
else
  bad "README rules table is stale: run scripts/gen-docs.sh $BIN" "$(cat "$TMP/diff")"
fi

# And the README's text-output example (issue 22): the binary's own output on the bundled examples.
{
  echo '```text'
  "$BIN" lint --color never $EX/broken/git-repo-agent.yaml $EX/broken/host-network-model-backend.yaml \
    $EX/broken/shared-pid-sidecar.yaml $EX/hardened
  echo '```'
} >"$TMP/text-example"
sed -n '/^<!-- text-example:begin -->$/,/^<!-- text-example:end -->$/{//!p}' README.md >"$TMP/readme-example"
if [ -s "$TMP/text-example" ] && diff -u "$TMP/readme-example" "$TMP/text-example" >"$TMP/diff"; then
  ok "README text-output example matches loki-audit lint"
else
  bad "README text-output example is stale: run scripts/gen-docs.sh $BIN" "$(cat "$TMP/diff")"
fi

# So is the chart README's policy table (default webhook action per rule).
"$BIN" rules -f policy-markdown >"$TMP/policies"
sed -n '/^<!-- policies:begin -->$/,/^<!-- policies:end -->$/{//!p}' "$ROOT/charts/loki-guard/README.md" >"$TMP/chart-policies"
if diff -u "$TMP/chart-policies" "$TMP/policies" >"$TMP/diff"; then
  ok "chart README policy table matches loki-audit rules -f policy-markdown"
else
  bad "chart README policy table is stale: run scripts/gen-docs.sh $BIN" "$(cat "$TMP/diff")"
fi

# Warnings only: exit 0 by default, 1 with --fail-on warning
expect_exit "warnings pass --fail-on error" 0 "$BIN" lint $FIX/warning-only.yaml
expect_exit "warnings fail --fail-on warning" 1 "$BIN" lint --fail-on warning $FIX/warning-only.yaml

# stdin gives the same findings as the file, named <stdin>
"$BIN" lint -f json $FIX/pods.yaml >"$TMP/file.json"
"$BIN" lint -f json - <$FIX/pods.yaml >"$TMP/stdin.json"
python3 - "$TMP/file.json" "$TMP/stdin.json" <<'PY' && ok "stdin == file" || bad "stdin differs from file"
import json, sys
a = json.load(open(sys.argv[1]))["findings"]; b = json.load(open(sys.argv[2]))["findings"]
for f in a: f["file"] = "<stdin>"
sys.exit(0 if a == b and len(a) > 0 else 1)
PY

# Helm output on stdin names the templates
"$BIN" lint -f json - <$FIX/helm-output.yaml >"$TMP/helm.json"
python3 - "$TMP/helm.json" <<'PY' && ok "helm # Source honoured" || bad "helm # Source not honoured" "$(cat "$TMP/helm.json")"
import json, sys
f = json.load(open(sys.argv[1]))["findings"]
hn = [x for x in f if x["rule"] == "host-network"]
sys.exit(0 if hn and hn[0]["file"] == "agent/templates/deployment.yaml" and hn[0]["line"] == 14 else 1)
PY

# YAML that is not Kubernetes (what pre-commit passes along with manifests) is
# skipped, not invalid-manifest; a document with only apiVersion or only kind
# is still a broken manifest.
mkdir -p "$TMP/other/.github/workflows" "$TMP/other/chart/templates"
printf 'repos:\n  - repo: local\n    hooks: []\n' >"$TMP/other/.pre-commit-config.yaml"
printf 'name: ci\non: [push]\njobs:\n  b:\n    runs-on: ubuntu-latest\n    steps: [{run: make}]\n' \
  >"$TMP/other/.github/workflows/ci.yml"
printf 'replicaCount: 1\nimage: {repository: nginx}\n' >"$TMP/other/values.yaml"
printf '{\n  // JSON with comments\n  "compilerOptions": {}\n}\n' >"$TMP/other/tsconfig.json"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n' \
  >"$TMP/other/kustomization.yaml"
printf 'apiVersion: v2\nname: chart\nversion: 0.1.0\n' >"$TMP/other/chart/Chart.yaml"
printf '{{- if .Values.on }}\napiVersion: v1\nkind: {{ .Values.kind }}\n{{- end }}\n' >"$TMP/other/chart/templates/x.yaml"
OTHER=("$TMP/other/.pre-commit-config.yaml" "$TMP/other/.github/workflows/ci.yml" "$TMP/other/values.yaml"
  "$TMP/other/tsconfig.json" "$TMP/other/kustomization.yaml" "$TMP/other/chart/Chart.yaml"
  "$TMP/other/chart/templates/x.yaml")
expect_exit "non-Kubernetes YAML is skipped" 0 "$BIN" lint --color never "${OTHER[@]}"
grep -q "5 documents skipped: not Kubernetes API objects" "$TMP/out" && ok "skipped documents counted in the summary" \
  || bad "skipped summary" "$(cat "$TMP/out")"
grep -q "chart: Helm chart skipped (2 files of it named)" "$TMP/err" && ok "files of a Helm chart skipped with a note" \
  || bad "chart note" "$(cat "$TMP/err")"
[ "$(grep -c 'skipped,' "$TMP/err")" = 0 ] && ok "skipped documents listed only with -v" || bad "notes without -v"
expect_exit "-v lists the skipped documents" 0 "$BIN" lint -v "${OTHER[@]}"
grep -q "values.yaml:1: skipped, not a Kubernetes object (no apiVersion or kind)" "$TMP/err" \
  && grep -q "kustomization.yaml:1: skipped, a kustomize file (Kustomization" "$TMP/err" \
  && ok "-v names file, line and reason" || bad "-v notes" "$(cat "$TMP/err")"
printf 'kind: Deployment\nmetadata: {name: x}\n' >"$TMP/other/kind-only.yaml"
expect_exit "only kind: still invalid-manifest" 1 "$BIN" lint --color never "$TMP/other/kind-only.yaml" "${OTHER[@]}"
grep -q "kind-only.yaml:1: error \[invalid-manifest\] field apiVersion: required field is missing" "$TMP/out" \
  && ok "only kind: names the missing apiVersion" || bad "kind-only message" "$(cat "$TMP/out")"
printf '' >"$TMP/other/empty.yaml"
expect_exit "an empty file is still invalid-manifest" 1 "$BIN" lint "$TMP/other/empty.yaml"

# Invoked as the kubectl plugin (kubectl-loki_audit -> loki-audit): same behaviour, named for kubectl in help.
ln -s "$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")" "$TMP/kubectl-loki_audit"
"$TMP/kubectl-loki_audit" --help >"$TMP/plugin-help" 2>&1
grep -q "kubectl loki-audit lint FILE" "$TMP/plugin-help" && ok "plugin help names kubectl loki-audit" \
  || bad "plugin help" "$(cat "$TMP/plugin-help")"
"$BIN" --help | grep -q "^  loki-audit lint FILE" && ok "help names loki-audit" || bad "loki-audit help"
"$BIN" lint -f json $EX/broken >"$TMP/direct.json"
d=$?
"$TMP/kubectl-loki_audit" lint -f json $EX/broken >"$TMP/plugin.json"
p=$?
[ "$d" = "$p" ] && cmp -s "$TMP/direct.json" "$TMP/plugin.json" && ok "plugin lint == loki-audit lint (exit $p)" \
  || bad "plugin lint differs (exit $p vs $d)"

# Issue 22: findings a person acts on, each on the corpus case that showed it.
# Silent pass (ingress-nginx, microservices-demo): pod templates, none loki-mode.
expect_exit "no loki-mode pod template: exit 0 by default" 0 "$BIN" lint --color never $FIX/no-agents
grep -q "0 loki-mode pod templates checked" "$TMP/out" &&
  grep -q "3 pod templates in the input, none matches the loki-mode selector \`app=loki-mode\`" "$TMP/err" &&
  grep -q -- "--selector" "$TMP/err" && grep -q -- "--all-pods" "$TMP/err" &&
  ok "no loki-mode pod template: stderr names the selector and the two ways out" || bad "silent pass note" "$(cat "$TMP/err")"
expect_exit "--require-agents: none checked is exit 1" 1 "$BIN" lint --require-agents $FIX/no-agents
expect_exit "--require-agents with --selector that matches" 0 "$BIN" lint --require-agents --fail-on none \
  -l app.kubernetes.io/name=ingress-nginx $FIX/no-agents
[ ! -s "$TMP/err" ] && ok "no note when the selector matches" || bad "note with a matching selector" "$(cat "$TMP/err")"
expect_exit "--require-agents on agents: exit by findings" 1 "$BIN" lint --require-agents $EX/broken
expect_exit "--require-agents on the hardened example" 0 "$BIN" lint --require-agents $EX/hardened
# Repeated remediation (ingress-nginx: one NetworkPolicy snippet per pod): once per namespace.
expect_exit "repeated fix" 1 "$BIN" lint --color never $FIX/repeated-fix.yaml
[ "$(grep -c 'kind: NetworkPolicy' "$TMP/out")" = 2 ] && [ "$(grep -c 'fix: see \[1\] above' "$TMP/out")" = 2 ] &&
  grep -q "      fix: deny egress by default in namespace other" "$TMP/out" &&
  ok "text: the egress policy once per namespace, later pods refer back" || bad "repeated fix" "$(cat "$TMP/out")"
"$BIN" lint -f json $FIX/repeated-fix.yaml >"$TMP/rep.json"
python3 - "$TMP/rep.json" <<'PY' &&
import json, sys
f = [x for x in json.load(open(sys.argv[1]))["findings"] if x["rule"] == "egress-unrestricted"]
sys.exit(0 if len(f) == 4 and all("kind: NetworkPolicy" in x["remediation"] and x["references"] for x in f) else 1)
PY
  ok "JSON: full remediation and references on every finding" || bad "JSON remediation per finding"
# Unrendered Helm templates: say so, and how to lint the chart.
expect_exit "Helm template: invalid-manifest" 1 "$BIN" lint --color never $FIX/helm-template.yaml
grep -q "helm-template.yaml:8: error \[invalid-manifest\] looks like an unrendered Helm template (\`{{ ... }}\` at line 6)" "$TMP/out" &&
  grep -q "fix: render the chart and lint its output: \`helm template RELEASE CHART | loki-audit lint -\`" "$TMP/out" &&
  ! grep -q "dry-run=server" "$TMP/out" && ok "Helm template named as such, helm template advised" ||
  bad "Helm template message" "$(cat "$TMP/out")"
expect_exit "Helm template that parses ({{ }} as a value)" 1 "$BIN" lint --color never $FIX/helm-value.yaml
grep -q "looks like an unrendered Helm template (\`{{ ... }}\` at line 6), which is not YAML until rendered: field metadata.name" "$TMP/out" &&
  ok "Helm template that parses: its validation error says so" || bad "Helm value message" "$(cat "$TMP/out")"
# ServiceAccount defaults: the pod field wins, else the ServiceAccount's (kubernetes.io configure-service-account:
# "The pod spec takes precedence over the service account if both specify a automountServiceAccountToken value").
"$BIN" lint -f json $FIX/sa-automount.yaml >"$TMP/sa.json"
python3 - "$TMP/sa.json" <<'PY' && ok "service-account-token honours the ServiceAccount's automountServiceAccountToken: false" ||
import json, sys
got = sorted(f["object"]["name"] for f in json.load(open(sys.argv[1]))["findings"] if f["rule"] == "service-account-token")
sys.exit(0 if got == ["default-sa", "other-namespace", "pod-says-true"] else 1)
PY
  bad "service-account-token and ServiceAccounts" "$(cat "$TMP/sa.json" | head -50)"
# The ServiceAccount in another input file counts too (read after the pods).
sed -n '/^# Leaves/,$p' $FIX/sa-automount.yaml >"$TMP/sa-pods.yaml"
sed -n '1,/^---$/p' $FIX/sa-automount.yaml | sed '$d' >"$TMP/sa-sa.yaml"
"$BIN" lint -f json "$TMP/sa-pods.yaml" "$TMP/sa-sa.yaml" >"$TMP/sa2.json"
python3 -c 'import json,sys; n={f["object"]["name"] for f in json.load(open(sys.argv[1]))["findings"] if f["rule"] == "service-account-token"}; sys.exit(0 if "inherits-false" not in n and "default-sa" in n else 1)' "$TMP/sa2.json" &&
  ok "ServiceAccount in a later input settles the pod" || bad "ServiceAccount in a later input"
# References: text docs line, JSON references, SARIF helpUri/tags/security-severity.
"$BIN" lint --color never $EX/broken >"$TMP/broken.text"
grep -q "      docs: https://kubernetes.io/docs/concepts/security/pod-security-standards/#baseline" "$TMP/broken.text" &&
  ok "text: docs line under the fix" || bad "docs line" "$(head -30 "$TMP/broken.text")"
"$BIN" lint -f sarif $EX/broken >"$TMP/broken.sarif"
python3 - "$TMP/broken.sarif" <<'PY' &&
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
band = {"error": (7.0, 9.0), "warning": (4.0, 7.0), "note": (0.1, 4.0)}
for r in rules.values():
    lo, hi = band[r["defaultConfiguration"]["level"]]
    assert lo <= float(r["properties"]["security-severity"]) < hi, r["id"]
    assert "security" in r["properties"]["tags"] and r["helpUri"].startswith("https://"), r["id"]
assert "CVE-2024-10220" in rules["git-repo-volume"]["properties"]["tags"]
assert rules["service-account-token"]["helpUri"].endswith("#opt-out-of-api-credential-automounting")
assert all(x["ruleId"] in rules for x in run["results"]) and run["results"]
PY
  ok "SARIF: helpUri, tags and security-severity per rule" || bad "SARIF references"
# --show-passed: per object, the rules it passed.
expect_exit "--show-passed" 0 "$BIN" lint --show-passed --color never $EX/hardened
grep -q "^Passed checks$" "$TMP/out" && grep -q "^  Deployment loki-hardened/loki-agent: apparmor-unconfined, capabilities-not-dropped," "$TMP/out" &&
  ok "--show-passed lists the rules each object passed" || bad "--show-passed text" "$(cat "$TMP/out")"
"$BIN" lint --show-passed -f json $EX/broken/host-network-model-backend.yaml >"$TMP/passed.json"
python3 - "$TMP/passed.json" <<'PY' &&
import json, sys
d = json.load(open(sys.argv[1]))
failed = {(f["object"]["name"], f["rule"]) for f in d["findings"]}
assert d["passed"], d
for p in d["passed"]:
    assert p["rules"] and not any((p["object"]["name"], r) in failed for r in p["rules"]), p
    assert "host-network" not in p["rules"]
PY
  ok "--show-passed JSON: passed rules exclude the failed ones" || bad "--show-passed JSON"
"$BIN" lint -f json $EX/hardened | python3 -c 'import json,sys; sys.exit("passed" in json.load(sys.stdin))' &&
  ok "no passed field without --show-passed" || bad "passed field without the flag"

# Golden outputs for every format
for fmt in text json sarif junit; do
  "$BIN" lint --color never -f "$fmt" $FIX/pods.yaml $FIX/invalid.yaml >"$TMP/out.$fmt"
  golden "lint.$fmt" "$TMP/out.$fmt"
done
# Pod templates of DeploymentConfig, Rollout and an inferred kind (issue 18).
for fmt in text json; do
  "$BIN" lint --color never -f "$fmt" $FIX/pod-template-kinds.yaml >"$TMP/out.$fmt"
  golden "pod-template-kinds.$fmt" "$TMP/out.$fmt"
done
# Policy reports (issue 20): the bundled examples as OpenReports Report objects, checked against the
# CRD's own openAPIV3Schema (reports-api module, tests/cluster/report-crds.sh) with jsonschema; the real
# API server validates them in tests/cluster/test_reports.sh.
SOURCE_DATE_EPOCH=1700000000 "$BIN" lint -f report $EX >"$TMP/out.report" 2>"$TMP/err"
r=$?
[ $r = 1 ] && ok "lint -f report exits 1 on findings" || bad "lint -f report exit $r" "$(cat "$TMP/err")"
golden "examples.report.yaml" "$TMP/out.report"
SOURCE_DATE_EPOCH=1700000000 "$BIN" lint -f report --report-api wgpolicy $EX >"$TMP/out.wgreport" 2>/dev/null
for api in openreports wgpolicy; do
  [ $api = openreports ] && rep=$TMP/out.report || rep=$TMP/out.wgreport
  if crds=$(tests/cluster/report-crds.sh $api 2>"$TMP/err"); then
    python3 - "$rep" $crds <<'PY' && ok "$api reports validate against the CRD schema" || bad "$api reports do not validate"
import sys, yaml, jsonschema
schemas = {}
for f in sys.argv[2:]:
    crd = yaml.safe_load(open(f))
    for v in crd["spec"]["versions"]:
        schemas[(crd["spec"]["group"] + "/" + v["name"], crd["spec"]["names"]["kind"])] = v["schema"]["openAPIV3Schema"]
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
assert docs, "no reports"
for d in docs:
    jsonschema.validate(d, schemas[(d["apiVersion"], d["kind"])])
PY
  else
    echo "skip $api CRD schema check: $(tail -1 "$TMP/err")"
  fi
done
"$BIN" lint -f sarif -o "$TMP/o.sarif" $FIX/pods.yaml; cmp -s "$TMP/o.sarif" <("$BIN" lint -f sarif $FIX/pods.yaml) \
  && ok "--output writes the report" || bad "--output differs from stdout"

# SARIF: structure validated by an independent SARIF 2.1.0 model, when available
VPY=${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/venv/bin/python
if [ -x "$VPY" ] && "$VPY" -c 'import sarif_pydantic' 2>/dev/null; then
  "$VPY" - "$TMP/out.sarif" <<'PY' && ok "SARIF validates (sarif_pydantic)" || bad "SARIF does not validate"
import json, sys
from sarif_pydantic import Sarif
doc = json.load(open(sys.argv[1]))
Sarif.model_validate(doc)
assert all(r["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1 for r in doc["runs"][0]["results"])
PY
else
  echo "skip SARIF model validation (run scripts/setup-test-tools.sh to install sarif_pydantic)"
fi
# JUnit: well-formed XML with unique test cases
python3 - "$TMP/out.junit" <<'PY' && ok "JUnit well-formed, unique cases" || bad "JUnit invalid"
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
cases = [(c.get("classname"), c.get("name")) for c in root.iter("testcase")]
assert len(cases) == len(set(cases)) and len(cases) > 1
PY

# explain --to: both sides of a pod destination (tests/fixtures/explain/end-to-end.yaml)
XF=tests/fixtures/explain/end-to-end.yaml
expect_exit "explain: egress and ingress allow (named port)" 0 "$BIN" explain pod/web -n app --to pod/pg:postgres --to-namespace db $XF
grep -q "ingress (destination side, Pod db/pg): ALLOWED" "$TMP/out" && grep -q "db/pg-ingress ingress\[0\]" "$TMP/out" &&
  ok "explain names the ingress rule" || bad "explain ingress rule" "$(cat "$TMP/out")"
expect_exit "explain: the destination's ingress denies" 1 "$BIN" explain pod/other -n app --to pod/pg:5432 --to-namespace db $XF
grep -q "ingress (destination side, Pod db/pg): DENIED" "$TMP/out" && ok "explain says which side denies" ||
  bad "explain denying side" "$(cat "$TMP/out")"
expect_exit "explain: ::/0 and a host name is conditional" 3 "$BIN" explain pod/web -n app --to api.anthropic.com:443 $XF
grep -q "ingress: not applicable" "$TMP/out" && ok "explain: only egress for a host" || bad "explain host" "$(cat "$TMP/out")"
expect_exit "explain: template destination, ::/0: conditional" 3 "$BIN" explain pod/web -n app --to deployment/cache:443 --to-namespace db $XF
grep -q "only if the pod IP is in ::/0" "$TMP/out" && ok "explain names the condition" || bad "explain condition" "$(cat "$TMP/out")"
expect_exit "explain: --pod-cidr v6 covered by ::/0" 0 "$BIN" explain pod/web -n app --to deployment/cache:443 --to-namespace db --pod-cidr fd00:10:244::/56 $XF
expect_exit "explain: --pod-cidr v4 only, ::/0 misses it" 1 "$BIN" explain pod/web -n app --to deployment/cache:443 --to-namespace db --pod-cidr 10.244.0.0/16 $XF
expect_exit "explain: --pod-cidr must be a CIDR" 2 "$BIN" explain pod/web -n app --pod-cidr 10.0.0.1 --to 1.1.1.1:443 $XF
expect_exit "explain: unknown named port is a usage error" 2 "$BIN" explain pod/web -n app --to pod/pg:pgx --to-namespace db $XF
"$BIN" explain pod/other -n app --to pod/pg:postgres --to-namespace db -f json $XF >"$TMP/x.json"
python3 - "$TMP/x.json" <<'PY' && ok "explain -f json schema" || bad "explain -f json" "$(cat "$TMP/x.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["verdict"] == "denied" and j["egress"]["verdict"] == "allowed" and j["ingress"]["verdict"] == "denied"
assert j["port"] == 5432 and j["port_name"] == "postgres" and j["protocol"] == "TCP"
assert j["egress"]["policy"] is None and j["ingress"]["policy"] is None
PY
printf '%s\n' '{"from":"pod/web","namespace":"app","to":"pod/pg:postgres","to_namespace":"db"}' \
  '{"from":"pod/other","namespace":"app","to":"pod/pg:5432","to_namespace":"db"}' \
  '{"from":"pod/web","namespace":"app","to":"[2001:db8::1]:443"}' '{"from":"pod/nope","namespace":"app","to":"1.1.1.1:1"}' >"$TMP/q.jsonl"
"$BIN" explain --queries "$TMP/q.jsonl" $XF >"$TMP/q.json"
python3 - "$TMP/q.json" <<'PY' && ok "explain --queries batch" || bad "explain --queries" "$(cat "$TMP/q.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert [x.get("verdict") for x in r[:3]] == ["allowed", "denied", "allowed"], r
assert r[2]["ingress"]["verdict"] == "not-applicable" and "error" in r[3]
PY

# netmap: golden outputs (tests/fixtures/netmap/team.yaml; the bundled examples' agents namespace)
NF=tests/fixtures/netmap/team.yaml
for fmt in text json dot; do
  expect_exit "netmap -f $fmt" 0 "$BIN" netmap -n team -f "$fmt" --color never $NF
  golden "netmap-team.$fmt" "$TMP/out"
  cp "$TMP/out" "$TMP/netmap.$fmt"
done
expect_exit "netmap examples" 0 "$BIN" netmap -n loki --color never $EX
golden "netmap-examples.text" "$TMP/out"
expect_exit "netmap examples -f dot" 0 "$BIN" netmap -n loki -f dot $EX
golden "netmap-examples.dot" "$TMP/out"
"$BIN" netmap -n team - <$NF >"$TMP/stdin.text" && cmp -s "$TMP/stdin.text" "$TMP/netmap.text" && ok "netmap: stdin == file" ||
  bad "netmap: stdin differs"
python3 - "$TMP/netmap.json" <<'PY' && ok "netmap -f json schema" || bad "netmap -f json" "$(head -c 2000 "$TMP/netmap.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["namespace"] == "team" and [e["id"] for e in j["externals"]] == ["internet", "metadata", "dns"]
pods = {p["name"]: p for p in j["pods"]}
assert pods["agent"]["agent"] and not pods["web"]["agent"] and pods["node-exporter"]["host_network"]
c = {(x["from"], x["to"]): x for x in j["connections"]}
assert len(c) == 5 * 4 + 5 * 3  # pod pairs (not to itself) and the three fixed destinations
a = c[("Deployment team/agent", "Pod team/api")]
assert a["verdict"] == "allowed" and a["allowed"] == [{"protocol": "TCP", "first": 8080, "last": 8080}]
w = c[("Deployment team/web", "Deployment team/cache")]
assert w["verdict"] == "conditional" and "10.244.0.0/16" in w["condition"]
assert c[("Deployment team/agent", "internet")]["verdict"] == "denied"
d = c[("Deployment team/agent", "dns")]["probes"][0]
assert d["verdict"] == "allowed" and d["ingress"]["policy"] == "NetworkPolicy kube-system/dns-ingress"
assert c[("Deployment team/web", "metadata")]["probes"][0]["ingress"]["verdict"] == "not-applicable"
PY
"$BIN" netmap -n team --color always $NF | grep -q $'\x1b\\[1;31mallowed !' && ok "netmap --color always" ||
  bad "netmap --color always"
if "$BIN" netmap -n team $NF | grep -q $'\x1b'; then bad "netmap colours a pipe"; else ok "netmap: no colour on a pipe"; fi
expect_exit "netmap --pod-cidr settles a template's IP" 0 "$BIN" netmap -n team -f json --pod-cidr 10.244.0.0/16 $NF
python3 -c '
import json, sys
c = [x for x in json.load(open(sys.argv[1]))["connections"] if x["from"] == "Deployment team/web" and x["to"] == "Deployment team/cache"]
sys.exit(0 if c[0]["verdict"] == "allowed" and c[0]["text"] == "TCP/6379" else 1)' "$TMP/out" && ok "netmap --pod-cidr: web to cache allowed" ||
  bad "netmap --pod-cidr: web to cache" "$(cat "$TMP/out" | head -50)"
expect_exit "netmap: no input is a usage error" 2 "$BIN" netmap -n team
expect_exit "netmap: files and --cluster is a usage error" 2 "$BIN" netmap -n team --cluster $NF
expect_exit "netmap: several namespaces need -n" 2 "$BIN" netmap $EX
grep -q "pick a namespace with -n" "$TMP/err" && ok "netmap names the namespaces" || bad "netmap -n message" "$(cat "$TMP/err")"
expect_exit "netmap: a namespace without pods (a typo) is a usage error" 2 "$BIN" netmap -n tem $NF
grep -q "no pods or pod templates in namespace tem (the input has pods in kube-system, team)" "$TMP/err" &&
  ok "netmap names the namespaces with pods" || bad "netmap empty namespace message" "$(cat "$TMP/err")"
expect_exit "netmap: missing file" 2 "$BIN" netmap -n team /no/such/file.yaml
expect_exit "netmap: bad format" 2 "$BIN" netmap -n team -f svg $NF
expect_exit "netmap --cluster: bad kubeconfig" 2 "$BIN" netmap -n team --cluster --kubeconfig /no/such/kubeconfig
expect_exit "netmap --help" 0 "$BIN" netmap --help
grep -q "np-guard" "$TMP/out" && ok "netmap --help states the port choice" || bad "netmap --help" "$(cat "$TMP/out")"
# netmap --cluster against a real API server: tests/cluster/test_netmap.sh (ctest -L cluster)

if command -v dot >/dev/null; then
  for f in "$TMP/netmap.dot" "$GOLDEN/netmap-examples.dot"; do
    dot -Tsvg "$f" >"$TMP/netmap.svg" 2>"$TMP/dot.err" && [ ! -s "$TMP/dot.err" ] && grep -q "<svg" "$TMP/netmap.svg" &&
      ok "dot -Tsvg renders $(basename "$f")" || bad "dot -Tsvg $(basename "$f")" "$(cat "$TMP/dot.err")"
  done
else
  echo "skip dot -Tsvg (graphviz not installed; scripts/setup-deps.sh installs it)"
fi

# --threads (issue 19): the network pass and the reports run on several
# threads; the bytes are those of one, in every format, with and without
# --all-pods. 3,000 generated objects: ~7,000 findings, many report blocks.
python3 bench/gen_corpus.py -o "$TMP/corpus.yaml" 3000 >/dev/null
for fmt in json text sarif junit; do
  for ap in "" --all-pods; do
    "$BIN" lint -f "$fmt" --fail-on none --threads 1 $ap "$TMP/corpus.yaml" >"$TMP/threads-1" 2>&1
    same=yes
    for t in 2 3; do
      "$BIN" lint -f "$fmt" --fail-on none --threads $t $ap "$TMP/corpus.yaml" >"$TMP/threads-$t" 2>&1
      cmp -s "$TMP/threads-1" "$TMP/threads-$t" || same="no (--threads $t)"
    done
    [ "$same" = yes ] && [ "$(wc -c <"$TMP/threads-1")" -gt 1000000 ] &&
      ok "--threads 1, 2, 3: same $fmt report ${ap:-(agents only)}" ||
      bad "--threads: $fmt ${ap} differs: $same" "$(diff "$TMP/threads-1" "$TMP/threads-2" | head -20)"
  done
done

summary
