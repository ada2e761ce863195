//! The admin API: `POST /admin/tenants`, `GET /admin/tenants`,
//! `DELETE /admin/tenants/{name}`, mounted only when `ADMIN_TOKEN` is set
//! (every `/admin` path is 404 otherwise). Requests carry the token as
//! `Authorization: Bearer ...`, compared in constant time; a missing or wrong
//! token is 401.
//!
//! Creating and dropping needs a catalog (`[catalog]` in the configuration),
//! so every instance learns of the change; without one they answer 409.

use poem_openapi::auth::Bearer;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme};
use sea_orm_tenant::{CatalogEntry, CatalogError, TenantState, redact_url};
use sea_orm_tenant_migration::{Placement, ProvisionError, Provisioner, StorageError};
use subtle::ConstantTimeEq;

use crate::error::ErrorBody;

/// The admin bearer token. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token; `None` when empty (an empty token would let anyone in).
    pub fn new(token: String) -> Option<Self> {
        (!token.is_empty()).then_some(Self(token))
    }

    fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// `Authorization: Bearer <ADMIN_TOKEN>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer")]
struct AdminAuth(Bearer);

/// A tenant, as the admin API shows it.
#[derive(Debug, Clone, Object)]
pub struct TenantInfo {
    /// The tenant's name.
    pub name: String,
    /// `provisioning`, `active`, `quarantined`, `disabled` or `deleting`.
    pub state: String,
    /// Where it lives (passwords masked).
    pub place: String,
    /// The last migration applied, as recorded.
    pub version: Option<String>,
    /// When it was created (milliseconds since the Unix epoch; 0 when unknown).
    pub created_at_ms: i64,
}

impl From<&CatalogEntry> for TenantInfo {
    fn from(e: &CatalogEntry) -> Self {
        Self {
            name: e.name.to_string(),
            state: e.state.to_string(),
            place: match &e.schema {
                Some(s) => format!("schema {s} in {}", redact_url(&e.url)),
                None => redact_url(&e.url),
            },
            version: e.version.clone(),
            created_at_ms: e.created_at_ms,
        }
    }
}

/// A tenant to create.
#[derive(Debug, Clone, Object)]
pub struct NewTenant {
    /// The name: 1 to 63 of `a-z 0-9 _ -`, not starting with `_` or `-`.
    #[oai(validator(max_length = 63))]
    pub name: String,
}

/// A created tenant.
#[derive(Debug, Clone, Object)]
pub struct CreatedTenant {
    /// The tenant's name.
    pub name: String,
    /// Where it lives (passwords masked).
    pub place: String,
    /// The last migration applied.
    pub version: Option<String>,
    /// Whether it was cloned from the template database.
    pub from_template: bool,
    /// How long creating it took, in milliseconds.
    pub millis: u64,
}

/// Answer of `POST /admin/tenants`.
#[derive(Debug, ApiResponse)]
pub enum CreateAnswer {
    /// Created, migrated and served on every instance.
    #[oai(status = 201)]
    Created(Json<CreatedTenant>),
}

/// Answer of `DELETE /admin/tenants/{name}`.
#[derive(Debug, ApiResponse)]
pub enum DropAnswer {
    /// Dropped: no longer served, its storage gone (unless `keep_data`).
    #[oai(status = 204)]
    Dropped,
}

/// The admin API's error answers.
#[derive(Debug, ApiResponse)]
pub enum AdminError {
    /// A malformed name or body.
    #[oai(status = 400)]
    BadRequest(Json<ErrorBody>),
    /// No bearer token, or the wrong one.
    #[oai(status = 401)]
    Unauthorized(Json<ErrorBody>),
    /// No tenant of this name.
    #[oai(status = 404)]
    NotFound(Json<ErrorBody>),
    /// The name is taken, or this server has no catalog to create or drop with.
    #[oai(status = 409)]
    Conflict(Json<ErrorBody>),
    /// The creation failed (nothing was left behind); details are logged.
    #[oai(status = 500)]
    Internal(Json<ErrorBody>),
    /// A database server or the catalog is unavailable; nothing was left behind.
    #[oai(status = 503)]
    Unavailable(Json<ErrorBody>),
}

fn body(message: impl Into<String>) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: message.into(),
    })
}

impl From<ProvisionError> for AdminError {
    fn from(err: ProvisionError) -> Self {
        let message = err.to_string();
        match err {
            ProvisionError::InvalidName { .. } | ProvisionError::Placement { .. } => {
                Self::BadRequest(body(message))
            }
            ProvisionError::AlreadyExists { .. } => Self::Conflict(body(message)),
            ProvisionError::NotFound { .. } => Self::NotFound(body(message)),
            ProvisionError::Storage {
                source: StorageError::Unavailable { .. },
                ..
            }
            | ProvisionError::Catalog {
                source: CatalogError::Unavailable(_),
                ..
            } => Self::Unavailable(body(message)),
            _ => {
                tracing::error!(error = %message, "tenant provisioning failed");
                Self::Internal(body(message))
            }
        }
    }
}

/// The admin API's state.
#[derive(Debug, Clone)]
pub struct AdminApi {
    token: AdminToken,
    provisioner: Provisioner,
    /// Where new tenants go; `None` without a catalog or `[provisioning]`.
    placement: Option<Placement>,
}

impl AdminApi {
    /// The API: `provisioner` has a catalog when create and drop are allowed.
    pub fn new(token: AdminToken, provisioner: Provisioner, placement: Option<Placement>) -> Self {
        Self {
            token,
            provisioner,
            placement,
        }
    }

    /// The provisioner behind the API: the server closes it at shutdown, so
    /// that the undo of a create cut short by the shutdown runs to its end.
    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    fn authorize(&self, auth: &AdminAuth) -> Result<(), AdminError> {
        if self.token.matches(&auth.0.token) {
            Ok(())
        } else {
            Err(AdminError::Unauthorized(body("wrong admin token")))
        }
    }

    fn require_catalog(&self) -> Result<(), AdminError> {
        match self.provisioner.catalog_ref() {
            Some(_) => Ok(()),
            None => Err(AdminError::Conflict(body(
                "creating and dropping tenants needs a catalog: add a [catalog] table (and a [shared] database) to the configuration",
            ))),
        }
    }

    fn placement(&self) -> Result<&Placement, AdminError> {
        self.require_catalog()?;
        self.placement.as_ref().ok_or_else(|| {
            AdminError::Conflict(body(
                "no placement for new tenants: set [provisioning] url or schema_in in the configuration",
            ))
        })
    }
}

/// Routes under `/admin`.
#[OpenApi(prefix_path = "/admin", tag = "AdminTag::Admin")]
impl AdminApi {
    /// Create a tenant: make its storage, migrate it, serve it on every instance.
    #[oai(path = "/tenants", method = "post")]
    async fn create(
        &self,
        auth: AdminAuth,
        tenant: Json<NewTenant>,
    ) -> Result<CreateAnswer, AdminError> {
        self.authorize(&auth)?;
        let placement = self.placement()?;
        let created = self.provisioner.create(&tenant.0.name, placement).await?;
        Ok(CreateAnswer::Created(Json(CreatedTenant {
            name: created.tenant.to_string(),
            place: created.place,
            version: created.version,
            from_template: created.from_template,
            millis: created.millis,
        })))
    }

    /// List the tenants with their states.
    #[oai(path = "/tenants", method = "get")]
    async fn list(&self, auth: AdminAuth) -> Result<Json<Vec<TenantInfo>>, AdminError> {
        self.authorize(&auth)?;
        let entries = self
            .provisioner
            .list()
            .await
            .map_err(|e| AdminError::Unavailable(body(e.to_string())))?;
        let out: Vec<_> = self
            .provisioner
            .store()
            .out_of_service()
            .into_iter()
            .map(|(tenant, _)| tenant)
            .collect();
        Ok(Json(
            entries
                .iter()
                .map(|e| {
                    let mut info = TenantInfo::from(e);
                    if e.state == TenantState::Active && out.contains(&e.name) {
                        info.state = TenantState::Quarantined.to_string();
                    }
                    info
                })
                .collect(),
        ))
    }

    /// Drop a tenant: stop serving it (404 on every instance), let in-flight
    /// requests finish, drop its storage (unless `keep_data`), forget it.
    #[oai(path = "/tenants/:name", method = "delete")]
    async fn drop_tenant(
        &self,
        auth: AdminAuth,
        name: Path<String>,
        keep_data: Query<Option<bool>>,
    ) -> Result<DropAnswer, AdminError> {
        self.authorize(&auth)?;
        self.require_catalog()?;
        self.provisioner
            .drop(&name.0, keep_data.0.unwrap_or(false))
            .await?;
        Ok(DropAnswer::Dropped)
    }
}

/// The admin API's tag in the OpenAPI spec.
#[derive(poem_openapi::Tags)]
enum AdminTag {
    /// Creating, listing and dropping tenants (only with `ADMIN_TOKEN` set).
    Admin,
}
