#!/usr/bin/env bash
# Runs the Chroma vector database server in the foreground from the venv install.sh made:
#
#   scripts/chroma/run.sh [--host H] [--port P] [--path DIR]
#
# Defaults: 127.0.0.1, 8000, .spin/chroma (relative to the current folder). HTTP API v2 at
# http://H:P/api/v2 (scripts/chroma/API-NOTES.md). Anonymized telemetry is off; the log has
# warnings and errors only (CHROMA_RUST_LOG, default warn).
set -euo pipefail

CHROMA_VENV="${CHROMA_VENV:-$HOME/.cache/support-agent/chroma-venv}"
host=127.0.0.1
port=8000
path=.spin/chroma
while [ $# -gt 0 ]; do
    case "$1" in
        --host) host="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --path) path="$2"; shift 2 ;;
        -h|--help) sed -n '2,8s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (usage: run.sh [--host H] [--port P] [--path DIR])" >&2; exit 2 ;;
    esac
done
if [ ! -x "$CHROMA_VENV/bin/chroma" ]; then
    echo "$CHROMA_VENV/bin/chroma is missing: run scripts/chroma/install.sh (make chroma)" >&2
    exit 1
fi
mkdir -p "$path"
export ANONYMIZED_TELEMETRY=False
# Chroma's server logs every request at INFO (several multi-line "Cache miss for collection"
# records per query: about 7 MB a minute at 17 answers/s, bench/soak/README.md), so a
# long-running `make run` would fill the disk with its log. Warnings and errors only, unless
# CHROMA_RUST_LOG says otherwise (e.g. CHROMA_RUST_LOG=info).
export RUST_LOG="${CHROMA_RUST_LOG:-warn}"
exec "$CHROMA_VENV/bin/chroma" run --host "$host" --port "$port" --path "$path"
