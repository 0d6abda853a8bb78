#!/usr/bin/env python3
"""Writes kubeconform's JSON schemas, offline, from a Kubernetes swagger.json.

kubeconform downloads its schemas (yannh/kubernetes-json-schema) at run time
by default; here nothing but the package registries is reachable, so
bench/peers/build.sh runs this on the api/openapi-spec/swagger.json of the
k8s.io/kubernetes Go module (fetched through the Go module proxy) and points
kubeconform at the result with
  -schema-location 'DIR/standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json'

The conversion follows openapi2jsonschema's --expanded --kubernetes
--stand-alone [--strict], which produced kubeconform's usual schemas:
  * every $ref inlined (a recursive one becomes {}),
  * int-or-string as string|integer, Quantity as string|number,
  * every typed value may also be null,
  * strict: objects with properties get additionalProperties: false.

Usage: kubeconform-schemas.py SWAGGER.json OUTDIR
"""
import copy
import json
import os
import sys


def main():
    swagger, outdir = sys.argv[1], sys.argv[2]
    with open(swagger) as f:
        defs = json.load(f)["definitions"]

    special = {
        "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
        "io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": [{"type": "string"}, {"type": "number"}]},
    }

    def expand(node, stack, strict):
        if isinstance(node, list):
            return [expand(x, stack, strict) for x in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name in special:
                return copy.deepcopy(special[name])
            if name in stack or name not in defs:
                return {}
            return expand(defs[name], stack | {name}, strict)
        out = {}
        for k, v in node.items():
            if k in ("properties", "patternProperties", "definitions"):
                out[k] = {pk: expand(pv, stack, strict) for pk, pv in v.items()}
            elif k == "description":
                continue  # keeps the files small; kubeconform does not use it
            else:
                out[k] = expand(v, stack, strict)
        if out.get("format") == "int-or-string":
            return {"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if strict and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out

    count = 0
    for strict, sub in ((False, "standalone"), (True, "standalone-strict")):
        d = os.path.join(outdir, sub)
        os.makedirs(d, exist_ok=True)
        for name, schema in defs.items():
            for gvk in schema.get("x-kubernetes-group-version-kind") or []:
                group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
                # kubeconform's {{ .KindSuffix }}: -<first part of group>-<version>, or -<version>
                suffix = f"-{group.split('.')[0].lower()}-{version.lower()}" if group else f"-{version.lower()}"
                s = expand(schema, {name}, strict)
                s["$schema"] = "http://json-schema.org/schema#"
                with open(os.path.join(d, f"{kind.lower()}{suffix}.json"), "w") as f:
                    json.dump(s, f, separators=(",", ":"))
                count += 1
    print(f"kubeconform-schemas: wrote {count} schemas to {outdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
