//! Hostile tenant names: each is rejected with the right typed error on every
//! entry point, and none creates a file or a database.

mod common;

use common::{small_pools, store_with};
use sea_orm::ConnectionTrait;
use sea_orm_tenant::testing::TestDatabases;
use sea_orm_tenant::{ConfigError, KeyError, TenantError, TenantKey, TenantsConfig};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Empty,
    TooLong,
    BadStart,
    Uppercase,
    NonAscii,
    InvalidChar,
    Reserved,
}

fn kind(err: &KeyError) -> Kind {
    match err {
        KeyError::Empty => Kind::Empty,
        KeyError::TooLong { .. } => Kind::TooLong,
        KeyError::BadStart { .. } => Kind::BadStart,
        KeyError::Uppercase { .. } => Kind::Uppercase,
        KeyError::NonAscii { .. } => Kind::NonAscii,
        KeyError::InvalidChar { .. } => Kind::InvalidChar,
        KeyError::Reserved(_) => Kind::Reserved,
        other => panic!("unexpected variant {other:?}"),
    }
}

fn hostile() -> Vec<(String, Kind)> {
    use Kind::*;
    let mut table: Vec<(String, Kind)> = [
        ("", Empty),
        ("-a", BadStart),
        ("_a", BadStart),
        ("-", BadStart),
        ("..", InvalidChar),
        (".", InvalidChar),
        ("../etc/passwd", InvalidChar),
        ("..\\..\\windows", InvalidChar),
        ("a/b", InvalidChar),
        ("/", InvalidChar),
        ("a\\b", InvalidChar),
        ("a\0b", InvalidChar),
        ("a b", InvalidChar),
        (" a", InvalidChar),
        ("a\t", InvalidChar),
        ("a\nb", InvalidChar),
        ("a\rb", InvalidChar),
        ("a'b", InvalidChar),
        ("a\"b", InvalidChar),
        ("a`b", InvalidChar),
        ("a;b", InvalidChar),
        ("x'; DROP DATABASE postgres; --", InvalidChar),
        ("a%2fb", InvalidChar),
        ("%2e%2e", InvalidChar),
        ("a%00", InvalidChar),
        ("a:b", InvalidChar),
        ("c:", InvalidChar),
        ("a*", InvalidChar),
        ("a?b", InvalidChar),
        ("a#b", InvalidChar),
        ("a&b", InvalidChar),
        ("a=b", InvalidChar),
        ("a|b", InvalidChar),
        ("$(id)", InvalidChar),
        ("a{b}", InvalidChar),
        ("a<b>", InvalidChar),
        ("a,b", InvalidChar),
        ("a+b", InvalidChar),
        ("a@b", InvalidChar),
        ("a.db", InvalidChar),
        ("Acme", Uppercase),
        ("acME", Uppercase),
        ("\u{0430}cme", NonAscii),
        ("acm\u{00e9}", NonAscii),
        ("\u{ff41}cme", NonAscii),
        ("a\u{200b}b", NonAscii),
        ("a\u{2215}b", NonAscii),
        ("\u{1f642}", NonAscii),
        ("con", Reserved),
        ("nul", Reserved),
        ("aux", Reserved),
        ("com1", Reserved),
        ("lpt9", Reserved),
    ]
    .into_iter()
    .map(|(s, k)| (s.to_owned(), k))
    .collect();
    table.push(("a".repeat(64), TooLong));
    table.push(("a".repeat(10_000), TooLong));
    table
}

#[test]
fn every_hostile_name_gets_the_right_error() {
    let table = hostile();
    assert!(table.len() >= 40);
    for (name, expected) in &table {
        let err = TenantKey::new(name).expect_err(name);
        assert_eq!(kind(&err), *expected, "{name:?}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn hostile_names_in_a_config_file_are_rejected() {
    for (name, expected) in hostile() {
        let mut tenant = toml::Table::new();
        tenant.insert("url".into(), "sqlite::memory:".into());
        let mut tenants = toml::Table::new();
        tenants.insert(name.clone(), tenant.into());
        let mut root = toml::Table::new();
        root.insert("tenants".into(), tenants.into());
        let text = toml::to_string(&root).unwrap();
        match TenantsConfig::from_toml_str(&text, ".") {
            Err(ConfigError::InvalidKey { name: got, source }) => {
                assert_eq!(got, name);
                assert_eq!(kind(&source), expected, "{name:?}");
            }
            other => panic!("{name:?}: expected InvalidKey, got {other:?}"),
        }
    }
}

/// The same names listed as a schema database's tenants get the same typed error.
#[test]
fn hostile_names_in_a_schema_database_are_rejected() {
    for (name, expected) in hostile() {
        for tenants_are in ["schemas", "rows"] {
            let mut database = toml::Table::new();
            database.insert("url".into(), "postgres://u:secret@127.0.0.1:1/app".into());
            database.insert("tenants_are".into(), tenants_are.into());
            database.insert(
                "tenants".into(),
                toml::Value::Array(vec!["fine".into(), name.clone().into()]),
            );
            let mut databases = toml::Table::new();
            databases.insert("app".into(), database.into());
            let mut root = toml::Table::new();
            root.insert("databases".into(), databases.into());
            let text = toml::to_string(&root).unwrap();
            match TenantsConfig::from_toml_str(&text, ".") {
                Err(ConfigError::InvalidKey { name: got, source }) => {
                    assert_eq!(got, name);
                    assert_eq!(kind(&source), expected, "{name:?}");
                }
                other => panic!("{name:?} ({tenants_are}): expected InvalidKey, got {other:?}"),
            }
        }
    }
}

async fn hostile_names_touch_nothing(mut dbs: TestDatabases) {
    let store = store_with(&mut dbs, 2, small_pools()).await;
    let db = store.db();
    let before = {
        let mut v = dbs.existing().await;
        v.sort();
        v
    };
    for (name, expected) in hostile() {
        let check = |err: TenantError| match err {
            TenantError::InvalidKey(e) => assert_eq!(kind(&e), expected, "{name:?}"),
            other => panic!("{name:?}: expected InvalidKey, got {other:?}"),
        };
        check(store.check(&name).unwrap_err());
        check(
            store
                .with_tenant(&name, db.execute_unprepared("CREATE TABLE pwned (x INT)"))
                .await
                .unwrap_err(),
        );
        check(store.connection(&name).await.unwrap_err());
        check(store.remove_tenant(&name).await.unwrap_err());
        // Inside a valid tenant, asking for a hostile one is still a key error, not a switch.
        let nested = store
            .with_tenant("t00", store.with_tenant(&name, async {}))
            .await
            .unwrap();
        check(nested.unwrap_err());
        // Registering one at runtime is refused with a typed config error.
        match store.add_tenant(&name, dbs.config("hostile")) {
            Err(ConfigError::InvalidKey { source, .. }) => assert_eq!(kind(&source), expected),
            other => panic!("{name:?}: expected InvalidKey, got {other:?}"),
        }
    }
    let mut after = dbs.existing().await;
    after.sort();
    assert_eq!(before, after, "a hostile name created a file or database");
    assert_eq!(store.stats().registered, 2);
    store.close().await;
    dbs.cleanup().await;
}

on_every_backend!(hostile_names_touch_nothing);
on_schema_tenants!(hostile_names_touch_nothing);
on_mysql_shared!(hostile_names_touch_nothing);
