//! SQL a schema tenant's own calls may run that changes its session, each
//! aimed at moving later calls onto another tenant's schema or data.

/// Functions the attacks call, made once per schema database (in `public`).
pub const SETUP: &str = r#"
CREATE OR REPLACE FUNCTION public.hop(target text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('search_path', target, false);
    RETURN 1;
END $$;
CREATE OR REPLACE PROCEDURE public.hop_proc(target text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('search_path', target, false);
END $$;
"#;

/// One session-changing statement.
#[derive(Clone, Copy, Debug)]
pub struct Attack {
    pub name: &'static str,
    /// The SQL, given the target's search path (quoted schema) and a number
    /// that makes names unique.
    sql: fn(&str, usize) -> String,
    /// Whether the statement leaves a temporary table named `note` holding a
    /// row owned by `temp`.
    pub temp_note: bool,
}

impl Attack {
    pub fn sql(&self, target: &str, n: usize) -> String {
        (self.sql)(target, n)
    }
}

macro_rules! attack {
    ($name:literal, $temp:literal, |$t:ident, $n:ident| $sql:expr) => {
        Attack {
            name: $name,
            sql: |$t, $n| {
                let _ = ($t, $n);
                $sql
            },
            temp_note: $temp,
        }
    };
}

pub const TEMP_NOTE: &str = "CREATE TEMP TABLE IF NOT EXISTS note \
     (id SERIAL PRIMARY KEY, owner TEXT NOT NULL, body TEXT NOT NULL); \
     INSERT INTO pg_temp.note (owner, body) VALUES ('temp', 'temp')";

/// Every attack.
pub const ALL: &[Attack] = &[
    attack!("set_config", false, |t, n| format!(
        "SELECT set_config('search_path', '{t}', false)"
    )),
    attack!("SET search_path", false, |t, n| format!(
        "SET search_path = {t}"
    )),
    attack!("a function", false, |t, n| format!(
        "SELECT public.hop('{t}')"
    )),
    attack!("a function inside a read", false, |t, n| format!(
        "SELECT count(*) FROM note WHERE public.hop('{t}') = 1"
    )),
    attack!("a procedure", false, |t, n| format!(
        "CALL public.hop_proc('{t}')"
    )),
    attack!("Unicode escapes", false, |t, n| format!(
        r#"SELECT U&"set\005fconfig"(U&'search\005fpath', '{t}', false)"#
    )),
    attack!("PREPARE and EXECUTE", false, |t, n| format!(
        "PREPARE hop_p{n} AS SELECT set_config('search_path', '{t}', false); EXECUTE hop_p{n}"
    )),
    attack!("a DO block", false, |t, n| format!(
        "DO $$ BEGIN PERFORM set_config('search_path', '{t}', false); END $$"
    )),
    attack!("a temporary table", true, |t, n| TEMP_NOTE.to_owned()),
    attack!("a temporary table first in the path", true, |t, n| format!(
        "{TEMP_NOTE}; SELECT set_config('search_path', 'pg_temp, {t}', false)"
    )),
    attack!("a cursor kept open", false, |t, n| format!(
        "DECLARE hop_c{n} CURSOR WITH HOLD FOR SELECT owner, body FROM note"
    )),
    attack!("a transaction left open", false, |t, n| format!(
        "BEGIN; SELECT set_config('search_path', '{t}', false)"
    )),
    attack!("DISCARD ALL", false, |t, n| "DISCARD ALL".to_owned()),
    attack!("DEALLOCATE ALL", false, |t, n| "DEALLOCATE ALL".to_owned()),
    attack!(
        "the driver's statements dropped one by one",
        false,
        |t, n| format!("{DROP_DRIVER_STATEMENTS}; SET search_path = {t}")
    ),
    attack!("RESET ALL", false, |t, n| "RESET ALL".to_owned()),
    attack!(
        "forged checks prepared in the session",
        false,
        |t, n| format!("{FORGED_CHECKS}; SET search_path = {t}")
    ),
];

/// Drops each of the driver's prepared statements by name (not with
/// `DEALLOCATE ALL`).
const DROP_DRIVER_STATEMENTS: &str = "DO $$ DECLARE n text; BEGIN \
     FOR n IN SELECT name FROM pg_prepared_statements WHERE NOT from_sql LOOP \
     EXECUTE format('DEALLOCATE %I', n); END LOOP; END $$";

/// Statements that answer a session check with what the router would accept
/// from a session on the seat it left, under the names a router keeping
/// its checks prepared in the session would run (a router that did would be
/// fooled: it must send its checks as text).
const FORGED_CHECKS: &str = "DEALLOCATE ALL; \
     PREPARE sea_orm_tenant_check AS SELECT \
     pg_catalog.current_setting('search_path'), pg_catalog.current_schema()::text, \
     false, false, false, pg_catalog.current_setting('sea_orm_tenant.id', true); \
     PREPARE sea_orm_tenant_move(text, text) AS \
     SELECT false, false, false, pg_catalog.split_part(pg_catalog.ltrim($1, '\"'), '\"', 1)";

/// Functions the row attacks call, made once per row database (in `public`).
pub const ROW_SETUP: &str = r#"
CREATE OR REPLACE FUNCTION public.become(target text) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('sea_orm_tenant.id', target, false);
    RETURN 1;
END $$;
"#;

/// Statements a row tenant's own calls may run that change its tenant
/// setting, given the target tenant's id.
pub const ROWS: &[Attack] = &[
    attack!("set_config of the tenant", false, |t, n| format!(
        "SELECT set_config('sea_orm_tenant.id', '{t}', false)"
    )),
    attack!("SET of the tenant", false, |t, n| format!(
        "SET sea_orm_tenant.id = '{t}'"
    )),
    attack!("a function setting the tenant", false, |t, n| format!(
        "SELECT public.become('{t}')"
    )),
    attack!("a function inside a read", false, |t, n| format!(
        "SELECT count(*) FROM note WHERE public.become('{t}') = 1"
    )),
    attack!("Unicode escapes", false, |t, n| format!(
        r#"SELECT U&"set\005fconfig"(U&'sea\005form\005ftenant.id', '{t}', false)"#
    )),
    attack!("PREPARE/EXECUTE", false, |t, n| format!(
        "PREPARE become_{n} AS SELECT set_config('sea_orm_tenant.id', '{t}', false); EXECUTE become_{n}"
    )),
    attack!("RESET ALL", false, |t, n| "RESET ALL".to_owned()),
    attack!("DISCARD ALL", false, |t, n| "DISCARD ALL".to_owned()),
    attack!("an emptied tenant", false, |t, n| {
        "SELECT set_config('sea_orm_tenant.id', '', false)".to_owned()
    }),
    attack!("a transaction left open", false, |t, n| format!(
        "BEGIN; SELECT set_config('sea_orm_tenant.id', '{t}', false)"
    )),
    attack!("a temporary table", true, |t, n| TEMP_NOTE.to_owned()),
    attack!(
        "forged checks prepared in the session",
        false,
        |t, n| format!("{FORGED_CHECKS}; SELECT set_config('sea_orm_tenant.id', '{t}', false)")
    ),
];
