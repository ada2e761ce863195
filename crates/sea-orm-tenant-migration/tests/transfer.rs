//! Export and import of one tenant (`sea_orm_tenant_migration::transfer`):
//! round trips on SQLite files and PostgreSQL databases verified row by row
//! on direct connections, refusals that change nothing, files of another kind.

mod common;

use std::path::{Path, PathBuf};

use common::{Migrator, small_pools};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_tenant::testing::{TestDatabases, TestRowDatabase};
use sea_orm_tenant::{TenantConfig, TenantConnections};
use sea_orm_tenant_migration::{
    EXIT_FAILED, EXIT_OK, EXIT_USAGE, MigrationCli, Provisioner, TransferError, TransferKind,
    transfer::manifest_path,
};

/// The provisioner an app exports and imports `store`'s tenants with.
fn provisioner(store: &TenantConnections) -> Provisioner {
    Provisioner::new::<Migrator>(store.clone())
}

/// Rows with awkward values: quotes, NULLs, non-ASCII, long text.
async fn fill(db: &impl ConnectionTrait, backend: DbBackend) {
    let ddl = match backend {
        DbBackend::Postgres => {
            "CREATE TABLE items (id SERIAL PRIMARY KEY, name TEXT NOT NULL, qty INTEGER, price NUMERIC(10, 2), made TIMESTAMPTZ DEFAULT now());
             CREATE INDEX items_name ON items (name);
             CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items (id), tag TEXT NOT NULL, PRIMARY KEY (item_id, tag))"
        }
        DbBackend::MySql => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY AUTO_INCREMENT, name TEXT NOT NULL, qty INTEGER, price DECIMAL(10, 2), made TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP);
             CREATE INDEX items_name ON items (name(100));
             CREATE TABLE tags (item_id INTEGER NOT NULL, tag VARCHAR(200) NOT NULL, PRIMARY KEY (item_id, tag), FOREIGN KEY (item_id) REFERENCES items (id))"
        }
        _ => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, qty INTEGER, price REAL, made TEXT);
             CREATE INDEX items_name ON items (name);
             CREATE TABLE tags (item_id INTEGER NOT NULL REFERENCES items (id), tag TEXT NOT NULL, PRIMARY KEY (item_id, tag))"
        }
    };
    db.execute_unprepared(ddl).await.unwrap();
    for i in 0..200 {
        let name = format!("item {i} it''s \"quoted\" é ✓ {}", "x".repeat(i));
        let qty = if i % 7 == 0 {
            "NULL".to_owned()
        } else {
            i.to_string()
        };
        db.execute_unprepared(&format!(
            "INSERT INTO items (name, qty, price) VALUES ('{name}', {qty}, {i}.25)"
        ))
        .await
        .unwrap();
        if i % 3 == 0 {
            db.execute_unprepared(&format!(
                "INSERT INTO tags (item_id, tag) VALUES ({}, 'every-third'), ({}, 'tag {i}')",
                i + 1,
                i + 1
            ))
            .await
            .unwrap();
        }
    }
}

/// Every row of both tables, each as text, in key order.
async fn rows(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let queries: &[&str] = match backend {
        DbBackend::Postgres => &[
            "SELECT row_to_json(t)::text AS r FROM (SELECT * FROM items ORDER BY id) t",
            "SELECT row_to_json(t)::text AS r FROM (SELECT * FROM tags ORDER BY item_id, tag) t",
        ],
        _ => &[
            "SELECT json_array(id, name, qty, price, made) AS r FROM items ORDER BY id",
            "SELECT json_array(item_id, tag) AS r FROM tags ORDER BY item_id, tag",
        ],
    };
    let mut out = Vec::new();
    for sql in queries {
        for row in db
            .query_all_raw(Statement::from_string(backend, *sql))
            .await
            .unwrap()
        {
            out.push(row.try_get::<String>("", "r").unwrap());
        }
    }
    out
}

async fn read_direct(dbs: &TestDatabases, tenant: &str) -> Vec<String> {
    let db = dbs.connect_direct(tenant).await;
    let out = rows(&db).await;
    db.close().await.ok();
    out
}

fn store(dbs: &TestDatabases, tenants: &[&str]) -> TenantConnections {
    let mut builder = TenantConnections::builder().defaults(small_pools());
    for name in tenants {
        builder = builder.tenant_config(name, dbs.config(name));
    }
    builder.build().unwrap()
}

fn modified(path: &Path) -> (u64, std::time::SystemTime) {
    let m = std::fs::metadata(path).unwrap();
    (m.len(), m.modified().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_round_trip_row_by_row_and_refusals() {
    let dbs = TestDatabases::sqlite();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a.sqlite");
    let store = store(&dbs, &["a", "b", "c"]);
    {
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::Sqlite).await;
    }
    let original = read_direct(&dbs, "a").await;
    assert_eq!(original.len(), 200 + 2 * 67);

    let exported = provisioner(&store).export("a", &file).await.unwrap();
    assert_eq!(exported.kind, TransferKind::SqliteFile);
    assert_eq!(exported.bytes, std::fs::metadata(&file).unwrap().len());
    assert!(manifest_path(&file).exists());
    // Never overwrites.
    assert!(matches!(
        provisioner(&store).export("a", &file).await,
        Err(TransferError::FileExists { .. })
    ));

    // B's file does not exist yet: imported, and equal row by row.
    assert!(!dbs.sqlite_path("b").exists());
    let imported = provisioner(&store).import("b", &file).await.unwrap();
    assert_eq!(imported.bytes, exported.bytes);
    assert_eq!(read_direct(&dbs, "b").await, original);
    // And served through the store, with the key sequence carried over.
    {
        let conn = store.connection("b").await.unwrap();
        conn.execute_unprepared("INSERT INTO items (name) VALUES ('after')")
            .await
            .unwrap();
        let row = conn
            .query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT max(id) AS m FROM items",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "m").unwrap(), 201);
    }

    // C exists with a table: refused, and C is untouched.
    {
        let conn = sea_orm::Database::connect(dbs.url("c")).await.unwrap();
        conn.execute_unprepared("CREATE TABLE mine (x INTEGER); INSERT INTO mine VALUES (42)")
            .await
            .unwrap();
        conn.close().await.unwrap();
    }
    let before = modified(&dbs.sqlite_path("c"));
    let err = provisioner(&store).import("c", &file).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::NotEmpty { tables, .. } if tables == &["mine".to_owned()]),
        "{err}"
    );
    assert_eq!(modified(&dbs.sqlite_path("c")), before);
    let c = dbs.connect_direct("c").await;
    let x = c
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT x FROM mine",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(x.try_get::<i64>("", "x").unwrap(), 42);
    assert!(
        c.query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT 1 FROM sqlite_master WHERE name = 'items'",
        ))
        .await
        .unwrap()
        .is_none()
    );
    c.close().await.ok();

    // B is open in this store now: refused too (its file would be replaced under the pool).
    assert!(matches!(
        provisioner(&store).import("b", &file).await,
        Err(TransferError::InUse { .. })
    ));
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_another_kind_or_without_its_manifest_is_refused() {
    let dbs = TestDatabases::sqlite();
    let out = tempfile::tempdir().unwrap();
    let store = store(&dbs, &["a", "b"]);
    {
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::Sqlite).await;
    }
    let file = out.path().join("a.sqlite");
    provisioner(&store).export("a", &file).await.unwrap();

    // The manifest names another backend: refused before anything is read.
    let other = out.path().join("other.dump");
    std::fs::copy(&file, &other).unwrap();
    let manifest = std::fs::read_to_string(manifest_path(&file))
        .unwrap()
        .replace("sqlite-file", "postgres-database");
    std::fs::write(manifest_path(&other), manifest).unwrap();
    let err = provisioner(&store).import("b", &other).await.unwrap_err();
    assert!(
        matches!(
            err,
            TransferError::KindMismatch {
                file_kind: TransferKind::PostgresDatabase,
                tenant_kind: TransferKind::SqliteFile,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("PostgreSQL database"), "{err}");

    // A file that is not what its manifest says.
    let fake = out.path().join("fake.sqlite");
    std::fs::write(&fake, vec![b'x'; exported_len(&file)]).unwrap();
    std::fs::copy(manifest_path(&file), manifest_path(&fake)).unwrap();
    assert!(matches!(
        provisioner(&store).import("b", &fake).await,
        Err(TransferError::Corrupt { .. })
    ));

    // No manifest.
    let bare = out.path().join("bare.sqlite");
    std::fs::copy(&file, &bare).unwrap();
    assert!(matches!(
        provisioner(&store).import("b", &bare).await,
        Err(TransferError::ManifestMissing { .. })
    ));
    // Unknown and hostile names.
    assert!(matches!(
        provisioner(&store).import("zz", &file).await,
        Err(TransferError::UnknownTenant { .. })
    ));
    assert!(matches!(
        provisioner(&store)
            .export("a'; DROP TABLE items; --", &out.path().join("x"))
            .await,
        Err(TransferError::InvalidName { .. })
    ));
    assert!(!dbs.sqlite_path("b").exists(), "nothing imported");
    store.close().await;
}

fn exported_len(file: &Path) -> usize {
    std::fs::metadata(file).unwrap().len() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_round_trip_row_by_row_and_refusals() {
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    dbs.create("a").await;
    dbs.create("b").await;
    dbs.create("c").await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a.dump");
    let store = store(&dbs, &["a", "b", "c", "missing"]);
    {
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::Postgres).await;
    }
    let original = read_direct(&dbs, "a").await;
    assert_eq!(original.len(), 200 + 2 * 67);

    let exported = provisioner(&store).export("a", &file).await.unwrap();
    assert_eq!(exported.kind, TransferKind::PostgresDatabase);
    assert!(std::fs::read(&file).unwrap().starts_with(b"PGDMP"));

    let imported = provisioner(&store).import("b", &file).await.unwrap();
    assert_eq!(imported.kind, TransferKind::PostgresDatabase);
    assert_eq!(read_direct(&dbs, "b").await, original);
    {
        // The sequence came along: a new row gets the next key.
        let b = dbs.connect_direct("b").await;
        let row = b
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "INSERT INTO items (name) VALUES ('after') RETURNING id",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i32>("", "id").unwrap(), 201);
        b.close().await.ok();
    }

    // C holds a table: refused, and C is untouched.
    let c = dbs.connect_direct("c").await;
    c.execute_unprepared("CREATE TABLE mine (x INTEGER); INSERT INTO mine VALUES (42)")
        .await
        .unwrap();
    let err = provisioner(&store).import("c", &file).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::NotEmpty { tables, .. } if tables == &["public.mine".to_owned()]),
        "{err}"
    );
    let names: Vec<String> = c
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT relname::text AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "n").unwrap())
        .collect();
    assert_eq!(names, ["mine"]);
    c.close().await.ok();

    // A database that does not exist.
    assert!(matches!(
        provisioner(&store).import("missing", &file).await,
        Err(TransferError::Missing { .. })
    ));

    // Across kinds, both ways: a SQLite export into PostgreSQL, a dump into SQLite.
    let sqlite = TestDatabases::sqlite();
    let lite = self::store(&sqlite, &["s", "t"]);
    {
        let conn = lite.connection("s").await.unwrap();
        fill(&conn, DbBackend::Sqlite).await;
    }
    let lite_file = out.path().join("s.sqlite");
    provisioner(&lite).export("s", &lite_file).await.unwrap();
    assert!(matches!(
        provisioner(&store).import("missing", &lite_file).await,
        Err(TransferError::KindMismatch {
            file_kind: TransferKind::SqliteFile,
            ..
        })
    ));
    assert!(matches!(
        provisioner(&lite).import("t", &file).await,
        Err(TransferError::KindMismatch {
            file_kind: TransferKind::PostgresDatabase,
            ..
        })
    ));
    assert!(!sqlite.sqlite_path("t").exists());
    lite.close().await;
    store.close().await;
    dbs.cleanup().await;
}

/// A password in the tenant's URL never reaches an error message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_errors_carry_no_password() {
    let Some(mut dbs) = TestDatabases::postgres() else {
        return;
    };
    dbs.create("a").await;
    let mut url = url::Url::parse(&dbs.url("a")).unwrap();
    url.set_username("sot_no_such_role").unwrap();
    url.set_password(Some("s3cretpw")).unwrap();
    let store = TenantConnections::builder()
        .defaults(small_pools())
        .tenant("a", url.as_str())
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = provisioner(&store)
        .export("a", &out.path().join("a.dump"))
        .await
        .unwrap_err();
    let text = format!("{err} {err:?}");
    eprintln!("refused as expected: {err}");
    assert!(!text.contains("s3cretpw"), "{text}");
    assert!(!out.path().join("a.dump").exists());
    store.close().await;
    dbs.cleanup().await;
}

/// The CLI verbs: export, import into an empty tenant, a refused second import.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_export_then_import() {
    let dbs = TestDatabases::sqlite();
    let out = tempfile::tempdir().unwrap();
    let config = out.path().join("tenants.toml");
    std::fs::write(
        &config,
        format!(
            "[tenants.a]\nurl = \"{}\"\n[tenants.b]\nurl = \"{}\"\n",
            dbs.url("a"),
            dbs.url("b")
        ),
    )
    .unwrap();
    {
        let store = store(&dbs, &["a"]);
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::Sqlite).await;
        drop(conn);
        store.close().await;
    }
    let file: PathBuf = out.path().join("a.sqlite");
    let cli = MigrationCli::new::<Migrator>();
    let run = |verb: &'static str, tenant: &'static str| {
        let args = vec![
            "migration".to_owned(),
            "--config".to_owned(),
            config.display().to_string(),
            "tenant".to_owned(),
            verb.to_owned(),
            tenant.to_owned(),
            file.display().to_string(),
        ];
        let cli = cli.clone();
        async move { cli.run_from(args).await }
    };
    assert_eq!(run("export", "a").await, EXIT_OK);
    assert_eq!(run("export", "a").await, EXIT_USAGE, "never overwrites");
    assert_eq!(run("import", "b").await, EXIT_OK);
    assert_eq!(read_direct(&dbs, "b").await, read_direct(&dbs, "a").await);
    assert_eq!(run("import", "b").await, EXIT_FAILED, "b is not empty now");
    assert_eq!(run("import", "nope").await, EXIT_USAGE);
}

/// A schema tenant goes into a schema of the same name in another database,
/// into a schema of another name, and into a database tenant; a database
/// tenant goes into a schema tenant. Equal row by row each time, nothing in
/// the other schemas, no scratch database left; a non-empty target refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_schema_round_trip_into_any_postgres_placement() {
    let (Some(mut src), Some(mut dst), Some(mut databases)) = (
        TestDatabases::postgres_schemas(),
        TestDatabases::postgres_schemas(),
        TestDatabases::postgres(),
    ) else {
        return;
    };
    src.create("a").await;
    dst.create("a").await;
    dst.create("b").await;
    dst.create("c").await;
    databases.create("d").await;
    databases.create("e").await;
    let store = TenantConnections::builder()
        .defaults(small_pools())
        .tenant_config("a", src.config("a"))
        .tenant_config("a2", dst.config("a"))
        .tenant_config("b2", dst.config("b"))
        .tenant_config("c2", dst.config("c"))
        .tenant_config("d", databases.config("d"))
        .tenant_config("e", databases.config("e"))
        .build()
        .unwrap();
    {
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::Postgres).await;
        let conn = store.connection("e").await.unwrap();
        fill(&conn, DbBackend::Postgres).await;
    }
    let original = read_direct(&src, "a").await;
    assert_eq!(original.len(), 200 + 2 * 67);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a.dump");
    let exported = provisioner(&store).export("a", &file).await.unwrap();
    assert_eq!(exported.kind, TransferKind::PostgresSchema);

    // The same name in another database: restored, equal row by row.
    provisioner(&store).import("a2", &file).await.unwrap();
    assert_eq!(read_direct(&dst, "a").await, original);
    // Another schema name, and a database tenant's `public`.
    provisioner(&store).import("b2", &file).await.unwrap();
    assert_eq!(read_direct(&dst, "b").await, original);
    provisioner(&store).import("d", &file).await.unwrap();
    assert_eq!(read_direct(&databases, "d").await, original);
    // A database tenant's archive into a schema tenant.
    let e_file = out.path().join("e.dump");
    provisioner(&store).export("e", &e_file).await.unwrap();
    provisioner(&store).import("c2", &e_file).await.unwrap();
    assert_eq!(
        read_direct(&dst, "c").await,
        read_direct(&databases, "e").await
    );

    // Each schema holds only its own tables; no scratch database is left.
    let admin = dst.connect_direct("a").await;
    let per_schema = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT n.nspname::text || ':' || count(*)::text AS r FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind = 'r' AND n.nspname IN ('s_a', 's_b', 's_c', 'public') \
             GROUP BY n.nspname ORDER BY 1",
        ))
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String>("", "r").unwrap())
        .collect::<Vec<_>>();
    assert_eq!(per_schema, ["s_a:2", "s_b:2", "s_c:2"]);
    let scratch = admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT datname FROM pg_database WHERE datname LIKE 'sot\\_import\\_%'",
        ))
        .await
        .unwrap();
    assert!(scratch.is_empty(), "a scratch database was left behind");
    admin.close().await.ok();

    // Now not empty: refused, unchanged.
    for tenant in ["a2", "b2", "d"] {
        assert!(matches!(
            provisioner(&store).import(tenant, &file).await,
            Err(TransferError::NotEmpty { .. })
        ));
    }
    assert_eq!(read_direct(&dst, "b").await, original);
    store.close().await;
    src.cleanup().await;
    dst.cleanup().await;
    databases.cleanup().await;
}

/// A database for row tenants with `note` (an identity key) and `label` (a
/// foreign key to `note`, tenant column first; named to come first, so
/// the import meets the child before its parent), or `None` (skipped).
async fn row_database() -> Option<TestRowDatabase> {
    let db = TestRowDatabase::new().await?;
    db.create_note_table().await;
    let tag = sea_orm_tenant::rows::RowTable::new("label").unwrap();
    db.sql(&format!(
        "CREATE TABLE public.label ({column}, note_id integer NOT NULL, tag text NOT NULL, \
           PRIMARY KEY (tenant_id, note_id, tag), \
           FOREIGN KEY (tenant_id, note_id) REFERENCES public.note (tenant_id, id)); \
         ALTER TABLE public.label OWNER TO {role}; {up}",
        column = sea_orm_tenant::rows::RowTable::column_definition(),
        role = db.name(),
        up = tag.enable_statements().join("; ")
    ))
    .await;
    Some(db)
}

/// Every `(tenant, row)` of `note` and `label`, each row as JSON without the
/// tenant column, read directly as the superuser.
async fn row_tenant_rows(db: &TestRowDatabase, tenant: &str) -> Vec<String> {
    let conn = sea_orm::Database::connect(db.owner_url()).await.unwrap();
    let mut out = Vec::new();
    for sql in [
        "SELECT (to_jsonb(t) - 'tenant_id')::text AS r FROM public.note t WHERE tenant_id = $1 ORDER BY id",
        "SELECT (to_jsonb(t) - 'tenant_id')::text AS r FROM public.label t WHERE tenant_id = $1 ORDER BY note_id, tag",
    ] {
        for row in conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                [tenant.into()],
            ))
            .await
            .unwrap()
        {
            out.push(row.try_get::<String>("", "r").unwrap());
        }
    }
    conn.close().await.ok();
    out
}

/// A row tenant's rows go, by `COPY`, to another row tenant of the same
/// database and of another one: equal row by row (keys kept, awkward text
/// intact), the source and its neighbour untouched, the target's next insert
/// past the imported keys; a tenant with rows is refused, nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_tenant_round_trip_row_by_row_and_refusals() {
    let (Some(here), Some(there)) = (row_database().await, row_database().await) else {
        return;
    };
    let mut fill = String::new();
    for (tenant, n) in [("acme", 120), ("globex", 7)] {
        for i in 1..=n {
            let body = format!("{tenant} {i}: it''s \\ back\\slash, tab\t, newline\n, é ✓");
            fill.push_str(&format!(
                "INSERT INTO public.note (tenant_id, owner, body) VALUES ('{tenant}', 'o{i}', E'{}');",
                body.replace('\\', "\\\\").replace('\t', "\\t").replace('\n', "\\n")
            ));
            if i % 3 == 0 {
                fill.push_str(&format!(
                    "INSERT INTO public.label (tenant_id, note_id, tag) \
                     SELECT '{tenant}', id, 'every third' FROM public.note \
                     WHERE tenant_id = '{tenant}' AND owner = 'o{i}';"
                ));
            }
        }
    }
    here.sql(&fill).await;
    let acme = row_tenant_rows(&here, "acme").await;
    let globex = row_tenant_rows(&here, "globex").await;
    assert_eq!(acme.len(), 120 + 40);

    let rows = |db: &TestRowDatabase| {
        TenantConfig::new(db.app_url())
            .in_rows()
            .with_pool(small_pools())
    };
    let store = TenantConnections::builder()
        .tenant_config("acme", rows(&here))
        .tenant_config("globex", rows(&here))
        .tenant_config("copy", rows(&here))
        .tenant_config("far", rows(&there))
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("acme.rows");
    let exported = provisioner(&store).export("acme", &file).await.unwrap();
    assert_eq!(exported.kind, TransferKind::PostgresRows);
    let archive = std::fs::read(&file).unwrap();
    assert!(
        !String::from_utf8_lossy(&archive).contains("globex"),
        "the archive holds only acme's rows"
    );

    // Into a tenant with rows: refused, nothing changed.
    let err = provisioner(&store)
        .import("globex", &file)
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::NotEmpty { .. }), "{err}");
    assert_eq!(row_tenant_rows(&here, "globex").await, globex);

    for (tenant, db) in [("copy", &here), ("far", &there)] {
        provisioner(&store).import(tenant, &file).await.unwrap();
        assert_eq!(row_tenant_rows(db, tenant).await, acme, "{tenant}");
        // The imported keys are behind the sequence: a new row gets a new key.
        let conn = store.db();
        store
            .with_tenant(
                tenant,
                conn.execute_unprepared("INSERT INTO note (owner, body) VALUES ('new', 'after')"),
            )
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("insert into {tenant} after the import: {e}"));
    }
    assert_eq!(row_tenant_rows(&here, "acme").await, acme);
    assert_eq!(row_tenant_rows(&here, "globex").await, globex);
    assert_eq!(row_tenant_rows(&there, "acme").await, Vec::<String>::new());

    // Again into the same tenant: now not empty, refused.
    assert!(matches!(
        provisioner(&store).import("far", &file).await,
        Err(TransferError::NotEmpty { .. })
    ));
    store.close().await;
    here.cleanup().await;
    there.cleanup().await;
}

/// Every row of `note` and `label` of a promoted tenant, as JSON, read
/// directly; then a new note, which must get a key of its own.
async fn promoted_rows(dbs: &TestDatabases, tenant: &str) -> Vec<String> {
    let conn = dbs.connect_direct(tenant).await;
    let mut out = Vec::new();
    for sql in [
        "SELECT to_jsonb(t)::text AS r FROM note t ORDER BY id",
        "SELECT to_jsonb(t)::text AS r FROM label t ORDER BY note_id, tag",
    ] {
        for row in conn
            .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .unwrap()
        {
            out.push(row.try_get::<String>("", "r").unwrap());
        }
    }
    conn.execute_unprepared("INSERT INTO note (owner, body) VALUES ('new', 'after')")
        .await
        .unwrap_or_else(|e| panic!("insert into {tenant} after the import: {e}"));
    conn.close().await.ok();
    out
}

/// Promotion: a row tenant's archive into a schema tenant and a database
/// tenant whose migrations made the same tables without the tenant column:
/// equal row by row, parents first, the next key past the imported ones; a
/// target with rows is refused, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_tenant_is_promoted_to_a_schema_and_a_database() {
    let (Some(rows_db), Some(mut schemas), Some(mut databases)) = (
        row_database().await,
        TestDatabases::postgres_schemas(),
        TestDatabases::postgres(),
    ) else {
        return;
    };
    let mut fill = String::new();
    for i in 1..=30 {
        fill.push_str(&format!(
            "INSERT INTO public.note (tenant_id, owner, body) VALUES ('acme', 'o{i}', E'line\\n{i} \\\\ it''s');"
        ));
        if i % 2 == 0 {
            fill.push_str(&format!(
                "INSERT INTO public.label (tenant_id, note_id, tag) \
                 SELECT 'acme', id, 'even' FROM public.note WHERE owner = 'o{i}';"
            ));
        }
    }
    rows_db.sql(&fill).await;
    let acme = row_tenant_rows(&rows_db, "acme").await;
    assert_eq!(acme.len(), 45);

    schemas.create("p").await;
    databases.create("q").await;
    let tables = "CREATE TABLE note (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, \
                    owner text NOT NULL, body text NOT NULL); \
                  CREATE TABLE label (note_id integer NOT NULL REFERENCES note (id), \
                    tag text NOT NULL, PRIMARY KEY (note_id, tag))";
    for conn in [
        schemas.connect_direct("p").await,
        databases.connect_direct("q").await,
    ] {
        conn.execute_unprepared(tables).await.unwrap();
        conn.close().await.ok();
    }
    let store = TenantConnections::builder()
        .defaults(small_pools())
        .tenant_config("acme", TenantConfig::new(rows_db.app_url()).in_rows())
        .tenant_config("p", schemas.config("p"))
        .tenant_config("q", databases.config("q"))
        .build()
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("acme.rows");
    provisioner(&store).export("acme", &file).await.unwrap();
    for (tenant, dbs) in [("p", &schemas), ("q", &databases)] {
        let imported = provisioner(&store).import(tenant, &file).await.unwrap();
        assert_eq!(
            imported.kind,
            if tenant == "p" {
                TransferKind::PostgresSchema
            } else {
                TransferKind::PostgresDatabase
            }
        );
        assert_eq!(promoted_rows(dbs, tenant).await, acme, "{tenant}");
        let err = provisioner(&store).import(tenant, &file).await.unwrap_err();
        assert!(matches!(err, TransferError::NotEmpty { .. }), "{err}");
    }
    assert_eq!(row_tenant_rows(&rows_db, "acme").await, acme);
    store.close().await;
    rows_db.cleanup().await;
    schemas.cleanup().await;
    databases.cleanup().await;
}

/// A MySQL/MariaDB database tenant goes into another tenant's empty
/// database: equal row by row, its next key after the imported ones; a
/// database with a table, or none at all, is refused with nothing changed.
async fn mysql_round_trip(mut dbs: TestDatabases) {
    dbs.create("a").await;
    dbs.create("b").await;
    dbs.create("c").await;
    dbs.create("d").await;
    dbs.create("e").await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("a.sql");
    let store = store(&dbs, &["a", "b", "c", "d", "e", "missing"]);
    {
        let conn = store.connection("a").await.unwrap();
        fill(&conn, DbBackend::MySql).await;
    }
    let original = read_direct(&dbs, "a").await;
    assert_eq!(original.len(), 200 + 2 * 67);

    let exported = provisioner(&store).export("a", &file).await.unwrap();
    assert_eq!(exported.kind, TransferKind::MySqlDatabase);
    let dump = String::from_utf8_lossy(&std::fs::read(&file).unwrap()).into_owned();
    assert!(
        !dump.contains("CREATE DATABASE") && !dump.contains("\nUSE "),
        "the dump names no database"
    );

    provisioner(&store).import("b", &file).await.unwrap();
    assert_eq!(read_direct(&dbs, "b").await, original);
    {
        let b = dbs.connect_direct("b").await;
        b.execute_unprepared("INSERT INTO items (name) VALUES ('after')")
            .await
            .unwrap();
        let row = b
            .query_one_raw(Statement::from_string(
                DbBackend::MySql,
                "SELECT CAST(MAX(id) AS SIGNED) AS id FROM items",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "id").unwrap(), 201);
        b.close().await.ok();
    }

    // C holds a table: refused, C untouched.
    let c = dbs.connect_direct("c").await;
    c.execute_unprepared("CREATE TABLE mine (x INTEGER); INSERT INTO mine VALUES (42)")
        .await
        .unwrap();
    let err = provisioner(&store).import("c", &file).await.unwrap_err();
    assert!(
        matches!(&err, TransferError::NotEmpty { tables, .. } if tables == &["mine".to_owned()]),
        "{err}"
    );
    let kept = c
        .query_all_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT CAST(TABLE_NAME AS CHAR) AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        ))
        .await
        .unwrap();
    assert_eq!(kept.len(), 1, "nothing restored into c");
    c.close().await.ok();

    // A tenant whose database does not exist: refused, nothing created.
    let err = provisioner(&store)
        .import("missing", &file)
        .await
        .unwrap_err();
    assert!(matches!(err, TransferError::Missing { .. }), "{err}");

    // A load that fails part-way (the dump, then a statement the server
    // refuses): what it made is dropped again.
    let bad = out.path().join("bad.sql");
    std::fs::write(&bad, format!("{dump}\nTHIS IS NOT SQL;\n")).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest_path(&file)).unwrap()).unwrap();
    manifest["bytes"] = std::fs::metadata(&bad).unwrap().len().into();
    std::fs::write(manifest_path(&bad), manifest.to_string()).unwrap();
    let err = provisioner(&store).import("d", &bad).await.unwrap_err();
    assert!(matches!(err, TransferError::ToolFailed { .. }), "{err}");
    assert_eq!(
        read_direct_tables(&dbs, "d").await,
        0,
        "the failed load was undone"
    );

    // The same load, pausing after the dump (the file's own `DO SLEEP`),
    // dropped by its caller once its first table is there: it goes on, and
    // its failure is undone all the same.
    let slow = out.path().join("slow.sql");
    std::fs::write(
        &slow,
        format!(
            "{dump}
DO SLEEP(1);
THIS IS NOT SQL;
"
        ),
    )
    .unwrap();
    manifest["bytes"] = std::fs::metadata(&slow).unwrap().len().into();
    std::fs::write(manifest_path(&slow), manifest.to_string()).unwrap();
    let importer = provisioner(&store);
    let mut import = Box::pin(importer.import("e", &slow));
    tokio::select! {
        ended = &mut import => panic!("the import ended before it was dropped: {ended:?}"),
        () = async {
            while read_direct_tables(&dbs, "e").await == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        } => {}
    }
    drop(import);
    importer.settled().await;
    assert_eq!(
        read_direct_tables(&dbs, "e").await,
        0,
        "a dropped import's failed load was not undone"
    );
    store.close().await;
    dbs.cleanup().await;
}

async fn read_direct_tables(dbs: &TestDatabases, tenant: &str) -> i64 {
    let db = dbs.connect_direct(tenant).await;
    let n = db
        .query_one_raw(Statement::from_string(
            DbBackend::MySql,
            "SELECT CAST(COUNT(*) AS SIGNED) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    db.close().await.ok();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_database_round_trip_row_by_row_and_refusals() {
    if let Some(dbs) = TestDatabases::mysql() {
        mysql_round_trip(dbs).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_shared_database_round_trip_row_by_row_and_refusals() {
    if let Some(dbs) = TestDatabases::mysql_shared() {
        mysql_round_trip(dbs).await;
    }
}
