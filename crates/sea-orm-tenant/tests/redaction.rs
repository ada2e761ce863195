//! Passwords in connection URLs never reach `Debug`, `Display`, errors or logs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::ConnectionTrait;
use sea_orm_tenant::{
    ConfigError, PoolOptions, TenantConfig, TenantConnections, TenantError, TenantsConfig,
};

const PASSWORD: &str = "Sup3r-s3cret";

/// Collects everything a tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn assert_clean(what: &str, text: &str) {
    assert!(
        !text.contains(PASSWORD),
        "{what} leaks the password: {text}"
    );
    assert!(
        !text.contains("s3cret"),
        "{what} leaks part of the password: {text}"
    );
}

#[test]
fn debug_and_display_mask_passwords() {
    let url = format!("postgres://app:{PASSWORD}@127.0.0.1:1/acme");
    let config = TenantConfig::new(&url);
    assert_clean("TenantConfig Debug", &format!("{config:?}"));
    assert_clean("TenantConfig Display", &config.to_string());
    assert!(config.to_string().contains("app:***@127.0.0.1:1/acme"));

    let store = TenantConnections::builder()
        .tenant("acme", &url)
        .shared(format!("mysql://root:{PASSWORD}@127.0.0.1:1/shared"))
        .build()
        .unwrap();
    assert_clean("TenantConnections Debug", &format!("{store:?}"));
    assert_clean("TenantConnections Display", &store.to_string());
    assert_clean("TenantDb Debug", &format!("{:?}", store.db()));
    assert_clean(
        "tenant_config Debug",
        &format!("{:?}", store.tenant_config("acme")),
    );
}

#[test]
fn config_errors_mask_passwords() {
    let text = format!("[tenants.acme]\nurl = \"oracle://app:{PASSWORD}@db/acme\"\n");
    let err = TenantsConfig::from_toml_str(&text, ".").unwrap_err();
    assert!(matches!(err, ConfigError::UnsupportedUrl { .. }));
    assert_clean("ConfigError Display", &err.to_string());
    assert_clean("ConfigError Debug", &format!("{err:?}"));
}

#[test]
fn open_failures_mask_passwords_in_errors_and_logs() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Port 1 refuses connections; an unparsable URL makes SeaORM echo it back.
        let store = TenantConnections::builder()
            .tenant(
                "refused",
                format!("postgres://app:{PASSWORD}@127.0.0.1:1/acme"),
            )
            .tenant("garbled", format!("mysql://app:{PASSWORD}@[bad-host/acme"))
            .defaults(PoolOptions {
                connect_timeout: Some(Duration::from_millis(300)),
                ..Default::default()
            })
            .build()
            .unwrap();
        let db = store.db();
        for tenant in ["refused", "garbled"] {
            let err = store
                .with_tenant(tenant, db.execute_unprepared("SELECT 1"))
                .await
                .unwrap()
                .unwrap_err();
            assert!(matches!(
                TenantError::from_db_err(&err),
                Some(TenantError::Unavailable { .. })
            ));
            assert_clean("DbErr Display", &err.to_string());
            assert_clean("DbErr Debug", &format!("{err:?}"));
            let direct = store.connection(tenant).await.unwrap_err();
            assert_clean("TenantError Display", &direct.to_string());
            assert_clean("TenantError Debug", &format!("{direct:?}"));
        }
    });
    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("cannot open tenant database"), "{logs}");
    assert_clean("logs", &logs);
}
