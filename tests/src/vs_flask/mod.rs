//! `bench-vs-flask`: notes-server against the Flask-SQLAlchemy multi-tenant
//! recipe it grows from (`tests/flask-recipe`), on the same SQLite files,
//! with the harness's load generator ([`crate::bench::load`]).
//!
//! * [`args`]: the flags, the plan, the fixed settings;
//! * [`venv`]: the recipe's virtual environment and what the report says of it;
//! * [`gunicorn`]: the recipe under gunicorn, started and stopped as a process group;
//! * [`answers`]: the recipe awaited, and both servers' answers compared;
//! * [`cpu`]: the CPU shares of a measured run;
//! * [`report`]: the runs, medians and ratio, as text or JSON.

pub mod answers;
pub mod args;
pub mod cpu;
pub mod gunicorn;
pub mod report;
pub mod venv;
