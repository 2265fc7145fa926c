"""Checks of the Grafana dashboard and its provisioning files; run by validate.sh with the venv
of scripts/install-infra-tools.sh (PyYAML).

  dashboard_metrics.py check DASHBOARD     the JSON parses; panel ids are unique; every panel
                                           but a row has a target; every panel, target and
                                           query variable uses the `${datasource}` variable;
                                           every template variable a query uses is defined;
                                           and every metric a query names is one the app
                                           (crates/core/src/metrics.rs, the families in ALL)
                                           or the sidecar (crates/embedder/src/metrics.rs)
                                           exports, or `up`, with only the labels it has and,
                                           for the app's fixed label sets, only values it
                                           can take
  dashboard_metrics.py rules DASHBOARD OUT one recording rule per panel query (template
                                           variables replaced by concrete values) in OUT,
                                           for `promtool check rules` to parse
  dashboard_metrics.py provisioning DASHBOARD DATASOURCES PROVIDERS PROMETHEUS_YML
                                           the provisioning YAML parses; the Prometheus data
                                           source has the uid the dashboard defaults to, a URL
                                           from an environment variable Grafana can expand,
                                           and the scrape interval of prometheus.yml as its
                                           timeInterval; a file provider points at a path

Metric names come from the Rust sources, not from a list kept here, so a renamed or removed
metric fails the check. The PromQL reading is a small tokenizer, enough for the queries a
dashboard holds; promtool (the `rules` output) is what checks the grammar.
"""

import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORE = os.path.join(REPO, "crates/core/src/metrics.rs")
EMBEDDER = os.path.join(REPO, "crates/embedder/src/metrics.rs")
DATASOURCE_VAR = "${datasource}"
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"job", "instance"}
# Grafana's built-in interval variables, with a value for promtool.
BUILTIN_VARS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "__auto": "1m",
}
KEYWORDS = {"bool", "and", "or", "unless", "offset", "inf", "nan", "start", "end"}
LABEL_LIST_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


# --- what the app and the sidecar export ------------------------------------------------------


def without_tests(src):
    return src.split("#[cfg(test)]")[0]


def core_metrics(path=CORE):
    """{series name: {label: allowed values or None}} of the app's families in ALL."""
    with open(path) as f:
        src = without_tests(f.read())
    consts = {
        name: re.findall(r'"([^"]*)"', body)
        for name, body in re.findall(r"const (\w+): &\[&str\] =\s*&\[(.*?)\];", src, re.S)
    }
    families = {}
    for const, body in re.findall(r"pub const (\w+): Metric = Metric \{(.*?)\n\};", src, re.S):
        name = re.search(r'name:\s*"([^"]+)"', body).group(1)
        kind = re.search(r"kind:\s*Kind::(\w+)", body).group(1)
        labels = {}
        for label, values in re.findall(r'\("(\w+)",\s*(\w+|&\[[^\]]*\])\)', body):
            labels[label] = consts[values] if values in consts else re.findall(r'"([^"]*)"', values)
        families[const] = (name, kind, labels)
    all_list = re.search(r"pub const ALL: &\[Metric\] = &\[(.*?)\];", src, re.S)
    if not all_list:
        sys.exit(f"{path}: no `pub const ALL: &[Metric]`")
    exported = {}
    for const in re.findall(r"\w+", all_list.group(1)):
        if const not in families:
            sys.exit(f"{path}: ALL names {const}, which is not a Metric defined here")
        name, kind, labels = families[const]
        if kind == "Histogram":
            exported[name + "_bucket"] = {**labels, "le": None}
            exported[name + "_sum"] = dict(labels)
            exported[name + "_count"] = dict(labels)
        else:
            exported[name] = labels
    return exported


def embedder_metrics(path=EMBEDDER):
    """{series name: {label: None}} the sidecar's render() writes."""
    with open(path) as f:
        src = without_tests(f.read())
    literals = [m.group(0) for m in re.finditer(r'"(?:[^"\\]|\\.)*"', src)]
    histograms = set(re.findall(r'\.render\(\s*&mut out,\s*"(embedder_\w+)"', src))
    exported = {}
    for h in histograms:
        exported[h + "_bucket"] = {"le": None}
        exported[h + "_sum"] = {}
        exported[h + "_count"] = {}
    for lit in literals:
        for m in re.finditer(r"\b(embedder_[a-z_]+)(\{\{(.*?)\}\})?", lit):
            name = m.group(1)
            if name in histograms or name in exported and not m.group(3):
                continue
            labels = {label: None for label in re.findall(r"(\w+)=", m.group(3) or "")}
            exported.setdefault(name, {}).update(labels)
    if not exported:
        sys.exit(f"{path}: no embedder_ metric found")
    return exported


def exported_metrics():
    metrics = {"up": {}}
    metrics.update(core_metrics())
    metrics.update(embedder_metrics())
    return metrics


# --- the dashboard ---------------------------------------------------------------------------


def load(path):
    with open(path) as f:
        return json.load(f)


def panels(dashboard):
    """Every panel, rows' nested panels (collapsed rows) included."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def variables(dashboard):
    return dashboard.get("templating", {}).get("list", [])


def current_value(var):
    value = var.get("current", {}).get("value")
    if isinstance(value, list):
        value = value[0] if value else None
    return value


def substitute(expr, dashboard):
    """The expression with every template variable replaced; raises on an unknown one."""
    values = dict(BUILTIN_VARS)
    for var in variables(dashboard):
        values[var["name"]] = current_value(var) or ".*"

    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise ValueError(f"unknown template variable ${name}")
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]", repl, expr)


def queries(dashboard):
    """(where, expr) of every panel target and query variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"panel {panel.get('id')} ({panel.get('title')}) {target.get('refId')}", target["expr"]
    for var in variables(dashboard):
        if var.get("type") == "query":
            q = var.get("query")
            q = q.get("query", "") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "", re.S)
            yield f"variable {var['name']}", m.group(1) if m else q


# --- reading PromQL --------------------------------------------------------------------------

TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<number>0x[0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<range>\[[^\]]*\])
  | (?P<punct>=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>@])
""",
    re.X,
)


def tokens(expr):
    out, pos = [], 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError(f"cannot read {expr[pos:pos + 20]!r}")
        pos = m.end()
        if m.lastgroup != "space":
            out.append((m.lastgroup, m.group(0)))
    return out


def selectors(expr):
    """[(metric name, [(label, op, value)])] of every vector selector in expr."""
    toks = tokens(expr)
    found, i = [], 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text in LABEL_LIST_KEYWORDS:
            i += 1
            if nxt == "(":  # skip the label list
                while i < len(toks) and toks[i][1] != ")":
                    i += 1
            i += 1
            continue
        if kind == "ident" and (text.lower() in KEYWORDS or nxt in ("(", "by", "without")):
            i += 1  # a keyword, a function call, or an aggregation before its by/without
            continue
        if kind == "ident" or text == "{":
            name = text if kind == "ident" else None
            matchers = []
            j = i + 1 if kind == "ident" else i
            if j < len(toks) and toks[j][1] == "{":
                j += 1
                while j < len(toks) and toks[j][1] != "}":
                    if toks[j][1] == ",":
                        j += 1
                        continue
                    label, op, value = toks[j][1], toks[j + 1][1], toks[j + 2][1]
                    matchers.append((label, op, json.loads(value) if value[0] == '"' else value[1:-1]))
                    j += 3
                j += 1
            for label, op, value in matchers:
                if label == "__name__" and op == "=":
                    name = value
            found.append((name, matchers))
            i = j
            continue
        i += 1
    return found


def selector_errors(expr, exported):
    errors = []
    for name, matchers in selectors(expr):
        if name is None:
            errors.append("a selector without a metric name")
            continue
        if name not in exported:
            errors.append(f"{name} is not exported by the app or the sidecar")
            continue
        labels = exported[name]
        for label, op, value in matchers:
            if label in TARGET_LABELS or label == "__name__":
                continue
            if label not in labels:
                errors.append(f"{name} has no label {label!r} (it has {sorted(labels) or 'none'})")
                continue
            allowed = labels[label]
            if allowed is None or op in ("!=", "!~"):
                continue
            if op == "=" and value not in allowed:
                errors.append(f'{name}{{{label}="{value}"}}: {label} is one of {allowed}')
            if op == "=~" and not any(re.fullmatch(value, v) for v in allowed):
                errors.append(f'{name}{{{label}=~"{value}"}} matches none of {allowed}')
    return errors


# --- the subcommands -------------------------------------------------------------------------


def uses_datasource_var(ds):
    if isinstance(ds, dict):
        return ds.get("uid") == DATASOURCE_VAR
    return ds == DATASOURCE_VAR


def check(path):
    dashboard = load(path)
    exported = exported_metrics()
    errors = []
    ids = [p.get("id") for p in panels(dashboard)]
    dupes = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if None in ids:
        errors.append("a panel has no id")
    if dupes:
        errors.append(f"duplicate panel ids: {dupes}")
    if not any(v.get("type") == "datasource" and v.get("name") == "datasource" and v.get("query") == "prometheus"
               for v in variables(dashboard)):
        errors.append("no `datasource` template variable of type datasource (prometheus)")
    for panel in panels(dashboard):
        where = f"panel {panel.get('id')} ({panel.get('title')})"
        if panel.get("type") == "row":
            continue
        targets = panel.get("targets", [])
        if not targets:
            errors.append(f"{where}: no targets")
        if not uses_datasource_var(panel.get("datasource")):
            errors.append(f"{where}: datasource is not {DATASOURCE_VAR}")
        for t in targets:
            if not uses_datasource_var(t.get("datasource")):
                errors.append(f"{where} {t.get('refId')}: datasource is not {DATASOURCE_VAR}")
            if not t.get("expr", "").strip():
                errors.append(f"{where} {t.get('refId')}: no PromQL expression")
    for var in variables(dashboard):
        if var.get("type") == "query" and not uses_datasource_var(var.get("datasource")):
            errors.append(f"variable {var.get('name')}: datasource is not {DATASOURCE_VAR}")
    names = set()
    for where, expr in queries(dashboard):
        try:
            concrete = substitute(expr, dashboard)
            errs = selector_errors(concrete, exported)
            names.update(n for n, _ in selectors(concrete))
        except (ValueError, IndexError) as e:
            errs = [f"cannot read the query: {e}"]
        errors.extend(f"{where}: {e}" for e in errs)
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print(f"{len(ids)} panels; metrics: {', '.join(sorted(n for n in names if n))}")


def rules(path, out):
    dashboard = load(path)
    group = []
    for panel in panels(dashboard):
        for t in panel.get("targets", []):
            if "expr" in t:
                group.append({
                    "record": f"dashboard:panel_{panel['id']}_{t['refId']}",
                    "expr": substitute(t["expr"], dashboard),
                })
    if not group:
        sys.exit("no panel queries")
    with open(out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": group}]}, f, sort_keys=False)
    print(f"{len(group)} queries written to {out}")


def provisioning(dashboard_path, datasources_path, providers_path, prometheus_yml):
    dashboard = load(dashboard_path)
    errors = []
    with open(datasources_path) as f:
        datasources = yaml.safe_load(f)
    with open(providers_path) as f:
        providers = yaml.safe_load(f)
    with open(prometheus_yml) as f:
        scrape_interval = yaml.safe_load(f)["global"]["scrape_interval"]
    ds_var = next((v for v in variables(dashboard) if v.get("name") == "datasource"), {})
    want_uid = current_value(ds_var)
    prom = [d for d in datasources.get("datasources", []) if d.get("type") == "prometheus"]
    if datasources.get("apiVersion") != 1:
        errors.append(f"{datasources_path}: apiVersion is not 1")
    if not prom:
        errors.append(f"{datasources_path}: no prometheus data source")
    for d in prom:
        if d.get("uid") != want_uid:
            errors.append(f"{datasources_path}: uid {d.get('uid')!r}, the dashboard defaults to {want_uid!r}")
        url = str(d.get("url", ""))
        if not re.search(r"\$\{?\w+\}?", url):
            errors.append(f"{datasources_path}: url {url!r} is not taken from an environment variable")
        if re.search(r"\$\{[^}]*[:-][^}]*\}", url):
            # Grafana expands with Go's os.ExpandEnv: ${VAR:-default} reads a variable named
            # "VAR:-default" and yields an empty URL.
            errors.append(f"{datasources_path}: url {url!r}: Grafana has no ${{VAR:-default}} syntax")
        if d.get("jsonData", {}).get("timeInterval") != scrape_interval:
            errors.append(f"{datasources_path}: jsonData.timeInterval is not the scrape interval {scrape_interval}")
    files = [p for p in providers.get("providers", []) if p.get("type", "file") == "file"]
    if providers.get("apiVersion") != 1:
        errors.append(f"{providers_path}: apiVersion is not 1")
    if not files or not all(p.get("options", {}).get("path") for p in files):
        errors.append(f"{providers_path}: no file provider with options.path")
    if errors:
        print("\n".join(errors))
        sys.exit(1)
    print(f"data source uid {want_uid}; dashboards from {', '.join(p['options']['path'] for p in files)}")


def main(argv):
    usage = __doc__.split("\n\n")[1]
    if len(argv) < 2:
        sys.exit(usage)
    cmd, args = argv[1], argv[2:]
    if cmd == "check" and len(args) == 1:
        check(*args)
    elif cmd == "rules" and len(args) == 2:
        rules(*args)
    elif cmd == "provisioning" and len(args) == 4:
        provisioning(*args)
    else:
        sys.exit(usage)


if __name__ == "__main__":
    main(sys.argv)
