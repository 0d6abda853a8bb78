#!/usr/bin/env bash
# CTest entry (label yaml-diff): loki-audit's YAML alias limit against
# kubectl's decoder (sigs.k8s.io/yaml over gopkg.in/yaml.v2), through the
# pinned driver of tests/netpol-diff (its `yaml-decode` mode).
#   tests/yaml-diff/run.sh build/bin/loki-audit
#   YAML_DIFF_DOCUMENTS=3000 YAML_DIFF_SEED=7 tests/yaml-diff/run.sh build/bin/loki-audit
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
loki="${1:?usage: run.sh path/to/loki-audit}"
driver="$("$here/../netpol-diff/find-driver.sh" yaml-diff)"
exec python3 "$here/yaml_diff.py" --loki "$loki" --driver "$driver" \
  --documents "${YAML_DIFF_DOCUMENTS:-300}" --seed "${YAML_DIFF_SEED:-1}"
