//! seh-sim: a simulator of the SolarEdge Monitoring API V2, strict enough to test a
//! harvester against. See sim/README.md for the flags and ARCHITECTURE.md for the map.

pub mod gen;
pub mod scenario;
pub mod time;

