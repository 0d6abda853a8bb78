#!/usr/bin/env bash
# The pre-commit hooks of .pre-commit-hooks.yaml, run by the real pre-commit in
# a scratch git repository: a clean manifest, a broken one and YAML that is not
# Kubernetes (a workflow, Helm values and chart files, a Kustomization,
# .pre-commit-config.yaml itself). Offline: the hook repository is a local
# scratch clone of this checkout's hook files (so uncommitted edits are what is
# tested), and the hooks install nothing.
#
#   tests/integrations/precommit_hook.sh build/bin    (the dir with loki-audit)
#
# pre-commit comes from the test-tools venv (scripts/setup-test-tools.sh) or
# $PRE_COMMIT; without it the test is skipped (exit 77).
set -uo pipefail
BIN_DIR=$(cd "${1:?usage: precommit_hook.sh BIN_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PRE_COMMIT=${PRE_COMMIT:-${LOKI_TOOLS_CACHE:-$HOME/.cache/loki-guard}/venv/bin/pre-commit}
if [ ! -x "$PRE_COMMIT" ]; then
  echo "skip: no pre-commit at $PRE_COMMIT (run scripts/setup-test-tools.sh)"
  exit 77
fi
[ -x "$BIN_DIR/loki-audit" ] || { echo "FAIL no $BIN_DIR/loki-audit"; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# shellcheck source=../lib.sh
source "$ROOT/tests/lib.sh"
bad_lines=60

# Hermetic git and pre-commit: no user or system config, a private store.
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.invalid
export PRE_COMMIT_HOME=$TMP/pre-commit-home PRE_COMMIT_COLOR=never
unset LOKI_AUDIT_BIN LOKI_AUDIT_BUILD_DIR
echo "pre-commit: $("$PRE_COMMIT" --version)"

"$PRE_COMMIT" validate-manifest "$ROOT/.pre-commit-hooks.yaml" >"$TMP/validate" 2>&1 &&
  ok "pre-commit validate-manifest .pre-commit-hooks.yaml" || bad "validate-manifest" "$(cat "$TMP/validate")"

# The hook repository: this checkout's hook manifest and hook script, committed.
HOOKS=$TMP/hook-repo
mkdir -p "$HOOKS/scripts"
cp "$ROOT/.pre-commit-hooks.yaml" "$HOOKS/"
cp -p "$ROOT/scripts/pre-commit-lint.sh" "$HOOKS/scripts/"
git -C "$HOOKS" init -q
git -C "$HOOKS" add -A
git -C "$HOOKS" commit -q -m hooks
REV=$(git -C "$HOOKS" rev-parse HEAD)

# The repository being committed to.
W=$TMP/work
mkdir -p "$W/deploy" "$W/.github/workflows" "$W/charts/agent/templates"
cp "$ROOT/manifests/examples/hardened/loki-agent.yaml" "$W/deploy/loki-agent.yaml"
cp "$ROOT/manifests/examples/broken/host-network-model-backend.yaml" "$W/deploy/host-network-model-backend.yaml"
cat >"$W/.github/workflows/ci.yml" <<'YAML'
name: ci
on: [push, pull_request]
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: make lint
YAML
printf '# settings of some tool\nreplicaCount: 2\nimage:\n  repository: nginx\n  tag: "1.27"\n' >"$W/values.yaml"
printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [deploy/loki-agent.yaml]\n' \
  >"$W/kustomization.yaml"
printf 'apiVersion: v2\nname: agent\nversion: 0.1.0\n' >"$W/charts/agent/Chart.yaml"
printf 'replicas: 1\n' >"$W/charts/agent/values.yaml"
printf '{{- if .Values.enabled }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n{{- end }}\n' \
  >"$W/charts/agent/templates/deployment.yaml"
printf 'kind: notes, not a manifest\n' >"$W/NOTES.txt"
config() {  # hook id, extra hook keys (YAML lines, indented 8)
  printf 'repos:\n  - repo: %s\n    rev: %s\n    hooks:\n      - id: %s\n%s' "$HOOKS" "$REV" "$1" "${2:-}" \
    >"$W/.pre-commit-config.yaml"
}
config loki-audit-lint
git -C "$W" init -q
git -C "$W" add -A
NONK8S=(.github/workflows/ci.yml values.yaml kustomization.yaml .pre-commit-config.yaml
  charts/agent/Chart.yaml charts/agent/values.yaml charts/agent/templates/deployment.yaml)

run() {  # name want_exit cmd...  (output in $TMP/out)
  local name=$1 want=$2
  shift 2
  (cd "$W" && "$@") >"$TMP/out" 2>&1
  local got=$?
  if [ "$got" = "$want" ]; then ok "$name (exit $got)"; else bad "$name: exit $got, want $want" "$(cat "$TMP/out")"; fi
}
has() {  # name pattern
  if grep -qE -- "$2" "$TMP/out"; then ok "$1"; else bad "$1: no /$2/ in the output" "$(cat "$TMP/out")"; fi
}
WITH_BIN=(env "PATH=$BIN_DIR:$PATH")
BROKEN_FINDING='deploy/host-network-model-backend\.yaml:[0-9]+: error \[host-network\]'

# ---- loki-audit-lint (language: system, loki-audit on PATH) ----------------------
run "try-repo: a broken manifest fails the hook" 1 "${WITH_BIN[@]}" "$PRE_COMMIT" try-repo "$HOOKS" loki-audit-lint \
  --ref "$REV" --files deploy/host-network-model-backend.yaml deploy/loki-agent.yaml "${NONK8S[@]}"
has "try-repo: the output names the broken file's finding" "$BROKEN_FINDING"
has "try-repo: the hook is reported Failed" '^loki-audit lint\.+Failed'
if grep -qE 'loki-agent\.yaml:[0-9]+: (error|warning)|values\.yaml:|ci\.yml:|kustomization\.yaml:' "$TMP/out"; then
  bad "try-repo: only the broken manifest has findings" "$(cat "$TMP/out")"
else
  ok "try-repo: only the broken manifest has findings"
fi

run "run --files: clean manifest and other YAML pass" 0 "${WITH_BIN[@]}" "$PRE_COMMIT" run --verbose \
  --files deploy/loki-agent.yaml "${NONK8S[@]}"
has "run --files: the hook is reported Passed" '^loki-audit lint\.+Passed'
has "run --files: the other YAML was passed to loki-audit and skipped" \
  '5 objects \(4 documents skipped: not Kubernetes API objects\)'
has "run --files: the chart's files are skipped with a note" 'charts/agent: Helm chart skipped \(3 files of it named\)'

run "run --files: only other YAML passes" 0 "${WITH_BIN[@]}" "$PRE_COMMIT" run --files "${NONK8S[@]}"
run "run --files: a file that is not .yaml/.yml/.json is not passed" 0 "${WITH_BIN[@]}" "$PRE_COMMIT" run \
  --files NOTES.txt
has "run --files NOTES.txt: no files to check" 'no files to check.*Skipped'

run "run --all-files fails on the broken manifest" 1 "${WITH_BIN[@]}" "$PRE_COMMIT" run --all-files
has "run --all-files names the finding" "$BROKEN_FINDING"

# Without loki-audit on PATH, language: system says so (unless one is installed system-wide).
if ! PATH=$(dirname "$(command -v git)"):/usr/bin:/bin command -v loki-audit >/dev/null; then
  run "no loki-audit on PATH: the hook fails" 1 env "PATH=$(dirname "$(command -v git)"):/usr/bin:/bin" \
    "$PRE_COMMIT" run --files deploy/loki-agent.yaml
  has "no loki-audit on PATH: pre-commit names the executable" 'Executable `loki-audit` not found'
fi

# The documented whole-tree mode: pass_filenames: false, args: [the manifests dir].
config loki-audit-lint "        pass_filenames: false
        args: [deploy/]
"
run "args: [deploy/], pass_filenames: false lints the tree" 1 "${WITH_BIN[@]}" "$PRE_COMMIT" run --files values.yaml
has "whole-tree mode names the finding" "$BROKEN_FINDING"

# ---- loki-audit-lint-build (language: script), with the build short-circuited ----
config loki-audit-lint-build
run "build hook (LOKI_AUDIT_BIN): the broken manifest fails" 1 env "LOKI_AUDIT_BIN=$BIN_DIR/loki-audit" \
  "$PRE_COMMIT" run --files deploy/host-network-model-backend.yaml "${NONK8S[@]}"
has "build hook: the output names the finding" "$BROKEN_FINDING"
run "build hook (LOKI_AUDIT_BIN): clean and other files pass" 0 env "LOKI_AUDIT_BIN=$BIN_DIR/loki-audit" \
  "$PRE_COMMIT" run --files deploy/loki-agent.yaml "${NONK8S[@]}"

summary
