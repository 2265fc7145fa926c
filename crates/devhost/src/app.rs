//! The loaded application: components compiled and pre-instantiated, and the handling of
//! one HTTP request (routing, Spin's request headers, a fresh instance, limits, errors).
//!
//! Not here: the listening socket and shutdown (`server`), manifest parsing (`manifest`),
//! the host interfaces themselves (their own modules).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpView};

use crate::engine::{self, EngineOptions};
use crate::manifest::{FileMount, Manifest, Route};
use crate::outbound_http::allowed_hosts::AllowedHosts;
use crate::outbound_http::{ChainFuture, OutboundHttp, ServiceChain};
use crate::routes::{RouteMatch, Router};
use crate::runtime_config::RuntimeConfig;
use crate::state::{ComponentContext, HostState, Services};
use crate::variables::AppVariables;

/// Everything needed to load and serve an app.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub manifest_path: PathBuf,
    pub runtime_config_file: Option<PathBuf>,
    /// Spin's `.spin/` folder: default databases and the compile cache.
    pub state_dir: Option<PathBuf>,
    pub engine: EngineOptions,
    pub request_timeout: Duration,
    pub max_request_body_bytes: u64,
    /// `--sqlite` statements (or `@file.sql`) run against the default database before serving.
    pub sqlite_statements: Vec<String>,
}

/// A host folder preopened at a guest path.
type Mount = (PathBuf, String);

struct LoadedComponent {
    pre: ProxyPre<HostState>,
    ctx: Arc<ComponentContext>,
    allowed: Arc<AllowedHosts>,
    env: Vec<(String, String)>,
    mounts: Vec<Mount>,
    /// The component's first public route, for service-chained requests' headers.
    route: Option<String>,
}

/// A loaded app, ready to serve requests.
pub struct App {
    router: Router,
    components: HashMap<String, LoadedComponent>,
    request_timeout: Duration,
    max_memory_bytes: usize,
    max_request_body_bytes: u64,
    /// Kept alive for the app's lifetime: folders of copied `files` patterns.
    _file_copies: Vec<tempfile::TempDir>,
    me: Weak<App>,
}

impl App {
    /// Reads the manifest and runtime config, resolves variables, compiles and links every component.
    pub fn load(options: &AppOptions) -> anyhow::Result<Arc<App>> {
        let manifest = Manifest::load(&options.manifest_path)?;
        let state_dir = options
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.base_dir.join(".spin"));
        std::fs::create_dir_all(&state_dir)
            .with_context(|| format!("creating state folder {}", state_dir.display()))?;
        let runtime_config = match &options.runtime_config_file {
            Some(path) => RuntimeConfig::load(path).map_err(anyhow::Error::msg)?,
            None => RuntimeConfig::default(),
        }
        .with_defaults(&state_dir);
        let variables = AppVariables::resolve(&manifest.variables, |name| std::env::var(name).ok())
            .map_err(anyhow::Error::msg)?;

        let services = Arc::new(Services {
            sqlite: crate::sqlite::SqliteDatabases::new(&runtime_config.sqlite_databases)?,
            key_value: crate::key_value::KeyValueStores::new(&runtime_config.key_value_stores)?,
            postgres: crate::postgres::PostgresClients::new(),
            redis: crate::redis::RedisClients::new(),
        });
        for statement in &options.sqlite_statements {
            let sql = match statement.strip_prefix('@') {
                Some(file) => std::fs::read_to_string(file)
                    .with_context(|| format!("reading --sqlite file {file}"))?,
                None => statement.clone(),
            };
            services
                .sqlite
                .execute_batch_file("default", &sql)
                .with_context(|| format!("running --sqlite {statement}"))?;
        }

        let engine = engine::build_engine(&options.engine)?;
        let linker = build_linker(&engine)?;
        let cache_dir = state_dir.join("devhost-cache");
        let mut components = HashMap::new();
        let mut file_copies = Vec::new();
        for (id, decl) in &manifest.components {
            let field = format!("component.{id}");
            let component = engine::load_component(&engine, &decl.source, &cache_dir)
                .with_context(|| format!("`{field}.source`"))?;
            let pre = linker
                .instantiate_pre(&component)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!("`{field}`: the component imports something devhost does not provide")
                })?;
            let pre = ProxyPre::new(pre).map_err(anyhow::Error::from).with_context(|| {
                format!("`{field}`: not an HTTP component (it must export wasi:http/incoming-handler@0.2.x)")
            })?;
            let component_vars = variables
                .component_values(&decl.variables)
                .map_err(|e| anyhow::anyhow!("`{field}.{e}`"))?;
            let hosts = decl
                .allowed_outbound_hosts
                .iter()
                .map(|h| variables.render(h))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("`{field}.allowed_outbound_hosts`: {e}"))?;
            let allowed = Arc::new(
                AllowedHosts::parse(&hosts)
                    .map_err(|e| anyhow::anyhow!("`{field}.allowed_outbound_hosts`: {e}"))?,
            );
            let (mounts, copies) =
                prepare_mounts(&manifest.base_dir, &decl.files, &decl.exclude_files)
                    .with_context(|| format!("`{field}.files`"))?;
            file_copies.extend(copies);
            // As Spin: a component may list only databases and stores that exist.
            services
                .sqlite
                .ensure_configured(id, &decl.sqlite_databases)?;
            services
                .key_value
                .ensure_configured(id, &decl.key_value_stores)?;
            let ctx = Arc::new(ComponentContext {
                id: id.clone(),
                variables: component_vars,
                allowed_hosts: (*allowed).clone(),
                sqlite_databases: decl.sqlite_databases.iter().cloned().collect(),
                key_value_stores: decl.key_value_stores.iter().cloned().collect(),
                services: services.clone(),
            });
            let route = manifest.http_triggers.iter().find_map(|t| match &t.route {
                Route::Path(p) if &t.component == id => Some(p.clone()),
                _ => None,
            });
            components.insert(
                id.clone(),
                LoadedComponent {
                    pre,
                    ctx,
                    allowed,
                    env: decl.environment.clone().into_iter().collect(),
                    mounts,
                    route,
                },
            );
        }
        let router = Router::build(&manifest.http_triggers).map_err(anyhow::Error::msg)?;
        Ok(Arc::new_cyclic(|me| App {
            router,
            components,
            request_timeout: options.request_timeout,
            max_memory_bytes: options.engine.max_memory_bytes,
            max_request_body_bytes: options.max_request_body_bytes,
            _file_copies: file_copies,
            me: me.clone(),
        }))
    }

    /// Handles one request from outside. Never fails: errors become problem+json responses.
    pub async fn handle<B>(
        &self,
        req: Request<B>,
        client: SocketAddr,
    ) -> (Response<HyperOutgoingBody>, Option<String>)
    where
        B: http_body::Body<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let path = req.uri().path().to_string();
        if path == "/.well-known/spin/health" {
            return (text_response(StatusCode::OK, "OK"), None);
        }
        let Some(route) = self.router.route(&path) else {
            return (
                problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not Found",
                    &format!("no route matches {path}"),
                ),
                None,
            );
        };
        let too_large = req
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|len| len > self.max_request_body_bytes);
        if too_large {
            return (
                problem(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload-too-large",
                    "Payload Too Large",
                    &format!(
                        "the request body is larger than {} bytes",
                        self.max_request_body_bytes
                    ),
                ),
                Some(route.component),
            );
        }
        let limit = usize::try_from(self.max_request_body_bytes).unwrap_or(usize::MAX);
        let req = req.map(|b| {
            Limited::new(b, limit)
                .map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(e.to_string())))
                .boxed_unsync()
        });
        let component = route.component.clone();
        match self.invoke(&component, req, &route, client).await {
            Ok(resp) => (resp, Some(component)),
            // Every instance slot of the pool is taken (long-polls hold theirs): the request
            // may succeed in a moment, so a 503 with Retry-After, not a component failure.
            Err(e) if pool_exhausted(&e) => {
                tracing::warn!(component = %component, error = %format!("{e:#}"), "instance pool full");
                let detail = "the app is handling as many requests as it can; retry shortly";
                (retry_later("busy", detail, "1"), Some(component))
            }
            // Over the time limit: the request may have done its work (a retry with the same
            // Idempotency-Key is safe), so the client is told to retry, not that we failed.
            Err(e) if e.downcast_ref::<TimedOut>().is_some() => {
                tracing::warn!(component = %component, error = %format!("{e:#}"), "component timed out");
                let detail = "the request took longer than the app allows; retry shortly";
                (retry_later("timeout", detail, "5"), Some(component))
            }
            Err(e) => {
                tracing::error!(component = %component, error = %format!("{e:#}"), "component failed");
                (
                    problem(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "component-failed",
                        "Internal Server Error",
                        "the component failed to handle the request",
                    ),
                    Some(component),
                )
            }
        }
    }

    /// Runs `component` on a fresh instance for this request.
    async fn invoke(
        &self,
        component: &str,
        mut req: Request<WasiBody>,
        route: &RouteMatch,
        client: SocketAddr,
    ) -> anyhow::Result<Response<HyperOutgoingBody>> {
        let loaded = self
            .components
            .get(component)
            .with_context(|| format!("no component {component}"))?;
        add_spin_headers(&mut req, route, client);

        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stdout().inherit_stderr().envs(&loaded.env);
        for (host, guest) in &loaded.mounts {
            wasi.preopened_dir(host, guest, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("mounting {} at {guest}", host.display()))?;
        }
        let chain: Weak<dyn ServiceChain> = self.me.clone();
        let state = HostState {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            outbound: OutboundHttp::new(loaded.allowed.clone(), chain),
            limits: StoreLimitsBuilder::new()
                .memory_size(self.max_memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            component: loaded.ctx.clone(),
        };
        let mut store = Store::new(loaded.pre.engine(), state);
        store.limiter(|s| &mut s.limits);
        // Every epoch tick a running guest yields to the executor, so one that computes
        // without pause cannot hold a worker thread others are waiting for (tokio's
        // `yield_now` puts it behind them, where wasmtime's own yield would let the
        // worker's LIFO slot run it again at once). Past the time limit it is stopped.
        let deadline = Instant::now() + self.request_timeout;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now()))
            })
        });

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let pre = loaded.pre.clone();
        let task = tokio::task::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });
        let abort = task.abort_handle();
        let outcome = tokio::time::timeout(self.request_timeout, receiver).await;
        match outcome {
            Ok(Ok(Ok(resp))) => Ok(resp),
            Ok(Ok(Err(code))) => bail!("component returned an error response: {code:?}"),
            Ok(Err(_)) => match task.await {
                Ok(Ok(())) => bail!("the component never set a response"),
                // The epoch callback stopped it at the time limit, just before the timer.
                Ok(Err(e)) if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) => {
                    Err(anyhow::Error::new(TimedOut(self.request_timeout)))
                }
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("the component trapped")),
                Err(e) => Err(anyhow::Error::new(e).context("the component's task failed")),
            },
            Err(_) => {
                abort.abort();
                Err(anyhow::Error::new(TimedOut(self.request_timeout)))
            }
        }
    }
}

impl App {
    /// Runs a request made from inside the app (service chaining or `self`): no client
    /// address of its own, and failures become the outbound call's error.
    async fn invoke_internal(
        &self,
        component: &str,
        request: Request<WasiBody>,
        route: &RouteMatch,
    ) -> Result<Response<WasiBody>, wasmtime_wasi_http::Error> {
        let client = SocketAddr::from(([127, 0, 0, 1], 0));
        self.invoke(component, request, route, client)
            .await
            .map_err(|e| wasmtime_wasi_http::Error::InternalError(Some(format!("{e:#}"))))
    }
}

impl ServiceChain for App {
    fn call(&self, component: String, request: Request<WasiBody>) -> ChainFuture {
        let me = self.me.upgrade();
        Box::pin(async move {
            let app = me.ok_or(wasmtime_wasi_http::Error::DestinationUnavailable)?;
            let loaded = app
                .components
                .get(&component)
                .ok_or(wasmtime_wasi_http::Error::DestinationNotFound)?;
            let raw_route = loaded.route.clone().unwrap_or_default();
            let route = RouteMatch {
                component: component.clone(),
                component_route: raw_route
                    .strip_suffix("/...")
                    .unwrap_or(&raw_route)
                    .to_string(),
                raw_route,
                path_info: request.uri().path().to_string(),
                captures: Vec::new(),
            };
            app.invoke_internal(&component, request, &route).await
        })
    }

    fn call_self(&self, request: Request<WasiBody>) -> ChainFuture {
        let me = self.me.upgrade();
        Box::pin(async move {
            let app = me.ok_or(wasmtime_wasi_http::Error::DestinationUnavailable)?;
            let path = request.uri().path().to_string();
            let Some(route) = app.router.route(&path) else {
                return Ok(problem(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "Not Found",
                    &format!("no route matches {path}"),
                ));
            };
            let component = route.component.clone();
            app.invoke_internal(&component, request, &route).await
        })
    }

    fn has_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }
}

fn build_linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    crate::variables::add_to_linker(&mut linker)?;
    crate::sqlite::add_to_linker(&mut linker)?;
    crate::key_value::add_to_linker(&mut linker)?;
    crate::postgres::add_to_linker(&mut linker)?;
    crate::redis::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Spin's request headers (crates/trigger-http/src/headers.rs).
fn add_spin_headers(req: &mut Request<WasiBody>, route: &RouteMatch, client: SocketAddr) {
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let full_url = format!("http://{host}{path_and_query}");
    let headers = req.headers_mut();
    headers.remove(http::header::CONNECTION);
    if !headers.contains_key(http::header::HOST) {
        headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    }
    let mut set = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    };
    set("spin-full-url", &full_url);
    set("spin-path-info", &route.path_info);
    set("spin-matched-route", &route.raw_route);
    set("spin-base-path", "/");
    set("spin-raw-component-route", &route.raw_route);
    set("spin-component-route", &route.component_route);
    set("spin-client-addr", &client.to_string());
    for (name, value) in &route.captures {
        set(&format!("spin-path-match-{name}"), value);
    }
}

/// Resolves `files` entries into (host folder, guest path) preopens. Glob patterns are
/// copied into a private folder mounted at `/`, keeping their relative paths, as Spin does.
fn prepare_mounts(
    base_dir: &Path,
    files: &[FileMount],
    exclude: &[String],
) -> anyhow::Result<(Vec<Mount>, Vec<tempfile::TempDir>)> {
    let mut mounts = Vec::new();
    let mut copies = Vec::new();
    let patterns: Vec<&String> = files
        .iter()
        .filter_map(|f| match f {
            FileMount::Pattern(p) => Some(p),
            FileMount::Placement { .. } => None,
        })
        .collect();
    let excluded: Vec<glob::Pattern> = exclude
        .iter()
        .map(|p| glob::Pattern::new(p).with_context(|| format!("exclude_files pattern {p:?}")))
        .collect::<anyhow::Result<_>>()?;
    if !patterns.is_empty() {
        let dir = tempfile::Builder::new().prefix("devhost-files").tempdir()?;
        for pattern in patterns {
            let full = base_dir.join(pattern);
            let full = full.to_string_lossy();
            for entry in glob::glob(&full).with_context(|| format!("pattern {pattern:?}"))? {
                let path = entry?;
                if !path.is_file() {
                    continue;
                }
                let rel = path.strip_prefix(base_dir).unwrap_or(&path).to_path_buf();
                if excluded.iter().any(|p| p.matches_path(&rel)) {
                    continue;
                }
                let dest = dir.path().join(&rel);
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(&path, &dest)
                    .with_context(|| format!("copying {}", path.display()))?;
            }
        }
        mounts.push((dir.path().to_path_buf(), "/".to_string()));
        copies.push(dir);
    }
    for f in files {
        if let FileMount::Placement {
            source,
            destination,
        } = f
        {
            if !source.is_dir() {
                bail!("source {} is not a folder", source.display());
            }
            mounts.push((source.clone(), destination.clone()));
        }
    }
    Ok((mounts, copies))
}

fn full_body(bytes: impl Into<Bytes>) -> HyperOutgoingBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn text_response(status: StatusCode, text: &'static str) -> Response<HyperOutgoingBody> {
    let mut resp = Response::new(full_body(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    resp
}

/// A request that was stopped at the host's time limit (`--request-timeout-secs`).
#[derive(Debug)]
struct TimedOut(Duration);

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the component did not respond within {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Whether instantiating failed because the pooling allocator has no free slot. wasmtime's
/// `PoolConcurrencyLimitError` reaches here converted to text, so its message is matched
/// (the conformance test `a_full_instance_pool_answers_503_with_retry_after` pins it).
fn pool_exhausted(e: &anyhow::Error) -> bool {
    e.chain()
        .any(|cause| cause.to_string().contains("maximum concurrent limit of"))
}

/// A `503` problem telling the client to retry after `seconds`.
fn retry_later(kind: &str, detail: &str, seconds: &'static str) -> Response<HyperOutgoingBody> {
    let mut resp = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        kind,
        "Service Unavailable",
        detail,
    );
    resp.headers_mut()
        .insert(http::header::RETRY_AFTER, HeaderValue::from_static(seconds));
    resp
}

/// A host-made `application/problem+json` response; `kind` becomes the stable `type`.
pub fn problem(
    status: StatusCode,
    kind: &str,
    title: &str,
    detail: &str,
) -> Response<HyperOutgoingBody> {
    let body = serde_json::json!({
        "type": format!("urn:support-agent:problem:{kind}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut resp = Response::new(full_body(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    resp
}
