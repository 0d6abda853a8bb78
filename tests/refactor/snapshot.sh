#!/usr/bin/env bash
# Captures what a behaviour-preserving refactoring must leave byte-identical:
# loki-audit's lint reports (text/json/sarif/junit, with and without
# --all-pods), rules listings, explain and netmap answers, and the webhook's
# AdmissionReview responses to the admission fuzz corpora.
#   tests/refactor/snapshot.sh build/bin /tmp/snap-before
#   ... refactor, rebuild ...
#   tests/refactor/snapshot.sh build/bin /tmp/snap-after && diff -r /tmp/snap-before /tmp/snap-after
# Needs the loki-audit and loki-admission-snapshot targets built.
set -uo pipefail
BIN=$(cd "${1:?usage: snapshot.sh BIN_DIR OUT_DIR}" && pwd)
OUT=${2:?usage: snapshot.sh BIN_DIR OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
AUDIT=$BIN/loki-audit
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cd "$ROOT"

# run NAME CMD...: stdout, stderr and exit code of one command, under OUT.
run() {
  local name=$1
  shift
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"
  echo $? >"$OUT/$name.rc"
}

INPUTS=(tests/fixtures/lint/pods.yaml tests/fixtures/lint/invalid.yaml tests/fixtures/lint/helm-output.yaml
  tests/fixtures/lint/warning-only.yaml tests/fixtures/explain tests/fixtures/netmap tests/fixtures/rules
  manifests/examples/hardened manifests/examples/broken bench/peers/fixtures)
i=0
for input in "${INPUTS[@]}"; do
  i=$((i + 1))
  for fmt in text json sarif junit; do
    run "lint-$i-$fmt" "$AUDIT" lint --color never --threads 1 -f "$fmt" "$input"
    run "lint-$i-$fmt-all-pods" "$AUDIT" lint --color never --threads 1 --all-pods -f "$fmt" "$input"
  done
done
# Every rule fixture alone (each rule's own findings, no neighbours).
for f in tests/fixtures/rules/*.yaml; do
  run "rule-$(basename "$f" .yaml)" "$AUDIT" lint --color never --threads 1 -f json "$f"
done
run lint-all-inputs "$AUDIT" lint --color never -f json "${INPUTS[@]}"
run rules "$AUDIT" rules
run rules-markdown "$AUDIT" rules -f markdown
run rules-json "$AUDIT" rules -f json

XF=tests/fixtures/explain/end-to-end.yaml
run explain-1 "$AUDIT" explain pod/web -n app --to pod/pg:postgres --to-namespace db $XF
run explain-2 "$AUDIT" explain pod/other -n app --to pod/pg:5432 --to-namespace db $XF
run explain-3 "$AUDIT" explain pod/web -n app --to api.anthropic.com:443 $XF
run explain-4 "$AUDIT" explain pod/web -n app --to deployment/cache:443 --to-namespace db $XF
run explain-5 "$AUDIT" explain pod/web -n app --to deployment/cache:443 --to-namespace db --pod-cidr fd00:10:244::/56 $XF
run explain-6 "$AUDIT" explain pod/web -n app --to deployment/cache:443 --to-namespace db --pod-cidr 10.244.0.0/16 $XF
run explain-7 "$AUDIT" explain pod/other -n app --to pod/pg:postgres --to-namespace db -f json $XF
run explain-8 "$AUDIT" explain pod/web -n app $XF
run explain-9 "$AUDIT" explain pod/web -n app -f json $XF
for fmt in text json dot; do
  run "netmap-team-$fmt" "$AUDIT" netmap -n team -f "$fmt" tests/fixtures/netmap/team.yaml
done

# The webhook: mutate and validate on every review of the admission corpus,
# and on every object of the mutate_patch corpus wrapped in a CREATE review.
run admission "$BIN/loki-admission-snapshot" tests/fuzz/corpus/admission/* tests/fuzz/corpus/mutate_patch/*
echo "snapshot: $(find "$OUT" -type f | wc -l) files in $OUT"
