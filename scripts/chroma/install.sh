#!/usr/bin/env bash
# Installs the Chroma vector database server (PyPI `chromadb`, pinned below) into its own
# Python venv at ${CHROMA_VENV:-$HOME/.cache/support-agent/chroma-venv}, apart from the
# embedder's venv so their pins never meet. A stamp records what was installed, so a second
# run is instant and prints nothing. The server is `<venv>/bin/chroma run` (see run.sh).
set -euo pipefail

CHROMA_VERSION=1.5.9
CHROMA_VENV="${CHROMA_VENV:-$HOME/.cache/support-agent/chroma-venv}"
stamp="$CHROMA_VENV/.chromadb-version"

# Chroma never phones home from anything started here.
export ANONYMIZED_TELEMETRY=False

if [ -x "$CHROMA_VENV/bin/chroma" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$CHROMA_VERSION" ]; then
    exit 0
fi
if [ ! -x "$CHROMA_VENV/bin/python" ]; then
    echo "creating Python venv at $CHROMA_VENV" >&2
    mkdir -p "$(dirname "$CHROMA_VENV")"
    python3 -m venv "$CHROMA_VENV"
fi
echo "installing chromadb==$CHROMA_VERSION into $CHROMA_VENV" >&2
"$CHROMA_VENV/bin/pip" install --quiet --disable-pip-version-check "chromadb==$CHROMA_VERSION" >&2
"$CHROMA_VENV/bin/chroma" --help >/dev/null
echo "$CHROMA_VERSION" > "$stamp"
