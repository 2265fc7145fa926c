#!/usr/bin/env bash
# The longer contract run: scripts/contract/run.sh (schemathesis on openapi.yaml against the
# whole app, as a visitor, an agent and an admin) with larger budgets than `make contract`:
# 50 fuzzing examples per operation and 300 stateful scenarios per role. Figures in README.md.
# Same tuning variables as scripts/contract/run.sh (ROLES, EXAMPLES, STATEFUL_EXAMPLES, SEED,
# MAX_SECONDS, WORKERS, PHASES, STATEFUL_OPERATIONS, ST_ARGS, REPORT_DIR, and hooks.py's
# CONTRACT_EVENTS_WAIT, the cap on the event long-poll, 1 s).
set -euo pipefail
cd "$(dirname "$0")/../.."
export EXAMPLES=${EXAMPLES:-50} STATEFUL_EXAMPLES=${STATEFUL_EXAMPLES:-300} MAX_SECONDS=${MAX_SECONDS:-1200}
exec bash scripts/contract/run.sh
