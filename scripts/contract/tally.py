"""Adds up the contract run's schemathesis JSON reports (two per role, scripts/contract/run.sh).

Prints a line per report and one closing line `N passed, M failed` over operations (an operation
of one report fails when any check found something in it, or it errored; .ci/run adds the line
up). Exits 1 when a report is missing or incomplete, a run tested no operation or generated no
test case, or anything failed.

A report with a HAR file beside it (NAME.har) also gets the list of operations that answered
2xx in it, and a stateful run's schemathesis output beside it (NAME.txt) its count of
scenarios and of links followed: how deep the links took the run. A last line says whether the
stateful runs reached the agent's reply (replyAsAgent) with 2xx, the end of the longest chain.

Usage: tally.py OPENAPI REPORT_DIR NAME...  (NAME.json in REPORT_DIR, e.g. visitor-stateful)
"""

import json
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml


def operation_matcher(openapi: Path):
    """A function from (method, URL) to the operationId it calls, or None."""
    spec = yaml.safe_load(openapi.read_text(encoding="utf-8"))
    routes = []
    for path, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")
        for method, op in item.items():
            if isinstance(op, dict) and "operationId" in op:
                routes.append((method.upper(), pattern, op["operationId"]))

    def match(method: str, url: str) -> str | None:
        path = urlsplit(url).path
        return next((op for m, p, op in routes if m == method and p.match(path)), None)

    return match


def reached(har: Path, match) -> list[str]:
    """The operations that answered 2xx in a HAR file."""
    entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
    ok = {
        match(e["request"]["method"], e["request"]["url"])
        for e in entries
        if 200 <= e["response"]["status"] < 300
    }
    return sorted(op for op in ok if op)


def stateful_summary(txt: Path) -> str | None:
    """'N scenarios, links L of M' from a stateful run's schemathesis output, if it has them."""
    try:
        text = txt.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    scenarios = re.search(r"Scenarios:\s+(\d+)", text)
    links = re.search(r"API Links:\s+(\d+) covered / (\d+) selected", text)
    if not scenarios or not links:
        return None
    return f"{scenarios.group(1)} scenarios, links followed {links.group(1)} of {links.group(2)}"


def main() -> int:
    match = operation_matcher(Path(sys.argv[1]))
    folder, names = Path(sys.argv[2]), sys.argv[3:]
    passed = failed = 0
    ok = bool(names)
    deepest: list[str] = []
    for role in names:
        path = folder / f"{role}.json"
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"contract, {role}: no report ({exc})")
            failed += 1
            ok = False
            continue
        operations = report.get("operations") or {}
        tested = operations.get("tested", 0)
        cases = report["test_cases"]["generated"]
        failing = {op for group in report["failures"] for op in group["operations"]}
        errors = sum(group["count"] for group in report["errors"])
        bad = len(failing) + (operations.get("errored", 0) or (1 if errors else 0))
        print(
            f"contract, {role}: {tested} operations, {cases} test cases, "
            f"{len(report['failures'])} kinds of failure in {len(failing)} operations, "
            f"{errors} errors, {report['running_time']:.0f} s, stop: {report['stop_reason']}"
        )
        har = folder / f"{role}.har"
        if har.exists():
            ops = reached(har, match)
            summary = stateful_summary(folder / f"{role}.txt")
            print(f"contract, {role}: 2xx from {len(ops)} operations: {' '.join(ops)}")
            if summary:
                print(f"contract, {role}: {summary}")
                if "replyAsAgent" in ops:
                    deepest.append(role)
        if not report["complete"] or tested == 0 or cases == 0:
            print(f"contract, {role}: ran nothing or did not finish")
            ok = False
            bad = max(bad, 1)
        passed += max(tested - bad, 0)
        failed += bad
    if any(stateful_summary(folder / f"{name}.txt") for name in names):
        print(f"contract: the agent's reply (replyAsAgent) answered 2xx in: {', '.join(deepest) or 'no stateful run'}")
    print(f"{passed} passed, {failed} failed")
    return 0 if ok and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
