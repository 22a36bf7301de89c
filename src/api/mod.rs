//! SolarEdge Monitoring API V2 client (being written).
