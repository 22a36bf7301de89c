//! Logging to stderr (journald picks it up under systemd), set up before the configuration
//! is read so config problems are logged at the requested verbosity.

use log::LevelFilter;
use simplelog::{ConfigBuilder, WriteLogger};

/// `-v` raises the level (debug, then trace), `-q` lowers it (warn, then error).
pub fn level(verbose: u8, quiet: u8) -> LevelFilter {
    match i16::from(verbose) - i16::from(quiet) {
        i16::MIN..=-2 => LevelFilter::Error,
        -1 => LevelFilter::Warn,
        0 => LevelFilter::Info,
        1 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    }
}

pub fn init(level: LevelFilter) {
    let config = ConfigBuilder::new()
        // Only seh's own records: dependency chatter (ureq, rustls) stays out of the journal.
        .add_filter_allow_str("seh")
        .set_time_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .set_thread_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off)
        .build();
    // A second init (tests) fails harmlessly.
    let _ = WriteLogger::init(level, config, std::io::stderr());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(level(0, 0), LevelFilter::Info);
        assert_eq!(level(1, 0), LevelFilter::Debug);
        assert_eq!(level(3, 0), LevelFilter::Trace);
        assert_eq!(level(0, 1), LevelFilter::Warn);
        assert_eq!(level(0, 5), LevelFilter::Error);
    }
}
