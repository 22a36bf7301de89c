//! Integration tests: the real `seh` binary against an in-process `seh-sim`, compared with
//! the simulator's ground truth. One test binary: `cargo test -p seh --test it`.
//!
//! Every test gets its own simulator (frozen clock at 2026-11-26T12:00:00Z unless it says
//! otherwise) and its own temporary directory with config and database.

#[path = "../common/mod.rs"]
mod common;
mod harness;
mod truth;

mod cli;
mod clock;
mod crash;
mod db_trouble;
mod export;
mod faults;
mod fleet;
mod grafana;
mod incremental;
mod limiter;
mod output;
// Notifications: SMTP (aiosmtpd) and webhook receivers on 127.0.0.1.
mod notify;
mod push;
mod read_only;
mod report;
mod reprocess;
mod secrets;
mod variants;
mod views;
