//! The one bench harness every benchmark binary (`src/bin/bench-*.rs`,
//! `src/bin/soak.rs`) is built on:
//!
//! * [`load`]: the one HTTP load generator (raw TCP, `wrk`-like), a fixed
//!   time or request budget, one path or several (a seeded random one per
//!   request, always the first, or in turn);
//! * [`pace`]: clients' pace, as fast as they can go in a warm-up, then a
//!   fixed offered load below it (the soak, `bench-move`);
//! * [`percentile`]: the one percentile convention (nearest rank), so that a
//!   p99 of one report is comparable with a p99 of another;
//! * [`rounds`]: interleaved rounds of several variants, and the median over them;
//! * [`cli`]: the common flags, `--quick` (a short smoke run) and `--format`;
//! * [`cleanup`]: running a benchmark until it ends or Ctrl-C / SIGTERM arrives;
//! * [`bar`]: the bars a benchmark states, checked;
//! * [`exit`]: the one exit code convention (0 ok, 1 failed, 3 bar missed,
//!   130 interrupted; clap's 2 for bad flags).

pub mod bar;
pub mod cleanup;
pub mod cli;
pub mod exit;
pub mod load;
pub mod pace;
pub mod percentile;
pub mod rounds;
