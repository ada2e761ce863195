//! The tenant name a request asks for, read for logging only (the tenant
//! middleware does the real, validated extraction).

use poem::Request;

/// The `X-Tenant` header, else the `tenant` query parameter, as sent.
pub fn requested_tenant(req: &Request) -> Option<String> {
    if let Some(value) = req.headers().get("x-tenant") {
        return Some(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    #[derive(serde::Deserialize)]
    struct TenantParam {
        tenant: Option<String>,
    }
    req.params::<TenantParam>().ok().and_then(|p| p.tenant)
}
