//! seh (SolarEdge Harvest): keeps a complete, exact local copy of what the SolarEdge
//! Monitoring API V2 reports, in SQLite.
//!
//! The binary (`src/main.rs`) is a thin shell around [`commands`]; everything else lives in
//! this library so unit tests and benchmarks can reach it. See ARCHITECTURE.md for the map.

pub mod api;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod display;
pub mod exit;
pub mod export;
pub mod harvest;
pub mod html_report;
pub mod logging;
pub mod model;
pub mod notify;
pub mod oauth;
pub mod push;
pub mod status;
pub mod store;
