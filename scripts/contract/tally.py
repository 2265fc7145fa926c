"""Adds up the contract run's schemathesis JSON reports (two per role, scripts/contract/run.sh).

Prints a line per report and one closing line `N passed, M failed` over operations (an operation
of one report fails when any check found something in it, or it errored; .ci/run adds the line
up). Exits 1 when a report is missing or incomplete, a run tested no operation or generated no
test case, or anything failed.

A report with a HAR file beside it (NAME.har, the stateful runs) also gets the list of
operations that answered 2xx in it: how deep the links took the run.

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


def main() -> int:
    match = operation_matcher(Path(sys.argv[1]))
    folder, names = Path(sys.argv[2]), sys.argv[3:]
    passed = failed = 0
    ok = bool(names)
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
            print(f"contract, {role}: 2xx from {len(ops)} operations: {' '.join(ops)}")
        if not report["complete"] or tested == 0 or cases == 0:
            print(f"contract, {role}: ran nothing or did not finish")
            ok = False
            bad = max(bad, 1)
        passed += max(tested - bad, 0)
        failed += bad
    print(f"{passed} passed, {failed} failed")
    return 0 if ok and failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
