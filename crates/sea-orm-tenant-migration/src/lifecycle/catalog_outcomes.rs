//! Recording a run's per-tenant outcomes in the tenant catalog, which is how a
//! quarantined tenant comes back into service on every instance.

use sea_orm_tenant::{Catalog, CatalogError, TenantState};

use crate::runner::{Outcome, RunReport};

/// Records each catalog tenant's outcome in `report`: migrated or up to date,
/// `active` with its version; failed, `quarantined`. Tenants not in the report,
/// and rows that would not change, are left alone. A row that cannot be
/// written is logged and skipped; only an unreadable catalog is an error.
pub async fn record_outcomes(catalog: &Catalog, report: &RunReport) -> Result<(), CatalogError> {
    for entry in catalog
        .list()
        .await?
        .iter()
        .filter(|e| e.state.is_registered())
    {
        let Some(tenant) = report.tenant(entry.name.as_str()) else {
            continue;
        };
        let state = match tenant.outcome {
            Outcome::Migrated | Outcome::UpToDate => TenantState::Active,
            Outcome::Failed => TenantState::Quarantined,
            _ => continue,
        };
        if state == entry.state && (tenant.version == entry.version || tenant.version.is_none()) {
            continue;
        }
        if let Err(error) = catalog
            .set_state(&entry.name, state, tenant.version.as_deref())
            .await
        {
            tracing::warn!(tenant = %entry.name, %error, "state not recorded in the catalog");
        }
    }
    Ok(())
}
