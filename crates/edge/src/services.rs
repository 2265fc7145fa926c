//! What every API route needs, opened once per request: the store, the counters, the token
//! settings and the request id; and the caller behind the request, with their tenant and
//! this request counted against the tenant's rate limits.
//!
//! The one place components authenticate, so every route checks auth, tenant and limits
//! the same way.

use core_logic::auth::{AuthConfig, Principal, Role};
use core_logic::problem::ProblemKind;
use core_logic::rate_limit::RateLimits;
use spin_sdk::http::Request;

use crate::counters::{self, Counters};
use crate::db::Db;
use crate::store::{self, Tenant};
use crate::{ApiError, config, rate_limit, request};

/// A request's services.
pub struct Services {
    pub db: Db,
    pub counters: Box<dyn Counters>,
    pub auth: AuthConfig,
    /// The host's `x-request-id`, forwarded on outbound calls.
    pub request_id: Option<String>,
}

impl Services {
    /// Opens the configured store and counters; a misconfiguration is logged under
    /// `component` and answered with a generic 500.
    pub fn open(req: &Request, component: &str) -> Result<Services, ApiError> {
        let misconfigured = |e: config::ConfigError| {
            crate::log::warn(component, &e.to_string());
            ApiError::internal()
        };
        let store = config::store_backend().map_err(misconfigured)?;
        let counters = config::counters_backend().map_err(misconfigured)?;
        Ok(Services {
            auth: crate::auth::auth_config()?,
            db: Db::open(&store)?,
            counters: counters::open(&counters)?,
            request_id: request::header_str(req, "x-request-id")?.map(str::to_string),
        })
    }

    /// The verified caller and their tenant, this request counted against the tenant's
    /// limits (per visitor for visitors, per client address for everyone).
    pub fn caller(&self, req: &Request) -> Result<(Principal, Tenant), ApiError> {
        let principal = crate::auth::authenticate(req, &self.auth)?;
        let tenant = store::tenant(&self.db, &principal.tenant)?.ok_or_else(|| {
            ApiError::new(ProblemKind::Unauthorized, "the token's tenant is not known")
        })?;
        crate::log::note_tenant(&tenant.id);
        let visitor = (principal.role == Role::Visitor).then_some(principal.subject.as_str());
        self.limit(req, &tenant, visitor)?;
        Ok((principal, tenant))
    }

    /// Counts this request against the tenant's limits.
    pub fn limit(
        &self,
        req: &Request,
        tenant: &Tenant,
        visitor: Option<&str>,
    ) -> Result<(), ApiError> {
        let limits = RateLimits::from_settings(&tenant.settings);
        let ip = request::client_ip(req);
        rate_limit::enforce(
            self.counters.as_ref(),
            &tenant.id,
            &limits,
            visitor,
            ip.as_deref(),
        )
    }
}

/// Whether `principal` is the visitor of `session_id` (visitors may only touch their own).
pub fn owns_session(principal: &Principal, session_id: &str) -> bool {
    principal.role == Role::Visitor && principal.session.as_deref() == Some(session_id)
}

/// The tenant's session `id` if `principal` may see it: its own visitor, or the tenant's
/// staff. Anything else (a malformed id, another visitor's or tenant's session) is the same
/// 404, so ids cannot be probed.
pub fn visible_session(
    db: &Db,
    principal: &Principal,
    tenant: &Tenant,
    id: &str,
) -> Result<store::Session, ApiError> {
    let no_session = || ApiError::not_found("no such session");
    if !core_logic::session::is_session_id(id)
        || (principal.role == Role::Visitor && !owns_session(principal, id))
    {
        return Err(no_session());
    }
    let session = store::get_session(db, &tenant.id, id)?.ok_or_else(no_session)?;
    if principal.role == Role::Visitor && session.visitor.id != principal.subject {
        return Err(no_session());
    }
    Ok(session)
}
