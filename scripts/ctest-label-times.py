#!/usr/bin/env python3
"""Sums a ctest run's test times per label: ctest-label-times.py BUILD_DIR JUNIT_XML.

The times come from ctest's --output-junit file, the labels from `ctest --show-only=json-v1`. A test with two
labels counts in both; prints "label seconds" lines, slowest first."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict

build, junit = sys.argv[1], sys.argv[2]
info = json.loads(subprocess.run(["ctest", "--test-dir", build, "--show-only=json-v1"], check=True,
                                 capture_output=True, text=True).stdout)
labels = {}
for t in info.get("tests", []):
    names = []
    for p in t.get("properties", []):
        if p.get("name") == "LABELS":
            names = p.get("value") or []
    labels[t["name"]] = names or ["(none)"]
totals = defaultdict(float)
for case in ET.parse(junit).getroot().iter("testcase"):
    for label in labels.get(case.get("name"), ["(none)"]):
        totals[label] += float(case.get("time") or 0)
for label, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(label, round(secs))
