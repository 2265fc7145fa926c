#!/usr/bin/env bash
# The longer contract run: scripts/contract/run.sh (schemathesis on openapi.yaml against the
# whole app, as a visitor, an agent and an admin) with a larger budget than `make contract`:
# more examples per operation and up to MAX_SECONDS (300) per role. Figures in README.md.
# Same tuning variables as scripts/contract/run.sh (ROLES, EXAMPLES, SEED, MAX_SECONDS,
# WORKERS, PHASES, ST_ARGS, REPORT_DIR).
set -euo pipefail
cd "$(dirname "$0")/../.."
EXAMPLES=${EXAMPLES:-50} MAX_SECONDS=${MAX_SECONDS:-300} exec bash scripts/contract/run.sh
