//! Every numeric and duration setting has a range, checked when a configuration
//! is loaded or a tenant is added: a typed error naming the field, never a panic
//! on first use.

use std::time::Duration;

use sea_orm::ConnectionTrait;
use sea_orm_tenant::{ConfigError, PoolOptions, TenantConfig, TenantConnections, TenantsConfig};

fn out_of_range(err: &ConfigError, field: &str) -> bool {
    matches!(err, ConfigError::OutOfRange { field: f, .. } if *f == field)
}

#[test]
fn toml_values_that_used_to_panic_are_rejected_with_the_field_named() {
    let cases = [
        ("max_connections = 0", "max_connections"),
        ("max_connections = 4000000000", "max_connections"),
        (
            "acquire_timeout = \"18446744073709551615s\"",
            "acquire_timeout",
        ),
        ("connect_timeout = \"0s\"", "connect_timeout"),
        ("sqlite_busy_timeout = \"30days\"", "sqlite_busy_timeout"),
        ("idle_timeout = \"100years\"", "idle_timeout"),
        ("max_lifetime = \"0s\"", "max_lifetime"),
        (
            "max_connections = 2\nmin_connections = 3",
            "min_connections",
        ),
    ];
    for (line, field) in cases {
        for section in ["defaults", "tenants.acme"] {
            let url = if section == "defaults" {
                "[tenants.acme]\nurl = \"sqlite::memory:\"\n".to_owned()
            } else {
                String::new()
            };
            let text = if section == "defaults" {
                format!("[defaults]\n{line}\n{url}")
            } else {
                format!("[{section}]\nurl = \"sqlite::memory:\"\n{line}\n")
            };
            let err = TenantsConfig::from_toml_str(&text, ".").unwrap_err();
            assert!(out_of_range(&err, field), "{section}/{line}: {err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }
    for (line, field) in [
        ("max_open_pools = 0", "max_open_pools"),
        ("pool_idle_timeout = \"0s\"", "pool_idle_timeout"),
        ("close_timeout = \"1000years\"", "close_timeout"),
    ] {
        let err = TenantsConfig::from_toml_str(&format!("[store]\n{line}\n"), ".").unwrap_err();
        assert!(out_of_range(&err, field), "{line}: {err}");
    }
    for (line, field) in [
        ("moving_expiry = \"0s\"", "moving_expiry"),
        ("moving_expiry = \"1000years\"", "moving_expiry"),
        ("poll_interval = \"0s\"", "poll_interval"),
    ] {
        let text = format!("[shared]\nurl = \"sqlite::memory:\"\n[catalog]\n{line}\n");
        let err = TenantsConfig::from_toml_str(&text, ".").unwrap_err();
        assert!(out_of_range(&err, field), "{line}: {err}");
    }
    // In range, but shorter than a live mover's renewals can keep up with.
    let text = "[shared]\nurl = \"sqlite::memory:\"\n[catalog]\nmoving_expiry = \"2s\"\n";
    let err = TenantsConfig::from_toml_str(text, ".").unwrap_err();
    assert!(
        matches!(err, ConfigError::MovingExpiryTooShort { .. }),
        "{err}"
    );
}

#[test]
fn builder_and_add_tenant_check_ranges_too() {
    let zero = PoolOptions {
        max_connections: Some(0),
        ..Default::default()
    };
    let err = TenantConnections::builder()
        .tenant_config(
            "acme",
            TenantConfig::new("sqlite::memory:").with_pool(zero.clone()),
        )
        .build()
        .unwrap_err();
    assert!(out_of_range(&err, "max_connections"), "{err}");
    let err = TenantConnections::builder()
        .defaults(zero.clone())
        .build()
        .unwrap_err();
    assert!(out_of_range(&err, "max_connections"), "{err}");
    let err = TenantConnections::builder()
        .max_open_pools(0)
        .build()
        .unwrap_err();
    assert!(out_of_range(&err, "max_open_pools"), "{err}");

    let store = TenantConnections::builder().build().unwrap();
    let err = store
        .add_tenant("acme", TenantConfig::new("sqlite::memory:").with_pool(zero))
        .unwrap_err();
    assert!(out_of_range(&err, "max_connections"), "{err}");
    assert!(
        !store.contains("acme"),
        "a rejected tenant is not registered"
    );
}

#[tokio::test]
async fn the_extremes_of_each_range_work_on_first_use() {
    let dir = tempfile::tempdir().unwrap();
    let pool = PoolOptions {
        max_connections: Some(10_000),
        min_connections: Some(0),
        connect_timeout: Some(Duration::from_secs(3600)),
        acquire_timeout: Some(Duration::from_secs(3600)),
        idle_timeout: Some(Duration::from_secs(30 * 86_400)),
        max_lifetime: Some(Duration::from_secs(30 * 86_400)),
        sqlite_busy_timeout: Some(Duration::from_secs(86_400)),
        ..Default::default()
    };
    let url = format!("sqlite://{}/a.db?mode=rwc", dir.path().display());
    let store = TenantConnections::builder()
        .tenant_config("acme", TenantConfig::new(url).with_pool(pool))
        .max_open_pools(1_000_000)
        .pool_idle_timeout(Duration::from_secs(30 * 86_400))
        .close_timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let db = store.db();
    store
        .with_tenant("acme", db.execute_unprepared("CREATE TABLE t (x INTEGER)"))
        .await
        .unwrap()
        .unwrap();
    store.close().await;
}
