//! Declaring the tenant in the OpenAPI document (poem-openapi).
//!
//! The middleware reads the tenant before any operation runs, so poem-openapi
//! does not know about it, and generated clients would not send it. Take
//! [`TenantHeader`] (an `apiKey` security scheme for the `X-Tenant` header) or
//! [`TenantQuery`] (the `tenant` query parameter) as an operation argument: the
//! scheme appears in `components.securitySchemes` and in the operation's
//! `security`, and the argument gives the request's [`CurrentTenant`]. For other
//! names, implement [`TenantApiKeySpec`] on a unit type and use
//! [`TenantApiKey<YourSpec>`](TenantApiKey).
//!
//! ```
//! use poem_openapi::{OpenApi, OpenApiService, payload::PlainText};
//! use sea_orm_tenant_poem::TenantHeader;
//!
//! struct Api;
//!
//! #[OpenApi]
//! impl Api {
//!     #[oai(path = "/whoami", method = "get")]
//!     async fn whoami(&self, tenant: TenantHeader) -> PlainText<String> {
//!         PlainText(tenant.key().to_string())
//!     }
//! }
//!
//! let spec = OpenApiService::new(Api, "notes", "1.0").spec();
//! assert!(spec.contains(r#""TenantHeader""#));
//! assert!(spec.contains(r#""X-Tenant""#));
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::extract::CurrentTenant;

/// Where an API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyIn {
    /// A request header.
    Header,
    /// A query parameter.
    Query,
}

impl ApiKeyIn {
    fn as_str(self) -> &'static str {
        match self {
            ApiKeyIn::Header => "header",
            ApiKeyIn::Query => "query",
        }
    }
}

/// Names one tenant security scheme; see [`TenantApiKey`].
///
/// Keep it consistent with the middleware's [`Resolver`](crate::Resolver): the
/// document says where clients send the tenant, the resolver reads it there.
pub trait TenantApiKeySpec: Send + Sync + 'static {
    /// The scheme's name in `components.securitySchemes`.
    const SCHEME_NAME: &'static str;
    /// The header or query parameter name.
    const KEY_NAME: &'static str;
    /// Where the key is sent.
    const KEY_IN: ApiKeyIn;
    /// The scheme's description in the document.
    const DESCRIPTION: &'static str = "The tenant whose data this request reads and writes.";
}

/// The `X-Tenant` header, scheme `TenantHeader`.
#[derive(Debug, Clone, Copy)]
pub struct XTenantHeader;

impl TenantApiKeySpec for XTenantHeader {
    const SCHEME_NAME: &'static str = "TenantHeader";
    const KEY_NAME: &'static str = crate::resolver::DEFAULT_HEADER;
    const KEY_IN: ApiKeyIn = ApiKeyIn::Header;
}

/// The `tenant` query parameter, scheme `TenantQuery`.
#[derive(Debug, Clone, Copy)]
pub struct TenantQueryParam;

impl TenantApiKeySpec for TenantQueryParam {
    const SCHEME_NAME: &'static str = "TenantQuery";
    const KEY_NAME: &'static str = crate::resolver::DEFAULT_QUERY_PARAM;
    const KEY_IN: ApiKeyIn = ApiKeyIn::Query;
}

/// A poem-openapi operation argument that declares the tenant as an `apiKey`
/// security scheme and yields the request's [`CurrentTenant`] (resolved by the
/// middleware, which has already answered 400/404/503 for a bad tenant).
pub struct TenantApiKey<S> {
    tenant: CurrentTenant,
    spec: PhantomData<fn() -> S>,
}

/// The tenant in the `X-Tenant` header, declared in the OpenAPI document.
pub type TenantHeader = TenantApiKey<XTenantHeader>;
/// The tenant in the `tenant` query parameter, declared in the OpenAPI document.
pub type TenantQuery = TenantApiKey<TenantQueryParam>;

impl<S> TenantApiKey<S> {
    /// The request's tenant.
    pub fn tenant(&self) -> &CurrentTenant {
        &self.tenant
    }

    /// The request's tenant, by value.
    pub fn into_inner(self) -> CurrentTenant {
        self.tenant
    }
}

impl<S> Deref for TenantApiKey<S> {
    type Target = CurrentTenant;

    fn deref(&self) -> &CurrentTenant {
        &self.tenant
    }
}

impl<S> fmt::Debug for TenantApiKey<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TenantApiKey").field(&self.tenant).finish()
    }
}

impl<'a, S: TenantApiKeySpec> ApiExtractor<'a> for TenantApiKey<S> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            S::SCHEME_NAME,
            MetaSecurityScheme {
                ty: "apiKey",
                description: Some(S::DESCRIPTION),
                name: Some(S::KEY_NAME),
                key_in: Some(S::KEY_IN.as_str()),
                scheme: None,
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![S::SCHEME_NAME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(Self {
            tenant: CurrentTenant::from_request_data(req)?,
            spec: PhantomData,
        })
    }
}
