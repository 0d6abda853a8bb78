#!/usr/bin/env python3
"""Runs a composite GitHub Action (action.yml) locally, the way GitHub's runner
does, so its shell steps can be tested without GitHub:

- steps run in order in the workspace; `run:` steps with their `shell`
  (bash: `bash --noprofile --norc -eo pipefail FILE`, as the runner does);
- `${{ ... }}` expressions in `run`, `env`, `with`, `working-directory` and
  `if` are evaluated over the inputs (defaults applied), github.*, runner.*,
  env.* and steps.<id>.outputs/outcome/conclusion; `if:` without a status
  function means `success() && (...)`;
- GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH and GITHUB_STEP_SUMMARY files are
  honoured (name=value and name<<DELIMITER forms);
- `uses:` steps are not run (that needs GitHub's action cache, marketplace,
  network): each is logged and counts as skipped;
- the action's outputs are evaluated at the end, failure or not.

  run_action.py ACTION_DIR --workspace DIR [--input NAME=VALUE]... [--env NAME=VALUE]...
                [--temp DIR] [--result FILE.json]

Exit status: 0 when the action succeeded, 1 when a step failed, 2 on a usage
error. --result writes {"conclusion", "outputs", "steps": [...]} as JSON.
Only PyYAML beyond the standard library.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

# ---- expressions ---------------------------------------------------------------


class ExprError(Exception):
    pass


TOKEN = re.compile(
    r"\s*(?:(?P<num>-?\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|<=|>=|&&|\|\||[!<>().,\[\]*])"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_-]*))"
)


def tokenize(text):
    pos, out = 0, []
    text = text.strip()
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExprError(f"cannot parse expression at {text[pos:]!r}")
        pos = m.end()
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
    return out


def truthy(v):
    return not (v is None or v is False or v == "" or (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0))


def to_str(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return str(v)


def to_num(v):
    if v is None:
        return 0
    if isinstance(v, bool):
        return 1 if v else 0
    if isinstance(v, (int, float)):
        return v
    try:
        return float(v.strip()) if v.strip() else 0
    except (ValueError, AttributeError):
        return float("nan")


def equal(a, b):
    # GitHub compares strings case-insensitively and coerces mixed types to numbers.
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if type(a) is type(b):
        return a == b
    return to_num(a) == to_num(b)


class Evaluator:
    """Recursive descent over GitHub's expression grammar (the subset actions use)."""

    def __init__(self, contexts, status):
        self.contexts = contexts
        self.status = status  # "success", "failure" or "cancelled": the action so far

    def evaluate(self, text):
        self.tokens = tokenize(text)
        self.i = 0
        v = self.or_()
        if self.i != len(self.tokens):
            raise ExprError(f"unexpected {self.tokens[self.i][1]!r} in {text!r}")
        return v

    def peek(self, value=None):
        if self.i >= len(self.tokens):
            return None
        t = self.tokens[self.i]
        return t if value is None or t[1] == value else None

    def take(self, value):
        if not self.peek(value):
            raise ExprError(f"expected {value!r}")
        self.i += 1

    def or_(self):
        v = self.and_()
        while self.peek("||"):
            self.i += 1
            rhs = self.and_()
            v = v if truthy(v) else rhs
        return v

    def and_(self):
        v = self.cmp()
        while self.peek("&&"):
            self.i += 1
            rhs = self.cmp()
            v = rhs if truthy(v) else v
        return v

    def cmp(self):
        v = self.unary()
        while self.peek() and self.peek()[1] in ("==", "!=", "<", ">", "<=", ">="):
            op = self.tokens[self.i][1]
            self.i += 1
            rhs = self.unary()
            if op == "==":
                v = equal(v, rhs)
            elif op == "!=":
                v = not equal(v, rhs)
            else:
                a, b = to_num(v), to_num(rhs)
                v = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return v

    def unary(self):
        if self.peek("!"):
            self.i += 1
            return not truthy(self.unary())
        return self.primary()

    def primary(self):
        t = self.peek()
        if t is None:
            raise ExprError("unexpected end of expression")
        kind, val = t
        self.i += 1
        if kind == "num":
            return float(val) if "." in val else int(val)
        if kind == "str":
            return val[1:-1].replace("''", "'")
        if val == "(":
            v = self.or_()
            self.take(")")
            return v
        if kind != "id":
            raise ExprError(f"unexpected {val!r}")
        if val in ("true", "false"):
            return val == "true"
        if val == "null":
            return None
        if self.peek("("):
            return self.call(val)
        v = self.contexts.get(val)
        while True:
            if self.peek("."):
                self.i += 1
                name = self.tokens[self.i][1]
                self.i += 1
                v = v.get(name) if isinstance(v, dict) else None
            elif self.peek("["):
                self.i += 1
                key = self.or_()
                self.take("]")
                v = v.get(to_str(key)) if isinstance(v, dict) else None
            else:
                return v

    def call(self, name):
        self.take("(")
        args = []
        while not self.peek(")"):
            args.append(self.or_())
            if self.peek(","):
                self.i += 1
        self.take(")")
        fn = name.lower()
        if fn == "always":
            return True
        if fn == "success":
            return self.status == "success"
        if fn == "failure":
            return self.status == "failure"
        if fn == "cancelled":
            return self.status == "cancelled"
        if fn == "contains":
            hay, needle = args
            if isinstance(hay, list):
                return any(equal(x, needle) for x in hay)
            return to_str(needle).casefold() in to_str(hay).casefold()
        if fn == "startswith":
            return to_str(args[0]).casefold().startswith(to_str(args[1]).casefold())
        if fn == "endswith":
            return to_str(args[0]).casefold().endswith(to_str(args[1]).casefold())
        if fn == "format":
            out = to_str(args[0])
            for n, a in enumerate(args[1:]):
                out = out.replace("{" + str(n) + "}", to_str(a))
            return out
        if fn == "tojson":
            return json.dumps(args[0], indent=2)
        if fn == "fromjson":
            return json.loads(to_str(args[0]))
        raise ExprError(f"function {name}() is not supported by this runner")


TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.S)


def substitute(text, ev):
    return TEMPLATE.sub(lambda m: to_str(ev.evaluate(m.group(1))), text)


def condition(text, ev):
    expr = text.strip()
    m = TEMPLATE.fullmatch(expr)
    if m:
        expr = m.group(1)
    if not re.search(r"\b(always|success|failure|cancelled)\s*\(", expr):
        expr = f"success() && ({expr})"
    return truthy(ev.evaluate(expr))


# ---- file commands ---------------------------------------------------------------


def read_file_command(path):
    """name=value lines and name<<DELIM ... DELIM blocks, as GITHUB_OUTPUT/GITHUB_ENV."""
    out = {}
    if not os.path.exists(path):
        return out
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            value = []
            while i < len(lines) and lines[i] != delim:
                value.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ExprError(f"{path}: no closing {delim!r} for {name}")
            i += 1
            out[name] = "\n".join(value)
        elif "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        else:
            raise ExprError(f"{path}: invalid line {line!r}")
    return out


SHELLS = {
    "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"],
    "sh": ["sh", "-e", "{0}"],
    "python": ["python3", "{0}"],
}


def log(msg):
    print(f"[run_action] {msg}", flush=True)


def run_action(action_dir, workspace, inputs, extra_env, temp):
    action = yaml.safe_load(open(os.path.join(action_dir, "action.yml"), encoding="utf-8"))
    runs = action.get("runs", {})
    if runs.get("using") != "composite":
        raise ExprError("only composite actions are supported")
    declared = action.get("inputs") or {}
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ExprError(f"unknown inputs: {', '.join(sorted(unknown))}")
    values = {name: to_str(spec.get("default", "")) for name, spec in declared.items()}
    values.update(inputs)
    for name, spec in declared.items():
        if spec.get("required") and not values.get(name):
            raise ExprError(f"input {name} is required")

    os.makedirs(temp, exist_ok=True)
    env = dict(os.environ)
    env.update(extra_env)
    env.update(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": workspace,
            "GITHUB_ACTION_PATH": action_dir,
            "RUNNER_TEMP": temp,
            "RUNNER_OS": "Linux",
            "RUNNER_ARCH": "X64",
        }
    )
    summary = os.path.join(temp, "step-summary.md")
    open(summary, "a").close()
    contexts = {
        "inputs": values,
        "github": {"action_path": action_dir, "workspace": workspace, "event_name": "push", "action": "__self"},
        "runner": {"temp": temp, "os": "Linux", "arch": "X64", "tool_cache": os.path.join(temp, "tool-cache")},
        "env": env,
        "steps": {},
    }
    status = "success"
    results = []
    for n, step in enumerate(runs.get("steps") or []):
        sid = step.get("id") or f"__step{n}"
        label = step.get("name") or step.get("uses") or (step.get("run") or "").split("\n")[0]
        ev = Evaluator(contexts, status)
        record = {"id": step.get("id"), "name": label, "outcome": "skipped"}
        results.append(record)
        contexts["steps"][sid] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
        if not condition(to_str(step.get("if", "success()")), ev):
            log(f"step {label!r}: skipped (if: {step.get('if', 'success()')})")
            continue
        if "uses" in step:
            with_ = {k: substitute(to_str(v), ev) for k, v in (step.get("with") or {}).items()}
            log(f"step {label!r}: skipped, `uses: {step['uses']}` is not run here (with: {json.dumps(with_)})")
            record["with"] = with_
            continue
        shell = step.get("shell")
        if shell not in SHELLS:
            raise ExprError(f"step {label!r}: shell {shell!r} is not supported (composite run steps need one)")
        step_env = dict(env)
        step_env.update({k: substitute(to_str(v), ev) for k, v in (step.get("env") or {}).items()})
        files = {}
        for var in ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH"):
            fd, files[var] = tempfile.mkstemp(prefix=var.lower() + "-", dir=temp)
            os.close(fd)
            step_env[var] = files[var]
        step_env["GITHUB_STEP_SUMMARY"] = summary
        fd, script = tempfile.mkstemp(prefix="step-", suffix=".sh", dir=temp)
        with os.fdopen(fd, "w") as f:
            f.write(substitute(step["run"], ev))
        cwd = step.get("working-directory")
        cwd = os.path.join(workspace, substitute(cwd, ev)) if cwd else workspace
        log(f"step {label!r}: run ({shell})")
        rc = subprocess.run([a.replace("{0}", script) for a in SHELLS[shell]], cwd=cwd, env=step_env).returncode
        outputs = read_file_command(files["GITHUB_OUTPUT"])
        env.update(read_file_command(files["GITHUB_ENV"]))
        for p in reversed([p for p in open(files["GITHUB_PATH"]).read().split("\n") if p]):
            env["PATH"] = p + os.pathsep + env.get("PATH", "")
        outcome = "success" if rc == 0 else "failure"
        conclusion = "success" if rc == 0 or step.get("continue-on-error") else "failure"
        contexts["steps"][sid] = {"outputs": outputs, "outcome": outcome, "conclusion": conclusion}
        record.update({"outcome": outcome, "exit_code": rc, "outputs": outputs})
        log(f"step {label!r}: {outcome} (exit {rc})" + (f", outputs {json.dumps(outputs)}" if outputs else ""))
        if conclusion == "failure":
            status = "failure"
    ev = Evaluator(contexts, status)
    outputs = {name: substitute(to_str(spec.get("value", "")), ev) for name, spec in (action.get("outputs") or {}).items()}
    log(f"action: {status}, outputs {json.dumps(outputs)}")
    return {"conclusion": status, "outputs": outputs, "steps": results, "summary": open(summary).read()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("action_dir")
    ap.add_argument("--workspace", required=True)
    ap.add_argument("--input", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--temp", help="RUNNER_TEMP (default: a new temporary directory)")
    ap.add_argument("--result", help="write the result as JSON here")
    a = ap.parse_args()

    def pairs(items):
        out = {}
        for item in items:
            if "=" not in item:
                ap.error(f"expected NAME=VALUE, got {item!r}")
            k, v = item.split("=", 1)
            out[k] = v
        return out

    temp = a.temp or tempfile.mkdtemp(prefix="run-action-")
    try:
        result = run_action(
            os.path.abspath(a.action_dir), os.path.abspath(a.workspace), pairs(a.input), pairs(a.env), os.path.abspath(temp)
        )
    except ExprError as e:
        print(f"run_action: {e}", file=sys.stderr)
        return 2
    if a.result:
        with open(a.result, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["conclusion"] == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
