//! The audit a row database gets when its pool opens: its row tenants are
//! served only if it keeps each to its own rows.

use sea_orm::DatabaseConnection;

use crate::error::TenantError;
use crate::key::TenantKey;
use crate::rows::audit;

/// `Ok` if the row database behind `conn` is protected; otherwise the
/// broken rules, as [`TenantError::RowsUnprotected`] (the caller closes the
/// pool: nothing is served from it).
pub(super) async fn refuse_unprotected(
    conn: &DatabaseConnection,
    database: &TenantKey,
) -> Result<(), TenantError> {
    let report = audit(conn).await.map_err(|err| TenantError::Unavailable {
        tenant: database.clone(),
        reason: format!("the row-level security audit could not run: {err}"),
    })?;
    if report.is_protected() {
        tracing::debug!(
            role = %report.role,
            tenant_tables = ?report.tenant_tables,
            global_tables = ?report.global_tables,
            "row database audited"
        );
        return Ok(());
    }
    tracing::error!(
        findings = %report.findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
        "refusing row tenants: their database does not keep them to their own rows"
    );
    Err(TenantError::RowsUnprotected {
        tenant: database.clone(),
        findings: report.findings,
    })
}
