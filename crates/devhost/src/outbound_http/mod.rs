//! `wasi:http/outgoing-handler` policy: the allow-list check, default timeouts, and service
//! chaining (`http://<component-id>.spin.internal`) into the app itself.
//!
//! The HTTP client is wasmtime-wasi-http's own (hyper + rustls); this module only decides
//! whether and where a request goes. A denied request fails with `HTTP-request-denied`, as
//! in Spin, never with a trap.

pub mod allowed_hosts;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use allowed_hosts::{AllowedHosts, OutboundTarget};

/// Default time limits for outbound requests the guest did not limit itself.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
pub const BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);

/// The future of a request served inside the app.
pub type ChainFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<WasiBody>, Error>> + Send>>;

/// Something that can serve a request inside the app: the server, for service chaining.
pub trait ServiceChain: Send + Sync {
    /// Calls `component` with `request`, as if it came from outside but on no network.
    fn call(&self, component: String, request: http::Request<WasiBody>) -> ChainFuture;
    /// Routes a relative request (`self`) through the app's router, on no network.
    fn call_self(&self, request: http::Request<WasiBody>) -> ChainFuture;
    /// Whether the app has a component with this id.
    fn has_component(&self, id: &str) -> bool;
}

/// The outbound policy of one request's store.
pub struct OutboundHttp {
    allowed: Arc<AllowedHosts>,
    chain: Weak<dyn ServiceChain>,
}

impl OutboundHttp {
    pub fn new(allowed: Arc<AllowedHosts>, chain: Weak<dyn ServiceChain>) -> Self {
        Self { allowed, chain }
    }
}

const INTERNAL_SUFFIX: &str = ".spin.internal";

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        drop(fut);
        let uri = request.uri().clone();
        let scheme = uri.scheme_str().unwrap_or("https").to_string();
        let host = uri.host().unwrap_or("").to_ascii_lowercase();
        let allowed = self.allowed.clone();
        let chain = self.chain.clone();
        Box::new(async move {
            let done: Box<dyn Future<Output = Result<(), Error>> + Send> =
                Box::new(async { Ok(()) });
            if let Some(id) = host.strip_suffix(INTERNAL_SUFFIX) {
                let target = OutboundTarget::new(&scheme, &host, uri.port_u16());
                if !allowed.allows(&target) {
                    return Err(Error::HttpRequestDenied);
                }
                let chain = chain.upgrade().ok_or(Error::DestinationUnavailable)?;
                if !chain.has_component(id) {
                    return Err(Error::DestinationNotFound);
                }
                let response = chain.call(id.to_string(), request).await?;
                return Ok((response, done));
            }
            if host.is_empty() {
                if !allowed.allows(&OutboundTarget::self_app(&scheme)) {
                    return Err(Error::HttpRequestDenied);
                }
                let chain = chain.upgrade().ok_or(Error::DestinationUnavailable)?;
                let response = chain.call_self(request).await?;
                return Ok((response, done));
            }
            let target = OutboundTarget::new(&scheme, &host, uri.port_u16());
            if !allowed.allows(&target) {
                return Err(Error::HttpRequestDenied);
            }
            let options = options.unwrap_or_default();
            let options = RequestOptions {
                connect_timeout: options.connect_timeout.or(Some(CONNECT_TIMEOUT)),
                first_byte_timeout: options.first_byte_timeout.or(Some(FIRST_BYTE_TIMEOUT)),
                between_bytes_timeout: options
                    .between_bytes_timeout
                    .or(Some(BETWEEN_BYTES_TIMEOUT)),
            };
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let io: Box<dyn Future<Output = Result<(), Error>> + Send> = Box::new(io);
            Ok((response.map(BodyExt::boxed_unsync), io))
        })
    }
}
