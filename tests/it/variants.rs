//! V2 variants seen in other clients' bodies (reference §6.1), served by the simulator on
//! request: seh must harvest each exactly, or say clearly why it cannot.

use crate::harness::*;
use crate::truth::assert_truth;
use seh_sim::app::{StatusCase, TelemetryStamp};

#[test]
fn a_site_without_a_time_zone_is_named_and_harvested_once_one_is_configured() {
    let mut opts = sim_options();
    opts.omit_timezone = true;
    let env = TestEnv::with(opts, ConfigSpec::default());
    let out = env.seh(&["sync"]);
    // Every active site lacks its zone: named, failed (exit 1), never a silent hole.
    out.expect(1);
    for id in [BERLIN, SYDNEY, DENVER] {
        assert!(
            out.stderr
                .contains(&format!("SolarEdge sends no time zone for site {id}")),
            "{id} not named\n{out}"
        );
    }
    let series = count_where(
        &env.conn(),
        "seh_api_calls",
        "path LIKE '%/energy' OR path LIKE '%/power' OR path LIKE '%/telemetry'",
    );
    assert_eq!(series, 0, "{out}");
    let status = env.seh(&["status"]);
    status.expect(0);
    assert!(
        status
            .stdout
            .contains(&format!("({BERLIN}), time zone unknown"))
            && status.stdout.contains("[sites] timezone"),
        "{status}"
    );
    // The way through: the zones in seh.toml.
    let text = env.config_text(&ConfigSpec::default())
        + &format!(
            "\n[sites]\ntimezone = {{ {BERLIN} = \"Europe/Berlin\", {SYDNEY} = \"Australia/Sydney\", {DENVER} = \"America/Denver\" }}\n"
        );
    std::fs::write(&env.config, text).unwrap();
    let out = env.sync_ok();
    assert!(!out.stderr.contains("no time zone"), "{out}");
    assert_truth(&env, &env.db).assert_qh_up_to(t0());
    let status = env.seh(&["status"]);
    assert!(!status.stdout.contains("[sites] timezone"), "{status}");
}

#[test]
fn a_bad_configured_zone_is_a_config_error_naming_the_key() {
    let env = TestEnv::new();
    let text = env.config_text(&ConfigSpec::default())
        + &format!("\n[sites]\ntimezone = {{ {BERLIN} = \"Europe/Berlinn\" }}\n");
    std::fs::write(&env.config, text).unwrap();
    let out = env.seh(&["sync"]);
    out.expect(2);
    assert!(
        out.stderr.contains(&format!("sites.timezone.{BERLIN}")) && out.stderr.contains("IANA"),
        "{out}"
    );
}

#[test]
fn status_words_in_title_case_are_read() {
    let mut opts = sim_options();
    opts.status_case = StatusCase::Title;
    let env = TestEnv::with(opts, ConfigSpec::default());
    let out = env.sync_ok();
    assert!(!out.stderr.contains("unknown activation status"), "{out}");
    let checked = assert_truth(&env, &env.db);
    checked.assert_qh_up_to(t0());
    for site in [BERLIN, SYDNEY, DENVER] {
        assert!(
            checked.rows(site, "energy", "QUARTER_HOUR") > 0,
            "{site}\n{out}"
        );
    }
}

#[test]
fn telemetry_stamped_at_bucket_starts_is_stored_exactly() {
    let mut opts = sim_options();
    opts.telemetry_stamp = TelemetryStamp::Start;
    let env = TestEnv::with(opts, ConfigSpec::default());
    env.sync_ok();
    let checked = assert_truth(&env, &env.db);
    checked.assert_qh_up_to(t0());
    assert!(checked.rows(BERLIN, "inverter_telemetry", "QUARTER_HOUR") > 0);
    // A later run re-reads the settle window without a gap or a second stamping.
    let first = max_id(&env.conn(), "seh_raw_responses");
    env.pass_time(chrono::Duration::hours(2), &[&env.db]);
    env.sync_ok();
    let checked = crate::truth::check_truth(&env, &env.db, &[(first, t0()), (i64::MAX, env.now())]);
    checked.assert_qh_up_to(env.now());
}

#[test]
fn the_inverters_own_consumption_is_kept() {
    let mut opts = sim_options();
    opts.inverter_consumption = true;
    let env = TestEnv::with(opts, ConfigSpec::default());
    env.sync_ok();
    let c = env.conn();
    for metric in ["consumedAcPower", "consumedAcEnergy"] {
        let n = count_where(
            &c,
            "seh_inverter_telemetry",
            &format!("metric = '{metric}'"),
        );
        assert!(n > 0, "no {metric} rows");
    }
    assert_truth(&env, &env.db).assert_qh_up_to(t0());
}
