"""Adds up the contract run's schemathesis JSON reports (two per role, scripts/contract/run.sh).

Prints a line per report and one closing line `N passed, M failed` over operations (an operation
of one report fails when any check found something in it, or it errored; .ci/run adds the line
up). Exits 1 when a report is missing or incomplete, a run tested no operation or generated no
test case, or anything failed.

Usage: tally.py REPORT_DIR NAME...  (NAME.json in REPORT_DIR, e.g. visitor-stateful)
"""

import json
import sys
from pathlib import Path


def main() -> int:
    folder, names = Path(sys.argv[1]), sys.argv[2:]
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
