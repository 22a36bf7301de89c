//! The minute limiter against a Free-tier simulator running in real time: a run of more
//! calls than one minute allows waits for the next minute instead of drawing a 429.

use crate::harness::*;

#[test]
fn the_free_tier_minute_limit_is_never_exceeded() {
    let mut opts = sim_options();
    opts.speed = 1.0;
    opts.limits.per_minute = 10;
    let cfg = ConfigSpec {
        budget: "per_minute = 10\nmonthly_credits = 1000000\n".into(),
        ..ConfigSpec::default()
    };
    let env = TestEnv::with(opts, cfg);
    // Discovery (site list, details and devices of 4 sites), benefits and the power-flow
    // tier check of 3 active sites, fleet alerts: 16 calls, more than one minute allows.
    // (`--only` bounds discovery too, so its families are named.)
    let out = env.seh(&[
        "sync",
        "--only",
        "sites,details,devices,benefits,power_flow,fleet_alerts",
    ]);
    out.expect(0);
    let stats = env.stats();
    assert_eq!(stats["rate_limited_429"], 0, "{stats}\n{out}");
    let calls = stats["total_calls"].as_u64().unwrap();
    assert!((12..=20).contains(&calls), "{calls} calls\n{out}");
    let c = env.conn();
    assert_eq!(count(&c, "seh_api_calls") as u64, calls);
    assert_eq!(count_where(&c, "seh_api_calls", "status = 429"), 0);
    assert_eq!(count(&c, "seh_environmental_benefits"), 3, "{out}");
    assert!(count(&c, "seh_alerts") > 0, "{out}");
    // It had to wait for the next minute (the simulator's minute started with the test).
    assert!(
        out.elapsed > std::time::Duration::from_secs(20),
        "no wait for the minute boundary?\n{out}"
    );
    // `--only` kept the run to those families: no series were fetched.
    assert_eq!(count(&c, "seh_energy"), 0, "{out}");
}
