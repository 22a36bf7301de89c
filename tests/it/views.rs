//! The graphing views (migration 04) over a harvested database: site-local time computed
//! independently (chrono-tz) from the simulator's truth, and every wide telemetry column
//! equal to the long row it pivots, so a view can never drift from the tables that
//! `assert_truth` checks.

use crate::harness::*;
use crate::truth::assert_truth;
use chrono_tz::Tz;
use rusqlite::Connection;
use seh_sim::app::SoeScale;

fn mismatches(c: &Connection, sql: &str) -> i64 {
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn quarter_hour_views_carry_the_sites_local_time() {
    let env = TestEnv::new();
    env.sync_ok();
    assert_truth(&env, &env.db);
    let c = env.conn();
    for (site, zone) in [
        (BERLIN, "Europe/Berlin"),
        (SYDNEY, "Australia/Sydney"),
        (DENVER, "America/Denver"),
    ] {
        let tz: Tz = zone.parse().unwrap();
        for (view, family) in [
            ("v_seh_energy_15min", "energy"),
            ("v_seh_power_15min", "power"),
        ] {
            let (lo, hi): (String, String) = c
                .query_row(
                    &format!("SELECT MIN(ts_utc), MAX(ts_utc) FROM {view} WHERE site_id = ?1"),
                    [site],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            let hi = z(parse_ts(&hi) + chrono::Duration::minutes(15));
            let truth = env.truth(site, family, Some("QUARTER_HOUR"), Some(&lo), Some(&hi));
            let mut st = c
                .prepare(&format!(
                    "SELECT local_time, local_iso, local_date FROM {view} \
                     WHERE site_id = ?1 AND ts_utc = ?2"
                ))
                .unwrap();
            let mut seen = 0;
            for row in &truth {
                let ts = row["ts_utc"].as_str().unwrap();
                let got: Option<(String, String, String)> = st
                    .query_row(rusqlite::params![site, ts], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .ok();
                let Some(got) = got else { continue };
                let local = parse_ts(ts).with_timezone(&tz);
                let want = (
                    local.format("%Y-%m-%d %H:%M:%S").to_string(),
                    local.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
                    local.format("%Y-%m-%d").to_string(),
                );
                assert_eq!(got, want, "{view} site {site} at {ts}");
                seen += 1;
            }
            assert!(
                seen >= 288, // the first sync reads three days of quarter-hours
                "{view} site {site}: only {seen} of {} rows compared",
                truth.len()
            );
        }
    }
}

/// `(metric, column)` pairs of a wide view.
type Columns = &'static [(&'static str, &'static str)];

/// `(view, table, columns)` for the three device families.
const WIDE: &[(&str, &str, Columns)] = &[
    (
        "v_seh_inverter_15min",
        "seh_inverter_telemetry",
        &[
            ("power", "power_w"),
            ("energy", "energy_wh"),
            ("voltage", "voltage_v"),
            ("current", "current_a"),
            ("frequency", "frequency_hz"),
            ("consumedAcPower", "consumed_ac_power_w"),
            ("consumedAcEnergy", "consumed_ac_energy_wh"),
        ],
    ),
    (
        "v_seh_meter_15min",
        "seh_meter_telemetry",
        &[
            ("productionPower", "production_power_w"),
            ("productionEnergy", "production_energy_wh"),
            ("consumptionPower", "consumption_power_w"),
            ("consumptionEnergy", "consumption_energy_wh"),
            ("importPower", "import_power_w"),
            ("importEnergy", "import_energy_wh"),
            ("exportPower", "export_power_w"),
            ("exportEnergy", "export_energy_wh"),
        ],
    ),
    (
        "v_seh_storage_15min",
        "seh_storage_telemetry",
        &[
            ("chargePower", "charge_power_w"),
            ("dischargePower", "discharge_power_w"),
            ("chargeEnergy", "charge_energy_wh"),
            ("dischargeEnergy", "discharge_energy_wh"),
            ("remainingEnergy", "remaining_energy_wh"),
        ],
    ),
];

#[test]
fn wide_telemetry_views_equal_the_long_rows_and_soe_is_a_percentage() {
    for scale in [SoeScale::Fraction, SoeScale::Percent] {
        let mut opts = sim_options();
        opts.inverter_consumption = true;
        opts.soe_scale = scale;
        let env = TestEnv::with(opts, ConfigSpec::default());
        env.sync_ok();
        assert_truth(&env, &env.db);
        let c = env.conn();
        for (view, table, columns) in WIDE {
            let keys = mismatches(
                &c,
                &format!(
                    "SELECT COUNT(*) FROM (SELECT DISTINCT site_id, device_key, ts_utc \
                     FROM {table} WHERE resolution = 'QUARTER_HOUR')"
                ),
            );
            let rows = mismatches(&c, &format!("SELECT COUNT(*) FROM {view}"));
            assert!(keys > 100, "{table}: {keys} buckets");
            assert_eq!(rows, keys, "{view}: one row per device and bucket");
            for (metric, column) in *columns {
                let bad = mismatches(
                    &c,
                    &format!(
                        "SELECT COUNT(*) FROM {table} AS t JOIN {view} AS v \
                         USING (site_id, device_key, ts_utc) \
                         WHERE t.resolution = 'QUARTER_HOUR' AND t.metric = '{metric}' \
                         AND v.{column} IS NOT t.value"
                    ),
                );
                assert_eq!(bad, 0, "{view}.{column} differs from {table} {metric}");
            }
            // Every metric the harvest stored has its column (stateOfEnergy has its own view).
            let known: Vec<String> = columns
                .iter()
                .map(|(m, _)| format!("'{m}'"))
                .chain(["'stateOfEnergy'".to_string()])
                .collect();
            let unmapped = mismatches(
                &c,
                &format!(
                    "SELECT COUNT(DISTINCT metric) FROM {table} \
                     WHERE metric NOT IN ({})",
                    known.join(", ")
                ),
            );
            assert_eq!(unmapped, 0, "{table} has metrics {view} does not show");
        }
        // The simulator sends stateOfEnergy as 0-1 or 0-100; the view says percent either way.
        let factor = match scale {
            SoeScale::Fraction => 100.0,
            SoeScale::Percent => 1.0,
        };
        let bad = mismatches(
            &c,
            &format!(
                "SELECT COUNT(*) FROM seh_storage_telemetry AS t JOIN v_seh_storage_15min AS v \
                 USING (site_id, device_key, ts_utc) \
                 WHERE t.resolution = 'QUARTER_HOUR' AND t.metric = 'stateOfEnergy' \
                 AND ((v.state_of_energy_pct IS NULL) != (t.value IS NULL) \
                 OR abs(v.state_of_energy_pct - t.value * {factor}) > 1e-9 \
                 OR v.state_of_energy_pct NOT BETWEEN 0 AND 100)"
            ),
        );
        assert_eq!(bad, 0, "{scale:?}");
        let soe = mismatches(
            &c,
            "SELECT COUNT(*) FROM v_seh_storage_15min WHERE state_of_energy_pct > 1",
        );
        assert!(soe > 0, "{scale:?}: no state of energy above 1 %");
    }
}

#[test]
fn daily_energy_equals_the_truths_days_and_past_days_are_not_partial() {
    let env = TestEnv::new();
    env.sync_ok();
    let c = env.conn();
    let truth = env.truth(BERLIN, "energy", Some("DAY"), None, None);
    let mut st = c
        .prepare(
            "SELECT energy_kwh, partial FROM v_seh_daily_energy \
             WHERE site_id = ?1 AND local_date = ?2",
        )
        .unwrap();
    let mut seen = 0;
    for row in &truth {
        let (Some(v), Some(ts)) = (row["value"].as_f64(), row["ts_utc"].as_str()) else {
            continue;
        };
        let day = parse_ts(ts)
            .with_timezone(&chrono_tz::Europe::Berlin)
            .format("%Y-%m-%d")
            .to_string();
        let Ok((kwh, partial)) = st.query_row(rusqlite::params![BERLIN, day], |r| {
            Ok((r.get::<_, f64>(0)?, r.get::<_, i64>(1)?))
        }) else {
            continue;
        };
        assert!(
            (kwh - v / 1000.0).abs() < 1e-9,
            "{day}: {kwh} kWh vs {v} Wh"
        );
        // The simulator's days lie before the host's today: none is partial.
        assert_eq!(partial, 0, "{day}");
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} days compared");
}
