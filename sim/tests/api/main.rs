//! Integration tests of seh-sim: every operation against the V2 reference
//! (shared/api/solaredge-v2.md), time and DST handling, cross-resolution consistency,
//! window limits, rate limits and credits, OAuth, fault injection, admin controls, the
//! §6.1 variants (data and error answers) and the command line. One test binary; each test starts its own
//! simulator on port 0 with a frozen clock at 2026-11-26T12:00:00Z.

mod support;

mod admin;
mod cli;
mod consistency;
mod error_variants;
mod faults;
mod limits;
mod oauth;
mod shapes;
mod time;
mod variants;
