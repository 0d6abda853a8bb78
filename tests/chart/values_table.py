#!/usr/bin/env python3
"""The chart README's values table, generated from values.yaml's "# --" comments.

  values_table.py CHART_DIR            print the table
  values_table.py CHART_DIR --check    exit 1 when README.md's table differs
  values_table.py CHART_DIR --write    rewrite the table in README.md

A "# -- text" comment (continued by following "# " lines) documents the next
key; the key's path comes from indentation, its default from the parsed YAML.
The table sits between <!-- values-table:start --> and <!-- values-table:end -->.
"""
import json
import re
import sys
from pathlib import Path

import yaml

START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"


def documented_keys(text):
    stack, pending, out = [], None, []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[4:].strip()
            continue
        if pending is not None and stripped.startswith("#"):
            pending += " " + stripped.lstrip("#").strip()
            continue
        m = re.match(r"^( *)([A-Za-z0-9_.-]+):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending is not None:
            out.append((".".join(k for _, k in stack), pending))
            pending = None
    return out


def lookup(values, path):
    v = values
    for part in path.split("."):
        v = v[part]
    return v


def type_of(v):
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "object"}.get(type(v), "null")


def table(chart):
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    rows = ["| key | type | default | description |", "|---|---|---|---|"]
    for path, desc in documented_keys(text):
        v = lookup(values, path)
        default = json.dumps(v, separators=(",", ":")).replace("|", "\\|")
        desc = desc.replace("|", "\\|")
        rows.append(f"| `{path}` | {type_of(v)} | `{default}` | {desc} |")
    return "\n".join(rows) + "\n"


def undocumented(chart):
    """Leaf keys of values.yaml that neither they nor an ancestor document."""
    text = (chart / "values.yaml").read_text()
    docs = {p for p, _ in documented_keys(text)}
    missing = []

    def walk(v, path):
        if path and any(".".join(path[:i]) in docs for i in range(1, len(path) + 1)):
            return
        if isinstance(v, dict) and v:
            for k, sub in v.items():
                walk(sub, path + [k])
        elif path:
            missing.append(".".join(path))

    walk(yaml.safe_load(text), [])
    return missing


def main():
    chart = Path(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    t = table(chart)
    if not mode:
        sys.stdout.write(t)
        return 0
    readme = chart / "README.md"
    doc = readme.read_text()
    if START not in doc or END not in doc:
        print(f"{readme}: no {START} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = doc.split(START, 1)
    current, tail = rest.split(END, 1)
    if mode == "--write":
        readme.write_text(head + START + "\n" + t + END + tail)
        return 0
    missing = undocumented(chart)
    if missing:
        print(f"{chart}/values.yaml: keys without a '# --' description: {', '.join(missing)}", file=sys.stderr)
        return 1
    if current.strip() != t.strip():
        print(f"{readme}: the values table is out of date with values.yaml; run tests/chart/values_table.py "
              f"{chart} --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
