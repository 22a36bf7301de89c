//! The Grafana dashboard for SQLite (`packaging/grafana/sqlite`), checked without Grafana:
//! the JSON has what Grafana needs to import it by provisioning (schema version, unique
//! panel ids and positions, the data source by the uid the provisioned data source has),
//! and every panel's SQL, with Grafana's variables and the frser-sqlite-datasource
//! plugin's macros substituted the way they do it, runs on a database synced from the
//! simulator and returns the columns the panel reads and the simulator's truth for a
//! chosen day.
//!
//! How the substitution is done (read from the plugin's source, fr-ser/
//! grafana-sqlite-datasource `pkg/plugin/variables.go`, `macros.go`, `src/DataSource.ts`):
//! Grafana's frontend replaces dashboard variables (`$site`) in `rawQueryText` and sends
//! the result as `queryText`; the plugin then replaces `$__from`/`$__to` by the range in
//! epoch milliseconds, and the macros `$__timeFilter(col)` (an epoch-seconds BETWEEN) and
//! `$__unixEpochGroupSeconds(col, n)`. Other `$__` macros (`$__timeGroup`,
//! `$__unixEpochFilter`) belong to Grafana's built-in SQL data sources and are left
//! untouched by this plugin, so the dashboard must not use them; a test fails on any `$`
//! left after substitution.

use crate::harness::*;
use crate::truth::close;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use rusqlite::types::Value as Sql;
use serde_json::Value;
use std::collections::BTreeMap;

const DASHBOARD: &str = include_str!("../../packaging/grafana/sqlite/seh-sqlite.json");
const DATASOURCE: &str = include_str!("../../packaging/grafana/sqlite/datasource.yaml");
const PROVIDER: &str = include_str!("../../packaging/grafana/sqlite/dashboards.yaml");
const UID: &str = "seh-sqlite";
const PLUGIN: &str = "frser-sqlite-datasource";

/// The values Grafana would have for one refresh of the dashboard.
struct Vars {
    site: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    budget: i64,
    billing_day: i64,
}

/// `rawQueryText` as the plugin runs it: dashboard variables (Grafana's frontend), then
/// `$__from`/`$__to` and the macros (the plugin's backend).
fn interpolate(sql: &str, v: &Vars) -> String {
    let mut q = sql.to_string();
    for (name, value) in [
        ("site", v.site),
        ("budget", v.budget),
        ("billing_day", v.billing_day),
    ] {
        q = q.replace(&format!("${{{name}}}"), &value.to_string());
        q = q.replace(&format!("${name}"), &value.to_string());
    }
    q = q.replace("$__from", &(v.from.timestamp() * 1000).to_string());
    q = q.replace("$__to", &(v.to.timestamp() * 1000).to_string());
    let mut out = String::new();
    let mut rest = q.as_str();
    while let Some(at) = rest.find("$__") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let Some((args, tail)) = after[name_len..]
            .strip_prefix('(')
            .and_then(|a| a.split_once(')'))
        else {
            out.push_str("$__");
            rest = after;
            continue;
        };
        let args: Vec<&str> = args.split(',').map(str::trim).collect();
        let replaced = match (name, args.as_slice()) {
            ("timeFilter", [col]) => format!(
                "CAST(CASE WHEN typeof({col}) = 'integer' THEN {col} ELSE strftime(\"%s\", {col}) \
                 END AS INTEGER) BETWEEN {} AND {}",
                v.from.timestamp(),
                v.to.timestamp()
            ),
            ("unixEpochGroupSeconds", [col, n, ..]) => format!("cast(({col} / {n}) as int) * {n}"),
            _ => format!("$__{name}({})", args.join(",")),
        };
        out.push_str(&replaced);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// One panel's result: column names and rows.
struct Frame {
    columns: Vec<String>,
    rows: Vec<Vec<Sql>>,
}

impl Frame {
    fn col(&self, name: &str) -> usize {
        self.columns
            .iter()
            .position(|c| c == name)
            .unwrap_or_else(|| panic!("no column {name} in {:?}", self.columns))
    }

    fn f64s(&self, name: &str) -> Vec<Option<f64>> {
        let i = self.col(name);
        self.rows.iter().map(|r| real(&r[i])).collect()
    }

    fn texts(&self, name: &str) -> Vec<String> {
        let i = self.col(name);
        self.rows
            .iter()
            .map(|r| match &r[i] {
                Sql::Text(t) => t.clone(),
                other => panic!("{name}: {other:?} is not text"),
            })
            .collect()
    }
}

fn real(v: &Sql) -> Option<f64> {
    match v {
        Sql::Null => None,
        Sql::Integer(i) => Some(*i as f64),
        Sql::Real(r) => Some(*r),
        other => panic!("{other:?} is not a number"),
    }
}

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("the dashboard is JSON")
}

/// Runs every panel's query for `vars`, by panel title.
fn run_panels(c: &rusqlite::Connection, vars: &Vars) -> BTreeMap<String, Frame> {
    let mut out = BTreeMap::new();
    for p in dashboard()["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap().to_string();
        let raw = p["targets"][0]["rawQueryText"].as_str().unwrap();
        let sql = interpolate(raw, vars);
        assert!(!sql.contains('$'), "{title}: left unsubstituted:\n{sql}");
        let mut st = c
            .prepare(&sql)
            .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
        let columns: Vec<String> = st.column_names().iter().map(|s| s.to_string()).collect();
        let n = columns.len();
        let rows = st
            .query_map([], |r| (0..n).map(|i| r.get::<_, Sql>(i)).collect())
            .unwrap()
            .collect::<Result<Vec<Vec<Sql>>, _>>()
            .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
        out.insert(title, Frame { columns, rows });
    }
    out
}

#[test]
fn the_dashboard_has_what_grafana_needs_to_import_it() {
    let d = dashboard();
    assert_eq!(d["uid"], UID);
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    // Grafana 10 and 11 write 38-39; older ones migrate anything from 16 on.
    let schema = d["schemaVersion"].as_i64().expect("schemaVersion");
    assert!((30..=41).contains(&schema), "{schema}");
    let ds = serde_json::json!({ "type": PLUGIN, "uid": UID });
    let mut ids = Vec::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().expect("a title");
        ids.push(p["id"].as_i64().expect("an id"));
        for k in ["h", "w", "x", "y"] {
            assert!(p["gridPos"][k].is_i64(), "{title}: gridPos.{k}");
        }
        assert!(p["gridPos"]["x"].as_i64().unwrap() + p["gridPos"]["w"].as_i64().unwrap() <= 24);
        assert_eq!(p["datasource"], ds, "{title}");
        let known = [
            "timeseries",
            "barchart",
            "table",
            "stat",
            "gauge",
            "bargauge",
        ];
        assert!(known.contains(&p["type"].as_str().unwrap()), "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        for t in targets {
            assert_eq!(t["datasource"], ds, "{title}");
            assert!(t["refId"].is_string(), "{title}");
            assert_eq!(t["rawQueryText"], t["queryText"], "{title}");
            let kind = t["queryType"].as_str().unwrap();
            let time_cols: Vec<&str> = t["timeColumns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            match kind {
                "time series" => assert_eq!(time_cols, ["time"], "{title}"),
                "table" => assert!(time_cols.is_empty(), "{title}"),
                k => panic!("{title}: queryType {k}"),
            }
            if p["type"] == "timeseries" {
                assert_eq!(kind, "time series", "{title}");
                // Nulls are gaps, never joined or drawn as zero.
                assert_eq!(p["fieldConfig"]["defaults"]["custom"]["spanNulls"], false);
            }
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "panel ids repeat: {ids:?}");
    let vars = d["templating"]["list"].as_array().unwrap();
    let site = vars.iter().find(|v| v["name"] == "site").expect("$site");
    assert_eq!(site["datasource"], ds);
    assert!(site["query"].as_str().unwrap().contains("seh_sites"));
    // The provisioning files name the same data source and the directory of the JSON.
    assert!(DATASOURCE.contains(&format!("uid: {UID}")));
    assert!(DATASOURCE.contains(&format!("type: {PLUGIN}")));
    assert!(DATASOURCE.contains("path: /var/lib/seh/seh.db"));
    assert!(DATASOURCE.contains("mode=ro"));
    assert!(PROVIDER.contains("type: file") && PROVIDER.contains("path: /etc/grafana/"));
}

#[test]
fn substitution_follows_the_plugin() {
    let vars = Vars {
        site: 7,
        from: Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap(),
        budget: 2000,
        billing_day: 1,
    };
    let got = interpolate(
        "WHERE site_id = $site AND $__timeFilter(ts) AND x < $__to / 1000 \
         GROUP BY $__unixEpochGroupSeconds(t, 900) $__unknown(a)",
        &vars,
    );
    assert_eq!(
        got,
        "WHERE site_id = 7 AND CAST(CASE WHEN typeof(ts) = 'integer' THEN ts ELSE \
         strftime(\"%s\", ts) END AS INTEGER) BETWEEN 1795564800 AND 1795651200 AND \
         x < 1795651200000 / 1000 GROUP BY cast((t / 900) as int) * 900 $__unknown(a)"
    );
}

/// Local midnight of `day` in `tz`.
fn midnight(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        .earliest()
        .unwrap()
        .with_timezone(&Utc)
}

/// `(device_key, ts_utc) → value` of one metric of a telemetry family's truth.
fn truth_metric(
    env: &TestEnv,
    site: i64,
    family: &str,
    metric: &str,
    from: &str,
    to: &str,
) -> BTreeMap<(String, String), Option<f64>> {
    env.truth(site, family, Some("QUARTER_HOUR"), Some(from), Some(to))
        .into_iter()
        .filter(|r| r["metric"] == metric)
        .map(|r| {
            let key = (
                r["device_key"].as_str().unwrap().to_string(),
                r["ts_utc"].as_str().unwrap().to_string(),
            );
            (key, r["value"].as_f64())
        })
        .collect()
}

fn sum(m: &BTreeMap<(String, String), Option<f64>>) -> f64 {
    m.values().flatten().sum()
}

#[test]
fn every_panel_query_returns_the_simulators_truth() {
    let env = TestEnv::new();
    env.sync_ok();
    let c = open_db(&env.db);
    let tz: Tz = "Europe/Berlin".parse().unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
    let (from, next) = (midnight(tz, day), midnight(tz, day.succ_opt().unwrap()));
    // Grafana's "yesterday" ends a millisecond before midnight: whole seconds one before.
    let vars = Vars {
        site: BERLIN,
        from,
        to: next - chrono::Duration::seconds(1),
        budget: 2000,
        billing_day: 1,
    };
    let frames = run_panels(&c, &vars);
    let (lo, hi) = (z(from), z(next));
    let frame = |t: &str| frames.get(t).unwrap_or_else(|| panic!("no panel {t}"));

    // Power: every quarter-hour of the local day, equal to the truth, nulls kept.
    let power = frame("Power (quarter-hour)");
    assert_eq!(power.columns, ["time", "power_w"]);
    let truth = truth_metric(&env, BERLIN, "power", "power", &lo, &hi);
    assert_eq!(power.rows.len(), 96);
    for (t, v) in power.texts("time").iter().zip(power.f64s("power_w")) {
        DateTime::parse_from_rfc3339(t).expect("the plugin parses time as RFC 3339");
        let want = truth[&(String::new(), t.clone())];
        assert!(
            v.zip(want)
                .map_or(v.is_none() && want.is_none(), |(a, b)| close(a, b)),
            "power at {t}: {v:?} vs {want:?}"
        );
    }

    // Energy per day: the chosen local day, equal to the truth's DAY bucket.
    let daily = frame("Energy per day");
    assert_eq!(daily.columns, ["day", "energy_kwh"]);
    assert_eq!(daily.texts("day"), [day.to_string()]);
    let truth_day = env.truth(BERLIN, "energy", Some("DAY"), Some(&lo), Some(&hi));
    let truth_kwh = truth_day[0]["value"].as_f64().unwrap() / 1000.0;
    let kwh = daily.f64s("energy_kwh")[0].unwrap();
    assert!(close(kwh, truth_kwh), "{kwh} vs {truth_kwh}");

    // Months over the whole history, November among them.
    let monthly = frame("Energy per month (whole history)");
    assert_eq!(monthly.columns, ["month", "energy_kwh"]);
    assert!(monthly.texts("month").contains(&"2026-11".to_string()));

    // Meters: the day's import and export equal the truth's quarter-hours summed.
    let import = truth_metric(&env, BERLIN, "meters", "importEnergy", &lo, &hi);
    let export = truth_metric(&env, BERLIN, "meters", "exportEnergy", &lo, &hi);
    let grid = frame("Import and export per day");
    assert_eq!(grid.columns, ["day", "import_kwh", "export_kwh"]);
    assert_eq!(grid.texts("day"), [day.to_string()]);
    assert!(close(
        grid.f64s("import_kwh")[0].unwrap(),
        sum(&import) / 1000.0
    ));
    assert!(close(
        grid.f64s("export_kwh")[0].unwrap(),
        sum(&export) / 1000.0
    ));
    let own = frame("Self-consumption per day");
    assert_eq!(
        own.columns,
        ["day", "self_consumed_kwh", "self_consumption_pct"]
    );
    let want = truth_kwh - sum(&export) / 1000.0;
    assert!(close(own.f64s("self_consumed_kwh")[0].unwrap(), want));
    let flows = frame("Production vs consumption (meters)");
    assert_eq!(flows.columns, ["time", "production_w", "consumption_w"]);
    assert_eq!(flows.rows.len(), 96);

    // Battery: state of energy in percent per battery and quarter-hour (the simulator
    // sends fractions by default), charge power as sent.
    let soe = frame("Battery state of energy");
    assert_eq!(soe.columns, ["time", "device_key", "state_of_energy_pct"]);
    let truth_soe = truth_metric(&env, BERLIN, "storage", "stateOfEnergy", &lo, &hi);
    assert_eq!(soe.rows.len(), truth_soe.len());
    for ((t, key), pct) in soe
        .texts("time")
        .into_iter()
        .zip(soe.texts("device_key"))
        .zip(soe.f64s("state_of_energy_pct"))
    {
        let want = truth_soe[&(key, t)].map(|f| f * 100.0);
        assert!(
            pct.zip(want).is_some_and(|(a, b)| close(a, b)),
            "{pct:?} vs {want:?}"
        );
    }
    let charge = truth_metric(&env, BERLIN, "storage", "chargePower", &lo, &hi);
    let battery = frame("Battery power");
    assert_eq!(battery.columns, ["time", "charge_w", "discharge_w"]);
    let shown: f64 = battery.f64s("charge_w").into_iter().flatten().sum();
    assert!(close(shown, sum(&charge)), "{shown} vs {}", sum(&charge));

    // Inverters: voltage and frequency per inverter and quarter-hour, as the truth.
    for (title, column, metric) in [
        ("Inverter AC voltage", "voltage_v", "voltage"),
        ("Inverter AC frequency", "frequency_hz", "frequency"),
    ] {
        let f = frame(title);
        assert_eq!(f.columns, ["time", "device_key", column]);
        // Telemetry buckets are stamped at their end: ask the truth for an hour more on
        // each side and look each row up by its stamp.
        let hour = chrono::Duration::hours(1);
        let (wide_lo, wide_hi) = (z(from - hour), z(next + hour));
        let truth = truth_metric(&env, BERLIN, "inverters", metric, &wide_lo, &wide_hi);
        assert!(f.rows.len() >= 96, "{title}");
        for ((t, key), v) in f
            .texts("time")
            .into_iter()
            .zip(f.texts("device_key"))
            .zip(f.f64s(column))
        {
            let want = *truth.get(&(key.clone(), t.clone())).unwrap_or_else(|| {
                panic!("{title}: {key} {t} not in truth {:?}", truth.keys().next())
            });
            assert!(
                v.zip(want)
                    .map_or(v.is_none() && want.is_none(), |(a, b)| close(a, b)),
                "{title}: {v:?} vs {want:?}"
            );
        }
    }

    // Alerts: the open ones of every site, as stored.
    let alerts = frame("Open alerts");
    assert_eq!(
        alerts.columns,
        [
            "site_id",
            "site",
            "type",
            "category",
            "impact",
            "first_trigger",
            "last_trigger",
            "component_name"
        ]
    );
    assert_eq!(
        alerts.rows.len() as i64,
        count_where(&c, "seh_alerts", "status = 'OPEN'")
    );

    // Freshness and credits are judged at the end of the time range: take "now".
    let now = env.now();
    let today = Vars {
        from: midnight(tz, now.with_timezone(&tz).date_naive()),
        to: now,
        ..vars
    };
    let frames = run_panels(&c, &today);
    let fresh = &frames["Data freshness per site and family"];
    assert_eq!(
        fresh.columns,
        [
            "site_id",
            "family",
            "resolution",
            "last_success",
            "minutes_ago",
            "last_error"
        ]
    );
    assert!(fresh.rows.len() >= 4 * 5, "{} rows", fresh.rows.len());
    for m in fresh.f64s("minutes_ago").into_iter().flatten() {
        assert!((0.0..60.0).contains(&m), "a family synced {m} minutes ago");
    }
    let credits = &frames["Credits used this cycle"];
    assert_eq!(credits.columns, ["used", "budget", "used_pct"]);
    let used = credits.f64s("used")[0].unwrap();
    assert_eq!(
        used,
        env.sim_calls() as f64,
        "every call the simulator answered"
    );
    assert_eq!(credits.f64s("budget")[0], Some(2000.0));
}
