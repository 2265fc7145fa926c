"""Checks of the deployment files that no off-the-shelf schema makes; run by validate.sh with
the venv of scripts/install-infra-tools.sh (PyYAML, the `dockerfile` parser).

  manifests.py spinapps OUT_DIR FILE...  writes each SpinApp object of FILE... to OUT_DIR as
                                         JSON (for check-jsonschema, which reads one document
                                         per file); fails when there is none, or when an
                                         object of the spinkube.dev group is not a SpinApp
                                         (it would have no schema to be checked against)
  manifests.py variables SPIN_TOML FILE  every variable spin.toml requires (no default) is set
                                         by the SpinApp in FILE
  manifests.py images FILE...            every image (Kubernetes containers, Compose services)
                                         names an explicit tag, never `latest`
  manifests.py dockerfile FILE           Docker's own parser reads FILE; it is multi-stage, and
                                         its last stage runs as a non-root USER with an
                                         ENTRYPOINT

Not for schema validation itself: kubernetes-validate and check-jsonschema do that.
"""

import json
import os
import sys
import tomllib

import yaml


def documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def spinapps(out_dir, files):
    count = 0
    for path in files:
        for i, doc in enumerate(documents(path)):
            group = str(doc.get("apiVersion", "")).split("/")[0]
            if group.endswith("spinkube.dev") and doc.get("kind") != "SpinApp":
                sys.exit(f"{path}: document {i}: {doc.get('kind')} of {group} has no schema here")
            if doc.get("kind") == "SpinApp":
                count += 1
                name = f"{os.path.basename(path)}.{i}.json"
                with open(os.path.join(out_dir, name), "w") as f:
                    json.dump(doc, f)
    if count == 0:
        sys.exit("no SpinApp object found")
    print(f"{count} SpinApp object(s)")


def variables(spin_toml, path):
    with open(spin_toml, "rb") as f:
        declared = tomllib.load(f).get("variables", {})
    required = sorted(n for n, v in declared.items() if v.get("required") and "default" not in v)
    apps = [d for d in documents(path) if d.get("kind") == "SpinApp"]
    if not apps:
        sys.exit(f"{path}: no SpinApp")
    for app in apps:
        names = {v["name"] for v in app["spec"].get("variables", [])}
        missing = [n for n in required if n not in names]
        if missing:
            sys.exit(f"{path}: SpinApp {app['metadata']['name']} does not set required variable(s) {missing}")
    print(f"required variables set: {required}")


def containers(spec):
    """Yields the containers of any pod-bearing Kubernetes object."""
    if not isinstance(spec, dict):
        return
    for key in ("containers", "initContainers"):
        for c in spec.get(key, []) or []:
            yield c
    for key in ("template", "jobTemplate", "spec"):
        yield from containers(spec.get(key))


def images(files):
    refs = []
    for path in files:
        for doc in documents(path):
            if "services" in doc and "apiVersion" not in doc:
                refs += [(path, s.get("image")) for s in doc["services"].values() if s.get("image")]
            else:
                refs += [(path, c.get("image")) for c in containers(doc.get("spec"))]
    bad = []
    for path, ref in refs:
        tail = ref.rsplit("/", 1)[-1]
        if "@sha256:" not in ref and (":" not in tail or tail.endswith(":latest")):
            bad.append(f"{path}: {ref}")
    if bad:
        sys.exit("images without an explicit tag:\n  " + "\n  ".join(bad))
    print(f"{len(refs)} image references, all tagged")


def dockerfile_check(path):
    import dockerfile

    commands = dockerfile.parse_file(path)
    stages = [i for i, c in enumerate(commands) if c.cmd.upper() == "FROM"]
    if len(stages) < 2:
        sys.exit(f"{path}: {len(stages)} stage(s); a multi-stage build was expected")
    last = commands[stages[-1]:]
    users = [c.value[0] for c in last if c.cmd.upper() == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        sys.exit(f"{path}: the last stage must switch to a non-root USER (found {users or 'none'})")
    if not any(c.cmd.upper() == "ENTRYPOINT" for c in last):
        sys.exit(f"{path}: the last stage has no ENTRYPOINT")
    print(f"{len(stages)} stages, runs as {users[-1]}")


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "spinapps":
        spinapps(args[0], args[1:])
    elif cmd == "variables":
        variables(args[0], args[1])
    elif cmd == "images":
        images(args)
    elif cmd == "dockerfile":
        dockerfile_check(args[0])
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main(sys.argv)
