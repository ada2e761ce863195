# Everyday commands. Every recipe is a plain cargo command underneath.
# Install just with `cargo install just`.

set dotenv-load := false

export TEST_POSTGRES_URL := env_var_or_default("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
export TEST_MYSQL_URL := env_var_or_default("TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql")
export TEST_POSTGRES_URL_2 := env_var_or_default("TEST_POSTGRES_URL_2", "postgres://postgres@127.0.0.1:5433/postgres")

# List the recipes.
default:
    @just --list

# Run the example server (http://127.0.0.1:8000).
serve *ARGS:
    cargo run -p notes-server -- {{ARGS}}

# Run every test, against the local PostgreSQL and MariaDB too.
test *ARGS:
    cargo test --workspace {{ARGS}}

# Run the whole CI script (servers, fmt, clippy, tests).
ci:
    bash .ci/run

# Format and lint.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Routing overhead benchmarks (criterion), and schema routing against a plain pool on the schema (PostgreSQL).
bench:
    cargo bench -p sea-orm-tenant --bench routing
    cargo bench -p sea-orm-tenant --bench schema_routing

# HTTP load on notes-server: GET /notes over 2 tenants vs the same server with tenancy bypassed (--single-db); prints requests/s, p99 and the ratio (`--quick` for a smoke run).
bench-http *ARGS:
    cargo run --release -p e2e-tests --bin bench-http -- {{ARGS}}

# HTTP load on notes-server over 150 PostgreSQL databases (`--server mysql`: MariaDB, a pool per database; add `--mysql-shared` for one pool for the server) within a connection budget of 60 (pools at their fair share, growing under load; `--pool-size N` fixes them): GET /notes on a random tenant per request, uniform and Zipf (s = 1.1, seeded ranks; `--traffic uniform|zipf` for one), vs one hot tenant; prints requests/s, p50, p99, errors, peak server connections, the store's pool opens, evictions, grows and budget waits per run, and both ratios (`--quick` for a smoke run).
bench-scale *ARGS:
    cargo run --release -p e2e-tests --bin bench-scale -- {{ARGS}}

# Schema tenants at scale (10,000 schemas in one PostgreSQL database): migrations from scratch, up with nothing to apply and status, timed; then GET /notes on a random tenant per request vs one hot tenant within a connection budget; prints the ratios (`--quick` for a smoke run).
bench-schemas *ARGS:
    cargo run --release -p e2e-tests --bin bench-schemas -- {{ARGS}}

# One read query (SELECT count(*)) over 10,000 schema tenants through the store's fan-out (as `migration query` runs it), sessions sampled every 20 ms; bars: <= 10 s, every count right, peak sessions within the budget (`--quick` for a smoke run).
bench-fan-out *ARGS:
    cargo run --release -p e2e-tests --bin bench-fan-out -- {{ARGS}}

# 100,000 row tenants (one database, a tenant column under forced row-level security) behind notes-server within a per-server budget: a random tenant per request against one hot tenant, interleaved rounds; then 10,000 row tenants created through a PostgreSQL catalog; then, for comparison (no bar), the same load on 10,000 schema tenants, both modes' figures side by side (`--schema-tenants N`, 0 skips; `--hot-among-random` adds a run of the hot tenant on an eighth of the connections among random ones, its latency reported on its own); bars: random/hot >= 0.90, no error, sessions within the budget, 10,000 creations <= 10 s (`--quick` for a smoke run).
bench-rows *ARGS:
    cargo run --release -p e2e-tests --bin bench-rows -- {{ARGS}}

# notes-server against the Flask-SQLAlchemy multi-tenant recipe it grows from (tests/flask-recipe, gunicorn -w 2, own venv under target/), same SQLite files, same load generator, interleaved rounds; prints requests/s, p50, p99, errors and the ratio (`--quick` for a smoke run, `--format json`).
bench-vs-flask *ARGS:
    cargo run --release -p e2e-tests --bin bench-vs-flask -- {{ARGS}}

# Online move: a schema tenant of 1,000,000 rows moved to the second PostgreSQL server while writers and readers call it; copy time, hold, longest call (bar 2 s), nothing lost, another tenant's throughput at 60% offered load (bar 0.9; `--load 1` for full speed) (`--quick` for a smoke run).
bench-move *ARGS:
    cargo run --release -p e2e-tests --bin bench-move -- {{ARGS}}

# Tenant provisioning: create and drop N tenants (default 1000) as SQLite files, PostgreSQL databases (create + migrate, template clone) and schemas; prints per-tenant times and the template speed-up (`--quick` for a smoke run).
bench-provision *ARGS:
    cargo run --release -p e2e-tests --bin bench-provision -- {{ARGS}}

# Reliability soak: 100,000 requests over 65 tenants (SQLite, PostgreSQL databases, schemas and row tenants, MariaDB) with faults injected (backends killed, a database refused, a SQLite file locked, PostgreSQL and MariaDB restarted); every tenant read back directly and checked against the acknowledged history (`--quick` for the CI form, `--format json`).
soak *ARGS:
    cargo run --release -p e2e-tests --bin soak -- {{ARGS}}

# Apply pending migrations to every tenant in tenants.toml (or $TENANTS_CONFIG).
migrate-all *ARGS:
    cargo run -p migration -- {{ARGS}} up

# Show every tenant's migration status (`just migrate-status --check` for a deploy gate).
migrate-status *ARGS:
    cargo run -p migration -- status {{ARGS}}

# Tenant migration benchmark: N fresh SQLite tenants (default 1000) at --jobs 1 and 4, plus PostgreSQL when TEST_POSTGRES_URL is set.
bench-migrate *ARGS:
    cargo bench -p migration --bench migrate -- {{ARGS}}

# Overhead of the poem TenantMiddleware: in-process (criterion) and over loopback, with throughput ratios.
bench-poem *ARGS:
    cargo bench -p sea-orm-tenant-poem --bench middleware -- {{ARGS}}

# Overhead of the axum TenantLayer, on the routes and around the router: in-process (criterion) and over loopback.
bench-axum *ARGS:
    cargo bench -p sea-orm-tenant-axum --bench layer -- {{ARGS}}
