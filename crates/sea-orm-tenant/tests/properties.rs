//! Property tests of the parsers of outside input: tenant names, schema names,
//! URL redaction and the TOML configuration. Never a panic; every invalid
//! input a typed error; every valid name round-trips; no password survives
//! redaction however it is encoded.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use sea_orm_tenant::{ConfigError, SchemaName, TenantKey, TenantsConfig, redact_url};

fn key_chars_ok(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Any string: a key that keeps the rule and round-trips, or a typed error.
    #[test]
    fn any_string_is_a_valid_key_or_a_typed_error(s in any::<String>()) {
        match TenantKey::new(&s) {
            Ok(key) => {
                prop_assert_eq!(key.as_str(), s.as_str());
                prop_assert!(key_chars_ok(&s) && s.len() <= 63, "{s:?} accepted");
                prop_assert_eq!(TenantKey::new(key.as_str()).unwrap(), key);
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }

    /// Every name of the documented shape is accepted (device names aside).
    #[test]
    fn every_well_formed_key_is_accepted(s in "[a-z0-9][a-z0-9_-]{0,62}") {
        let reserved = ["con", "prn", "aux", "nul"].contains(&s.as_str())
            || ((s.starts_with("com") || s.starts_with("lpt"))
                && s.len() == 4
                && s.as_bytes()[3].is_ascii_digit());
        prop_assert_eq!(TenantKey::new(&s).is_ok(), !reserved, "{:?}", s);
    }

    /// Any string: a schema name whose quoted form cannot escape, or a typed error.
    #[test]
    fn any_string_is_a_safe_schema_or_a_typed_error(s in any::<String>()) {
        match SchemaName::new(&s) {
            Ok(name) => {
                let quoted = name.quoted();
                prop_assert_eq!(quoted.matches('"').count(), 2);
                prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'));
                prop_assert!(!s.starts_with("pg_") && s != "public" && s.len() <= 63);
            }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }

    /// Every valid key under a valid prefix is a schema, or too long, never anything else.
    #[test]
    fn keys_under_a_prefix_are_schemas(key in "[a-z][a-z0-9_-]{0,62}", prefix in "[a-z_]{0,10}") {
        prop_assume!(!prefix.starts_with("pg_"));
        let Ok(key) = TenantKey::new(&key) else { return Ok(()) };
        match SchemaName::for_tenant(&prefix, &key) {
            Ok(schema) => prop_assert_eq!(schema.as_str(), format!("{prefix}{key}")),
            Err(err) => prop_assert!(
                prefix.len() + key.as_str().len() > 63
                    || format!("{prefix}{key}") == "public"
                    || format!("{prefix}{key}").starts_with("pg_"),
                "{err}"
            ),
        }
    }

    /// No password survives redaction, raw or percent-encoded, in any scheme.
    #[test]
    fn redaction_never_leaks_a_password(
        password in "[ -~]{6,24}",
        user in "[a-z]{1,8}",
        scheme in prop::sample::select(vec!["postgres", "postgresql", "mysql"]),
    ) {
        let encoded = utf8_percent_encode(&password, NON_ALPHANUMERIC).to_string();
        let url = format!("{scheme}://{user}:{encoded}@db.internal:5432/app");
        let redacted = redact_url(&url);
        prop_assert!(!redacted.contains(&encoded), "{redacted}");
        prop_assert!(!redacted.contains(&password), "{redacted}");
        prop_assert_eq!(redacted, format!("{scheme}://{user}:***@db.internal:5432/app"));
    }

    /// Any tenant table name and URL text in a configuration file: parsed, or a
    /// typed error that never shows the password.
    #[test]
    fn any_configuration_is_parsed_or_refused(
        name in "[ -~]{0,20}",
        tail in "[ -~]{0,30}",
    ) {
        let text = format!(
            "[tenants.{:?}]\nurl = {:?}\n",
            name,
            format!("postgres://u:hunter22@h/{tail}")
        );
        match TenantsConfig::from_toml_str(&text, "/srv/app") {
            Ok(config) => prop_assert_eq!(config.tenants.len(), 1),
            Err(err) => {
                prop_assert!(!err.to_string().contains("hunter22"), "{err}");
                prop_assert!(matches!(
                    err,
                    ConfigError::InvalidKey { .. }
                        | ConfigError::Parse { .. }
                        | ConfigError::MissingEnv { .. }
                        | ConfigError::UnterminatedEnv { .. }
                ), "{err:?}");
            }
        }
    }

    /// `${VAR}` anywhere in a URL: expanded, or (unset, unterminated) a typed
    /// error naming the tenant; never a panic.
    #[test]
    fn env_placeholders_expand_or_are_refused(
        before in "[a-z/:@.]{0,12}",
        var in "[A-Z_]{1,12}",
        after in "[a-z0-9/]{0,12}",
        close in any::<bool>(),
    ) {
        // A name no environment sets (set_var would need unsafe).
        let var = format!("SOT_PROPTEST_UNSET_{var}");
        let brace = if close { "}" } else { "" };
        let url = format!("postgres://{before}${{{var}{brace}{after}");
        let text = format!("[tenants.acme]\nurl = {url:?}\n");
        match TenantsConfig::from_toml_str(&text, "/srv/app") {
            Ok(config) => prop_assert!(!config.tenants[&TenantKey::new("acme").unwrap()].url().contains(&var)),
            Err(ConfigError::MissingEnv { target, var: missing }) => {
                prop_assert!(close);
                prop_assert_eq!(target, "acme");
                prop_assert!(missing.starts_with("SOT_PROPTEST_UNSET_"));
            }
            Err(ConfigError::UnterminatedEnv { target }) => {
                prop_assert!(!close);
                prop_assert_eq!(target, "acme");
            }
            Err(err) => prop_assert!(matches!(err, ConfigError::Parse { .. } | ConfigError::UnsupportedUrl { .. }), "{err:?}"),
        }
    }

    /// A relative SQLite path is resolved against the file's folder: the
    /// result is absolute and under that folder, whatever the working directory.
    #[test]
    fn relative_sqlite_paths_resolve_under_the_config_folder(
        path in "[a-z0-9_-]{1,10}(/[a-z0-9_.-]{1,10}){0,3}",
        query in prop::option::of(prop::sample::select(vec!["mode=rwc", "mode=rw"])),
    ) {
        prop_assume!(!path.split('/').any(|part| part == "." || part == ".."));
        let url = match query {
            Some(q) => format!("sqlite://{path}?{q}"),
            None => format!("sqlite://{path}"),
        };
        let text = format!("[tenants.acme]\nurl = {url:?}\n");
        let config = TenantsConfig::from_toml_str(&text, "/srv/app").unwrap();
        let tenant = &config.tenants[&TenantKey::new("acme").unwrap()];
        let resolved = tenant.sqlite_path().expect("a file");
        prop_assert!(resolved.is_absolute(), "{resolved:?}");
        prop_assert_eq!(resolved, std::path::Path::new("/srv/app").join(&path));
        if let Some(q) = query {
            let suffix = format!("?{q}");
            prop_assert!(tenant.url().ends_with(&suffix), "{}", tenant.url());
        }
    }
}
