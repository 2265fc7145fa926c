#!/usr/bin/env bash
# Validates the deployment files offline, with tools installed from PyPI by
# scripts/install-infra-tools.sh (no cluster, no Docker engine, no network at check time):
#
#   infra/spinkube/*.yaml      Kubernetes schemas of 1.30 and 1.37, strict (kubernetes-validate);
#                              SpinApp objects against infra/schemas/ (check-jsonschema);
#                              spin.toml's required variables set; images tagged
#   infra/compose.yaml         the Compose specification schema (check-jsonschema's vendored copy)
#   .github/workflows/*.yml    actionlint (with shellcheck on `run:` scripts) and the
#                              github-workflows schema
#   crates/embedder/Dockerfile hadolint, and Docker's own parser (multi-stage, non-root)
#   the shell scripts here     shellcheck
#   infra/prometheus/          promtool: scrape config, alert rules and their unit tests
#   infra/grafana/             the dashboard queries only exported metrics, through the
#                              ${datasource} variable (infra/tests/dashboard_metrics.py); promtool
#                              parses each query; the provisioning files agree with it
#
# Then it feeds each validator a broken copy of a file and expects a failure, so a validator
# that stopped checking fails this script. Last line: `N passed, N failed`; exit 1 on any failure.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO" || exit 1
BIN="$(bash scripts/install-infra-tools.sh)" || { echo "0 passed, 1 failed"; exit 1; }
PATH="$BIN:$PATH"
PY="$BIN/python"
SCHEMA=infra/schemas/spinapp-core.spinkube.dev-v1alpha1.json
K8S_VERSIONS="1.30.0 1.37.0"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
# check NAME CMD...: CMD must succeed.
check() {
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok    $name"
    else
        failed=$((failed + 1))
        echo "FAIL  $name"
        printf '%s\n' "$out" | sed 's/^/      /'
    fi
}
# rejects NAME CMD...: CMD must fail (a validator given a broken file).
rejects() {
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then
        failed=$((failed + 1))
        echo "FAIL  $name (the validator accepted it)"
        printf '%s\n' "$out" | sed 's/^/      /'
    else
        passed=$((passed + 1))
        echo "ok    $name"
    fi
}

# kubernetes-validate exits 0 on kinds it has no schema for (a warning): anything but INFO
# lines is a failure, except that warning for SpinApp, which the CRD schema check covers.
k8s_validate() {
    local version="$1" file="$2" out status
    out="$(kubernetes-validate --strict --kubernetes-version "$version" "$file" 2>&1)"
    status=$?
    printf '%s\n' "$out"
    [ "$status" -eq 0 ] || return 1
    ! printf '%s\n' "$out" | grep -v '^INFO ' \
        | grep -v "Couldn't find schema for kind SpinApp with api version core.spinkube.dev/v1alpha1"
}

spinapp_validate() {
    local out="$TMP/spinapps.$RANDOM"
    mkdir -p "$out"
    "$PY" infra/tests/manifests.py spinapps "$out" "$@" && check-jsonschema --schemafile "$SCHEMA" "$out"/*.json
}

actionlint_all() {
    command -v shellcheck >/dev/null || { echo "shellcheck missing: run: scripts would go unchecked"; return 1; }
    actionlint -color=false "$@"
}

# --- the files -----------------------------------------------------------------------------
check "SpinApp schema is valid JSON Schema" check-jsonschema --check-metaschema "$SCHEMA"
for file in infra/spinkube/*.yaml; do
    for version in $K8S_VERSIONS; do
        check "$file: Kubernetes $version schemas (strict)" k8s_validate "$version" "$file"
    done
done
check "SpinApp objects: SpinKube CRD schema" spinapp_validate infra/spinkube/*.yaml
check "SpinApp sets every variable spin.toml requires" \
    "$PY" infra/tests/manifests.py variables spin.toml infra/spinkube/spinapp.yaml
check "images are tagged (manifests, compose)" \
    "$PY" infra/tests/manifests.py images infra/spinkube/*.yaml infra/compose.yaml
check "infra/compose.yaml: Compose specification schema" \
    check-jsonschema --builtin-schema vendor.compose-spec infra/compose.yaml
check "workflows: actionlint + shellcheck" actionlint_all .github/workflows/*.yml
check "workflows: github-workflows schema" \
    check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
check "crates/embedder/Dockerfile: hadolint" hadolint --no-color crates/embedder/Dockerfile
check "crates/embedder/Dockerfile: parses, multi-stage, non-root" \
    "$PY" infra/tests/manifests.py dockerfile crates/embedder/Dockerfile
check "shell scripts: shellcheck" \
    shellcheck scripts/install-infra-tools.sh infra/tests/validate.sh

# --- broken copies must be rejected ----------------------------------------------------------
sed '/^  executor: /d' infra/spinkube/spinapp.yaml > "$TMP/no-executor.yaml"
rejects "rejects a SpinApp without executor" spinapp_validate "$TMP/no-executor.yaml"
sed 's/^  enableAutoscaling: true/  enableAutoscaling: true\n  replicas: 3/' infra/spinkube/spinapp.yaml > "$TMP/replicas.yaml"
rejects "rejects a SpinApp with replicas and autoscaling" spinapp_validate "$TMP/replicas.yaml"
sed 's/readinessProbe:/readinesProbe:/' infra/spinkube/embedder.yaml > "$TMP/typo.yaml"
rejects "rejects a Deployment with a misspelt field" k8s_validate 1.37.0 "$TMP/typo.yaml"
sed 's/^  replicas: 1$/  replicas: one/' infra/spinkube/chroma.yaml > "$TMP/replicas-type.yaml"
rejects "rejects a StatefulSet with a non-integer replica count" k8s_validate 1.30.0 "$TMP/replicas-type.yaml"
printf 'apiVersion: example.com/v1\nkind: Unknown\nmetadata: {name: x}\n' > "$TMP/unknown.yaml"
rejects "rejects an object of a kind with no schema" k8s_validate 1.37.0 "$TMP/unknown.yaml"
sed 's/^    image: redis:/    imag: redis:/' infra/compose.yaml > "$TMP/compose.yaml"
rejects "rejects a compose file with a misspelt service key" \
    check-jsonschema --builtin-schema vendor.compose-spec "$TMP/compose.yaml"
sed 's/needs: \[app, embedder-image\]/needs: [app, no-such-job]/' .github/workflows/release.yml > "$TMP/release.yml"
rejects "rejects a workflow needing an unknown job" actionlint_all "$TMP/release.yml"
# shellcheck disable=SC2016 # the $ is for the workflow's shell, not this one
sed 's/run: make test/run: make test $UNQUOTED_ARGS/' .github/workflows/ci.yml > "$TMP/ci.yml"
rejects "rejects a workflow run: script shellcheck flags" actionlint_all "$TMP/ci.yml"
sed '/^USER /d' crates/embedder/Dockerfile > "$TMP/Dockerfile"
rejects "rejects a Dockerfile whose image runs as root" \
    "$PY" infra/tests/manifests.py dockerfile "$TMP/Dockerfile"

# Prometheus: scrape config, alert rules and their unit tests (promtool, Debian's prometheus
# package; `make test` installs it), and every app metric the rules name is one the app exports.
check "prometheus.yml parses (promtool)" promtool check config --syntax-only infra/prometheus/prometheus.yml
check "alert rules parse (promtool)" promtool check rules infra/prometheus/alerts.yml
check "alert rules pass their unit tests (promtool)" promtool test rules infra/prometheus/alerts.test.yml
exported_metrics() {
    local name base missing=0
    while read -r name; do
        base="${name%_bucket}"; base="${base%_sum}"; base="${base%_count}"
        grep -q "name: \"$base\"" crates/core/src/metrics.rs || { echo "not exported: $name"; missing=1; }
    done < <(grep -oE 'support_[a-z_]+' infra/prometheus/alerts.yml | sort -u)
    return "$missing"
}
check "alert rules name only exported metrics" exported_metrics
printf 'groups:\n  - name: broken\n    rules:\n      - alert: X\n        expr: sum(\n' > "$TMP/bad-rules.yml"
rejects "rejects a rule with a broken expression" promtool check rules "$TMP/bad-rules.yml"

# Grafana: the dashboard's structure and the metrics, labels and label values its queries name
# (against crates/core/src/metrics.rs and crates/embedder/src/metrics.rs); every query, template
# variables replaced, as a recording rule for promtool to parse; the provisioning files.
DASHBOARD=infra/grafana/dashboards/support-agent.json
GRAFANA_DS=infra/grafana/provisioning/datasources/prometheus.yaml
GRAFANA_PROVIDER=infra/grafana/provisioning/dashboards/support-agent.yaml
dashboard_check() { "$PY" infra/tests/dashboard_metrics.py check "$1"; }
dashboard_promql() {
    local rules="$TMP/dashboard-rules.$RANDOM.yml"
    "$PY" infra/tests/dashboard_metrics.py rules "$1" "$rules" && promtool check rules "$rules"
}
grafana_provisioning() {
    "$PY" infra/tests/dashboard_metrics.py provisioning "$DASHBOARD" "$1" "$GRAFANA_PROVIDER" \
        infra/prometheus/prometheus.yml
}
check "dashboard: panels, targets, datasource variable, exported metrics only" dashboard_check "$DASHBOARD"
check "dashboard: every query parses (promtool)" dashboard_promql "$DASHBOARD"
check "grafana provisioning: parses, agrees with the dashboard and prometheus.yml" \
    grafana_provisioning "$GRAFANA_DS"
sed 's/support_rate_limited_total/support_rate_limitted_total/' "$DASHBOARD" > "$TMP/unknown-metric.json"
rejects "rejects a dashboard querying a metric nobody exports" dashboard_check "$TMP/unknown-metric.json"
sed 's/support_http_request_duration_seconds_sum/support_http_request_duration_seconds/' "$DASHBOARD" > "$TMP/bare-histogram.json"
rejects "rejects a dashboard querying a histogram without its suffix" dashboard_check "$TMP/bare-histogram.json"
sed 's/status=\\"5xx\\"/status=\\"500\\"/' "$DASHBOARD" > "$TMP/label-value.json"
rejects "rejects a dashboard matching a status the app never sets" dashboard_check "$TMP/label-value.json"
sed '0,/"uid": "[$]{datasource}"/s//"uid": "prometheus"/' "$DASHBOARD" > "$TMP/fixed-datasource.json"
rejects "rejects a dashboard panel with a fixed data source" dashboard_check "$TMP/fixed-datasource.json"
sed 's/"id": 3,/"id": 2,/' "$DASHBOARD" > "$TMP/duplicate-id.json"
rejects "rejects a dashboard with duplicate panel ids" dashboard_check "$TMP/duplicate-id.json"
sed '0,/histogram_quantile(0.5, /s//histogram_quantile(0.5 /' "$DASHBOARD" > "$TMP/bad-promql.json"
rejects "rejects a dashboard query promtool cannot parse" dashboard_promql "$TMP/bad-promql.json"
sed 's/^    url: .*/    url: http:\/\/prometheus:9090/' "$GRAFANA_DS" > "$TMP/fixed-url.yaml"
rejects "rejects a data source URL not taken from the environment" grafana_provisioning "$TMP/fixed-url.yaml"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
