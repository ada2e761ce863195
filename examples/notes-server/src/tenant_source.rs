//! The tenant name a request asks for, read for logging only (the tenant
//! middleware does the real, validated extraction).

use poem::Request;
use sea_orm_tenant::TenantKey;

/// What a request says about its tenant, as shown in the request log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestedTenant {
    /// Neither the `X-Tenant` header nor the `tenant` query parameter.
    None,
    /// A well-formed name (registered or not).
    Name(TenantKey),
    /// A malformed name: never logged as sent.
    Invalid,
    /// Header and query parameter disagree.
    Conflicting,
}

impl std::fmt::Display for RequestedTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("-"),
            Self::Name(key) => f.write_str(key.as_str()),
            Self::Invalid => f.write_str("(invalid)"),
            Self::Conflicting => f.write_str("(conflicting)"),
        }
    }
}

/// Reads the `X-Tenant` header and the `tenant` query parameter.
pub fn requested_tenant(req: &Request) -> RequestedTenant {
    #[derive(serde::Deserialize)]
    struct TenantParam {
        tenant: Option<String>,
    }
    let header = req
        .headers()
        .get("x-tenant")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let query = match req.params::<TenantParam>() {
        Ok(p) => p.tenant,
        Err(_) if req.uri().query().is_some_and(|q| q.contains("tenant")) => {
            return RequestedTenant::Invalid;
        }
        Err(_) => None,
    };
    let name = match (header, query) {
        (None, None) => return RequestedTenant::None,
        (Some(h), Some(q)) if h != q => return RequestedTenant::Conflicting,
        (Some(name), _) | (None, Some(name)) => name,
    };
    TenantKey::new(&name).map_or(RequestedTenant::Invalid, RequestedTenant::Name)
}
