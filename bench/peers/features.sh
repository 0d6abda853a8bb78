#!/usr/bin/env bash
# Feature matrix of `loki-audit lint` and its peers, measured by running every
# tool on the fixtures in bench/peers/fixtures/ (see fixtures/gen.py and
# fixtures/cases.tsv) and on manifests/examples/{broken,hardened}/.
#
# Tools (a column each; "n/a" when its binary is not there):
#   loki-audit   build/bin/loki-audit lint --all-pods           (the reference)
#   conftest     conftest test --namespace loki --policy rego/   (bench/peers/rego/loki.rego)
#   opa          opa eval data.loki.admission.deny on an AdmissionReview per object
#   kyverno      kubectl-kyverno apply kyverno/policies.yaml --resource FILE
#   kube-score   kube-score score (its defaults)
#   kubeconform  kubeconform -strict -ignore-missing-schemas, with the schemas
#                build.sh generated offline ($KUBECONFORM_SCHEMAS overrides the dir)
#   kube-linter  kube-linter lint --config kube-linter.yaml
#   polaris      polaris audit --audit-path FILE (its defaults)
#
# Rows (TSV, '#' lines are comments):
#   <case> from fixtures/cases.tsv  mode detect: "yes" if the tool reports a
#       finding on the variant's workload that it does not report on the
#       reference (mapped to the case's loki-audit rule id when the case names
#       one; rule-map.tsv maps peer check ids); mode clean: "yes" if it reports
#       nothing extra (no false positive)
#   hardened-example   "yes" if no finding mapped to a loki-audit rule on
#       manifests/examples/hardened/loki-agent.yaml, else the rule ids found
#   broken:<file>      the loki-audit rule ids (mapped) the tool reports on
#       manifests/examples/broken/<file>, comma-separated ("-" for none)
#   broken:all         their union
# A tool that failed to run on a file gives "error".
#
# Usage: features.sh [OUT.tsv]   (default bench/out/peers-features.tsv;
#        "-" for stdout). Raw outputs stay in $FEATURES_KEEP if set.
# Environment: LOKI_TOOLS_CACHE / PEERS_BIN (bin dir of build.sh), LOKI_AUDIT.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bindir="${PEERS_BIN:-${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/peers/bin}"
loki="${LOKI_AUDIT:-$root/build/bin/loki-audit}"
out="${1:-$root/bench/out/peers-features.tsv}"

work="${FEATURES_KEEP:-$(mktemp -d)}"
mkdir -p "$work"
[[ -n "${FEATURES_KEEP:-}" ]] || trap 'rm -rf "$work"' EXIT

tools=(loki-audit conftest opa kyverno kube-score kubeconform kube-linter polaris)
bin_of() {
  case "$1" in
    loki-audit) echo "$loki" ;;
    kyverno) echo "$bindir/kubectl-kyverno" ;;
    *) echo "$bindir/$1" ;;
  esac
}

files=()
for f in "$here"/fixtures/*.yaml "$root"/manifests/examples/broken/*.yaml "$root"/manifests/examples/hardened/loki-agent.yaml; do
  files+=("$f")
done

# Each tool's raw output for each file: $work/raw/<tool>/<id>.out (+ .err, .rc),
# id = fixtures__x.yaml, broken__x.yaml, hardened__x.yaml.
id_of() {
  case "$1" in
    "$here"/fixtures/*) echo "fixtures__$(basename "$1")" ;;
    */examples/broken/*) echo "broken__$(basename "$1")" ;;
    *) echo "hardened__$(basename "$1")" ;;
  esac
}

# kubeconform only ever gets the local schemas build.sh generated (without a
# -schema-location it would download them); no schemas, no kubeconform column.
# shellcheck source=versions.env
source "$here/versions.env"
schemas="${KUBECONFORM_SCHEMAS:-${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/peers/kubeconform-schemas/$KUBECONFORM_K8S_VERSION}"
kubeconform_ok=0
[[ -d "$schemas/standalone-strict" ]] && kubeconform_ok=1

run_tool() { # tool bin file
  local tool="$1" bin="$2" f="$3"
  case "$tool" in
    loki-audit) "$bin" lint --all-pods --fail-on none -f json --color never "$f" ;;
    conftest) "$bin" test --no-color --namespace loki --policy "$here/rego" -o json "$f" ;;
    opa)
      python3 "$here/features.py" reviews "$f" > "$work/review.json"
      "$bin" eval -f json -d "$here/rego" -i "$work/review.json" \
        '[m | some r in input; some m in data.loki.admission.deny with input as r]' ;;
    kyverno) "$bin" apply "$here/kyverno/policies.yaml" --resource "$f" --policy-report --output-format json ;;
    kube-score) "$bin" score -o json "$f" ;;
    kubeconform) # as usually run: strict, CRDs without a schema skipped
      "$bin" -strict -ignore-missing-schemas -output json -summary=false \
        -kubernetes-version "${KUBECONFORM_K8S_VERSION#v}" \
        -schema-location "$schemas/standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$f" ;;
    kube-linter) "$bin" lint --config "$here/kube-linter.yaml" --format json "$f" ;;
    polaris) "$bin" audit --audit-path "$f" --format json ;;
  esac
}

versions="$work/versions.tsv"
: > "$versions"
for tool in "${tools[@]}"; do
  bin="$(bin_of "$tool")"
  if [[ ! -x "$bin" ]] || [[ "$tool" == kubeconform && "$kubeconform_ok" != 1 ]]; then
    printf '%s\tn/a\n' "$tool" >> "$versions"
    continue
  fi
  # (whole output first: `| head -n1` could SIGPIPE the tool under pipefail)
  case "$tool" in
    kube-score | kyverno | opa) v="$("$bin" version 2>&1 || true)" ;;
    kubeconform) v="$("$bin" -v 2>&1 || true)" ;;
    *) v="$("$bin" --version 2>&1 || true)" ;;
  esac
  v="$(printf '%s\n' "$v" | grep -m1 -i -E 'version|[0-9]+\.[0-9]+' || true)"
  printf '%s\t%s\n' "$tool" "${v:-?}" >> "$versions"
  mkdir -p "$work/raw/$tool"
  for f in "${files[@]}"; do
    id="$(id_of "$f")"
    rc=0
    run_tool "$tool" "$bin" "$f" > "$work/raw/$tool/$id.out" 2> "$work/raw/$tool/$id.err" || rc=$?
    echo "$rc" > "$work/raw/$tool/$id.rc"
  done
done

if [[ "$out" == - ]]; then
  python3 "$here/features.py" matrix "$work" "$here" "${tools[@]}"
else
  mkdir -p "$(dirname "$out")"
  python3 "$here/features.py" matrix "$work" "$here" "${tools[@]}" > "$out.tmp"
  mv -f "$out.tmp" "$out"
  echo "features: wrote $out" >&2
fi
