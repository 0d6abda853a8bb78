#!/usr/bin/env bash
# Every rule in the registry (`loki-audit rules -f json`) must have
#  - a fixture tests/fixtures/rules/<id>.yaml that `loki-audit lint` flags with
#    exactly that id, plus the ids its `# also: ID...` comment line names
#    (linted with the rule enabled, so rules that are off by default count);
#  - a positive and a negative unit test: a comment line
#    `// rule: <id> positive` / `// rule: <id> negative` in tests/unit/*.cpp
#    right above the test case, subcase or assertion that shows it.
# Every missing piece is listed; fixtures and markers naming no registered rule
# fail too (a renamed rule leaves them behind).
#
#   tests/rules/coverage.sh path/to/loki-audit
set -uo pipefail
BIN=${1:?usage: coverage.sh path/to/loki-audit}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
cd "$ROOT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FIX=tests/fixtures/rules
UNIT=(tests/unit/*.cpp)

rule_ids() { python3 -c 'import json, sys; print(" ".join(sorted({f["rule"] for f in json.load(sys.stdin)["findings"]})))'; }

ids=$("$BIN" rules -f json | python3 -c 'import json, sys; print("\n".join(r["id"] for r in json.load(sys.stdin)))')
[ -n "$ids" ] || bad "loki-audit rules -f json lists no rule"
for id in $ids; do
  missing=0
  f=$FIX/$id.yaml
  if [ ! -f "$f" ]; then
    bad "$id: no fixture $f"
    missing=1
  else
    want=$({ echo "$id"; sed -n 's/^# also: \([a-z0-9 -]*\).*/\1/p' "$f" | tr ' ' '\n'; } | grep . | sort -u | xargs)
    printf 'rules: {%s: {enabled: true}}\n' "$id" >"$TMP/config.yaml"
    got=$("$BIN" lint -f json --fail-on none --config "$TMP/config.yaml" "$f" | rule_ids)
    if [ "$want" != "$got" ]; then
      bad "$id: $f does not trigger exactly its rule" "want: $want"$'\n'"got:  $got"
      missing=1
    fi
  fi
  for kind in positive negative; do
    if ! grep -qE "^[[:space:]]*// rule: $id $kind[[:space:]]*$" "${UNIT[@]}"; then
      bad "$id: no $kind unit test (a '// rule: $id $kind' line in tests/unit/*.cpp)"
      missing=1
    fi
  done
  [ "$missing" = 1 ] || ok "$id: fixture, positive and negative unit tests"
done

for f in "$FIX"/*.yaml; do
  grep -qxF "$(basename "$f" .yaml)" <<<"$ids" || bad "$f: no rule $(basename "$f" .yaml) in the registry"
done
while read -r id; do
  grep -qxF "$id" <<<"$ids" || bad "tests/unit: '// rule: $id' names no rule in the registry"
done < <(grep -ohE "^[[:space:]]*// rule: [^ ]+ (positive|negative)" "${UNIT[@]}" | awk '{print $3}' | sort -u)

summary
