//! Comparing a harvested database with the simulator's ground truth (`/_sim/truth`), and the
//! tests that a full sync leaves every table equal to it.
//!
//! The harvested range of each series is read from the raw archive (the `from`/`to` of every
//! archived request), not computed with seh's own planner: the union of the windows must be
//! one contiguous range, the cursor must lie inside it, and the rows in the table must be
//! exactly the truth's rows over it.

use crate::harness::*;
use chrono::{DateTime, Duration, Utc};
use rusqlite::Connection;
use seh_sim::scenario::Scenario;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// When each archived response was fetched, in simulator time: raw ids up to `.0` were
/// fetched at `.1`. Empty: everything as of the simulator's now.
pub type Moments = [(i64, DateTime<Utc>)];

/// What a comparison covered, so tests can assert it was not vacuous.
#[derive(Debug, Default)]
pub struct Checked {
    /// (site, family, resolution) -> rows compared.
    pub series: BTreeMap<(i64, String, String), usize>,
    /// (site, family, resolution) -> the harvested range [from, to) of the archive.
    pub ranges: BTreeMap<SeriesKey, (DateTime<Utc>, DateTime<Utc>)>,
    pub overview_days: usize,
    pub alerts: usize,
    pub benefits: usize,
    pub sites: usize,
    pub devices: usize,
}

impl Checked {
    /// Asserts every quarter-hour series was harvested up to `now` (the running bucket).
    pub fn assert_qh_up_to(&self, now: DateTime<Utc>) {
        for ((site, fam, res), (_, to)) in &self.ranges {
            if res == "QUARTER_HOUR" {
                assert_eq!(
                    *to, now,
                    "site {site} {fam}: harvested up to {to}, not to now"
                );
            }
        }
    }

    pub fn rows(&self, site: i64, family: &str, res: &str) -> usize {
        self.series
            .get(&(site, family.to_string(), res.to_string()))
            .copied()
            .unwrap_or(0)
    }
}

struct RawReq {
    id: i64,
    site: i64,
    family: String,
    query: String,
}

fn query_value<'a>(q: &'a str, key: &str) -> Option<&'a str> {
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn raw_requests(c: &Connection) -> Vec<RawReq> {
    let mut st = c
        .prepare(
            // Bodies seh could not read are archived without rows: not a harvested window.
            "SELECT id, coalesce(site_id, 0), family, query FROM seh_raw_responses \
             WHERE unreadable IS NULL ORDER BY id",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok(RawReq {
            id: r.get(0)?,
            site: r.get(1)?,
            family: r.get(2)?,
            query: r.get(3)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn as_of(moments: &Moments, id: i64) -> Option<DateTime<Utc>> {
    moments.iter().find(|(max, _)| id <= *max).map(|(_, t)| *t)
}

/// `a` equals `b` within 1e-6 relative (and 1e-9 absolute, for zeros).
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()) + 1e-9
}

fn same_opt(db: Option<f64>, truth: &Value) -> bool {
    match (db, truth.as_f64()) {
        (None, None) => truth.is_null(),
        (Some(a), Some(b)) => close(a, b),
        _ => false,
    }
}

/// Every site, family and resolution in the database equals the truth over what was
/// harvested. Panics with the first differences.
pub fn assert_truth(env: &TestEnv, db: &Path) -> Checked {
    check_truth(env, db, &[])
}

pub fn check_truth(env: &TestEnv, db: &Path, moments: &Moments) -> Checked {
    let c = open_db(db);
    let mut checked = Checked::default();
    let raws = raw_requests(&c);
    check_sites(env, &c, &env.scenario, &mut checked);
    check_series(env, &c, &raws, moments, &mut checked);
    check_overview(env, &c, &raws, moments, &mut checked);
    check_benefits(env, &c, &raws, moments, &mut checked);
    check_alerts(env, &c, &raws, moments, &mut checked);
    checked
}

/// Sites against the scenario, and the device inventory size per site.
fn check_sites(env: &TestEnv, c: &Connection, scenario: &Scenario, checked: &mut Checked) {
    let mut st = c
        .prepare(
            "SELECT site_id, name, timezone, activation_status, peak_power_kw, account_id \
             FROM seh_sites ORDER BY site_id",
        )
        .unwrap();
    type SiteRow = (
        i64,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<f64>,
        Option<i64>,
    );
    let rows: Vec<SiteRow> = st
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    if rows.is_empty() {
        return;
    }
    let want: Vec<i64> = scenario.sites.iter().map(|s| s.id).collect();
    let got: Vec<i64> = rows.iter().map(|r| r.0).collect();
    assert_eq!(got, want, "seh_sites ids");
    for (row, s) in rows.iter().zip(&scenario.sites) {
        // Once the details were read, every field is there; before, what is there is right.
        let detailed = count_where(
            c,
            "seh_sync_state",
            &format!(
                "site_id = {} AND family = 'details' AND last_success IS NOT NULL",
                s.id
            ),
        ) == 1;
        let check = |what: &str, got: Option<String>, want: String| {
            if detailed || got.is_some() {
                assert_eq!(got, Some(want), "site {} {what}", s.id);
            }
        };
        check("name", row.1.clone(), s.name.clone());
        if env.omit_timezone {
            assert_eq!(row.2, None, "site {} timezone: none was served", s.id);
        } else {
            check("timezone", row.2.clone(), s.timezone.clone());
        }
        // Stored as sent, in the spelling the simulator served.
        check(
            "activation_status",
            row.3.clone(),
            env.status_case.spell(&s.activation_status),
        );
        check(
            "peak",
            row.4.map(|p| format!("{p:.3}")),
            format!("{:.3}", s.peak_kw),
        );
        if detailed {
            assert_eq!(row.5, Some(s.account_id), "site {} account", s.id);
        }
        checked.sites += 1;
        let harvested = count_where(
            c,
            "seh_sync_state",
            &format!(
                "site_id = {} AND family = 'devices' AND last_success IS NOT NULL",
                s.id
            ),
        );
        if harvested == 0 {
            continue;
        }
        let expected = s.inverters.len()
            + s.inverters
                .iter()
                .map(|i| i.optimizers as usize)
                .sum::<usize>()
            + s.battery.as_ref().map_or(0, |b| 1 + b.modules as usize)
            + s.meters.len()
            + s.extra_devices.len();
        let n = count_where(
            c,
            "seh_devices",
            &format!("site_id = {} AND removed_at IS NULL", s.id),
        );
        assert_eq!(n as usize, expected, "devices of site {}", s.id);
        let types: BTreeSet<String> = {
            let mut st = c
                .prepare("SELECT DISTINCT device_type FROM seh_devices WHERE site_id = ?1")
                .unwrap();
            st.query_map([s.id], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        if !s.inverters.is_empty() {
            assert!(types.contains("INVERTER"), "site {} types {types:?}", s.id);
        }
        checked.devices += n as usize;
    }
}

fn truth_family(family: &str) -> Option<(&'static str, &'static str)> {
    // (truth family, table)
    Some(match family {
        "energy" => ("energy", "seh_energy"),
        "power" => ("power", "seh_power"),
        "inverter_telemetry" => ("inverters", "seh_inverter_telemetry"),
        "meter_telemetry" => ("meters", "seh_meter_telemetry"),
        "storage_telemetry" => ("storage", "seh_storage_telemetry"),
        _ => return None,
    })
}

type Key = (String, String, String); // device_key, metric, ts_utc

fn db_series(
    c: &Connection,
    table: &str,
    site: i64,
    res: &str,
) -> BTreeMap<Key, (i64, Option<f64>)> {
    let sql = match table {
        "seh_energy" => "SELECT '', 'energy', ts_utc, utc_offset_min, energy_wh FROM seh_energy WHERE site_id = ?1 AND resolution = ?2".to_string(),
        "seh_power" => "SELECT '', 'power', ts_utc, utc_offset_min, power_w FROM seh_power WHERE site_id = ?1 AND resolution = ?2".to_string(),
        t => format!("SELECT device_key, metric, ts_utc, utc_offset_min, value FROM {t} WHERE site_id = ?1 AND resolution = ?2"),
    };
    let mut st = c.prepare(&sql).unwrap();
    st.query_map(rusqlite::params![site, res], |r| {
        Ok(((r.get(0)?, r.get(1)?, r.get(2)?), (r.get(3)?, r.get(4)?)))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn truth_series(rows: &[Value]) -> BTreeMap<Key, (i64, Value)> {
    rows.iter()
        .map(|v| {
            (
                (
                    v["device_key"].as_str().unwrap().to_string(),
                    v["metric"].as_str().unwrap().to_string(),
                    v["ts_utc"].as_str().unwrap().to_string(),
                ),
                (v["utc_offset_min"].as_i64().unwrap(), v["value"].clone()),
            )
        })
        .collect()
}

fn compare_series(
    what: &str,
    db: &BTreeMap<Key, (i64, Option<f64>)>,
    truth: &BTreeMap<Key, (i64, Value)>,
) {
    let only_db: Vec<&Key> = db.keys().filter(|k| !truth.contains_key(*k)).collect();
    let only_truth: Vec<&Key> = truth.keys().filter(|k| !db.contains_key(*k)).collect();
    assert!(
        only_db.is_empty() && only_truth.is_empty(),
        "{what}: bucket sets differ: {} rows only in the database (first {:?}), {} only in the truth (first {:?})",
        only_db.len(),
        only_db.iter().take(3).collect::<Vec<_>>(),
        only_truth.len(),
        only_truth.iter().take(3).collect::<Vec<_>>()
    );
    let mut bad = Vec::new();
    for (k, (off, v)) in db {
        let (toff, tv) = &truth[k];
        if off != toff || !same_opt(*v, tv) {
            bad.push(format!("{k:?}: db ({off}, {v:?}) truth ({toff}, {tv})"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} values differ from the truth:\n  {}",
        bad.len(),
        db.len(),
        bad.iter().take(8).cloned().collect::<Vec<_>>().join("\n  ")
    );
}

fn check_series(
    env: &TestEnv,
    c: &Connection,
    raws: &[RawReq],
    moments: &Moments,
    checked: &mut Checked,
) {
    // (site, family, resolution) -> requests
    let mut groups: BTreeMap<(i64, String, String), Vec<&RawReq>> = BTreeMap::new();
    for r in raws {
        if truth_family(&r.family).is_none() {
            continue;
        }
        let res = query_value(&r.query, "resolution")
            .expect("resolution")
            .to_string();
        groups
            .entry((r.site, r.family.clone(), res))
            .or_default()
            .push(r);
    }
    // Every table row must come from an archived window of its family.
    for (family, table) in [
        ("energy", "seh_energy"),
        ("power", "seh_power"),
        ("inverter_telemetry", "seh_inverter_telemetry"),
        ("meter_telemetry", "seh_meter_telemetry"),
        ("storage_telemetry", "seh_storage_telemetry"),
    ] {
        let mut st = c
            .prepare(&format!("SELECT DISTINCT site_id, resolution FROM {table}"))
            .unwrap();
        let present: Vec<(i64, String)> = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (site, res) in present {
            assert!(
                groups.contains_key(&(site, family.to_string(), res.clone())),
                "{table} has rows for site {site} {res} but no archived {family} request"
            );
        }
    }
    for ((site, family, res), reqs) in &groups {
        let (tfam, table) = truth_family(family).unwrap();
        let what = format!("site {site} {family} {res}");
        let parse = |r: &RawReq, k: &str| {
            parse_ts(query_value(&r.query, k).unwrap_or_else(|| panic!("{what}: no {k}")))
        };
        let (from, to, as_of_t) = if res == "TOTAL" {
            let last = reqs.last().unwrap();
            (
                parse(last, "from"),
                parse(last, "to"),
                as_of(moments, last.id),
            )
        } else {
            // The windows must tile one contiguous range (re-reads may overlap).
            let mut ws: Vec<(DateTime<Utc>, DateTime<Utc>)> = reqs
                .iter()
                .map(|r| (parse(r, "from"), parse(r, "to")))
                .collect();
            ws.sort();
            let lo = ws[0].0;
            let mut hi = ws[0].1;
            for (a, b) in &ws[1..] {
                assert!(
                    *a <= hi,
                    "{what}: gap in the harvested windows between {hi} and {a}"
                );
                hi = hi.max(*b);
            }
            // Never a window reaching past the simulator's now.
            assert!(hi <= env.now(), "{what}: a window ends at {hi}, after now");
            let state: (Option<String>, Option<String>) = c
                .query_row(
                    "SELECT covered_from, covered_to FROM seh_sync_state \
                     WHERE site_id = ?1 AND family = ?2 AND resolution = ?3",
                    rusqlite::params![site, family, res],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap_or((None, None));
            if let (Some(cf), Some(ct)) = &state {
                assert_eq!(parse_ts(cf), lo, "{what}: covered_from vs first window");
                let ct = parse_ts(ct);
                assert!(
                    ct <= hi && ct >= lo,
                    "{what}: covered_to {ct} outside [{lo}, {hi}]"
                );
            }
            (lo, hi, None)
        };
        let mut q_as_of = None;
        if let Some(t) = as_of_t {
            q_as_of = Some(z(t));
        }
        let truth = env.truth_as_of(
            *site,
            tfam,
            Some(res),
            Some(&z(from)),
            Some(&z(to)),
            q_as_of.as_deref(),
        );
        let truth = truth_series(&truth);
        let db = db_series(c, table, *site, res);
        compare_series(&what, &db, &truth);
        checked
            .series
            .insert((*site, family.clone(), res.clone()), db.len());
        checked
            .ranges
            .insert((*site, family.clone(), res.clone()), (from, to));
    }
}

fn factor(unit: Option<&str>) -> f64 {
    match unit.map(str::to_ascii_uppercase).as_deref() {
        Some("KWH") => 1e3,
        Some("MWH") => 1e6,
        _ => 1.0,
    }
}

fn check_overview(
    env: &TestEnv,
    c: &Connection,
    raws: &[RawReq],
    moments: &Moments,
    checked: &mut Checked,
) {
    // (site, local date) -> (from, to, last raw id)
    let mut days: BTreeMap<(i64, String), (String, String, i64)> = BTreeMap::new();
    for r in raws.iter().filter(|r| r.family == "overview") {
        let from = query_value(&r.query, "from").unwrap().to_string();
        let to = query_value(&r.query, "to").unwrap().to_string();
        days.insert((r.site, from[..10].to_string()), (from, to, r.id));
    }
    let mut st = c
        .prepare(
            "SELECT site_id, local_date, production_wh, production_self_wh, production_storage_wh, \
             production_grid_wh, consumption_wh, consumption_pv_wh, consumption_storage_wh, \
             consumption_grid_wh FROM seh_overview",
        )
        .unwrap();
    let rows: Vec<(i64, String, [Option<f64>; 8])> = st
        .query_map([], |r| {
            let mut v = [None; 8];
            for (i, slot) in v.iter_mut().enumerate() {
                *slot = r.get(i + 2)?;
            }
            Ok((r.get(0)?, r.get(1)?, v))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let db_days: BTreeSet<(i64, String)> = rows.iter().map(|r| (r.0, r.1.clone())).collect();
    let fetched: BTreeSet<(i64, String)> = days.keys().cloned().collect();
    assert_eq!(db_days, fetched, "overview days stored vs fetched");
    for (site, date, vals) in rows {
        let (from, to, id) = &days[&(site, date.clone())];
        // The truth endpoint clamps to its now, like the API; ask for the same window.
        let to_t = parse_ts(to).min(as_of(moments, *id).unwrap_or_else(|| env.now()));
        let as_of_s = as_of(moments, *id).map(z);
        let t = env.truth_as_of(
            site,
            "overview",
            None,
            Some(from),
            Some(&z(to_t)),
            as_of_s.as_deref(),
        );
        let day = t
            .iter()
            .find(|v| v["local_date"] == date.as_str())
            .unwrap_or_else(|| panic!("no truth overview for {site} {date}: {t:?}"));
        let p = &day["production"];
        let cns = &day["consumption"];
        let pf = factor(p["unit"].as_str());
        let cf = factor(cns["unit"].as_str());
        let want = [
            (p["total"].as_f64().map(|x| x * pf), "production.total"),
            (
                p["toSelfConsumption"].as_f64().map(|x| x * pf),
                "production.toSelfConsumption",
            ),
            (
                p["toStorage"].as_f64().map(|x| x * pf),
                "production.toStorage",
            ),
            (p["toGrid"].as_f64().map(|x| x * pf), "production.toGrid"),
            (cns["total"].as_f64().map(|x| x * cf), "consumption.total"),
            (cns["fromPv"].as_f64().map(|x| x * cf), "consumption.fromPv"),
            (
                cns["fromStorage"].as_f64().map(|x| x * cf),
                "consumption.fromStorage",
            ),
            (
                cns["fromGrid"].as_f64().map(|x| x * cf),
                "consumption.fromGrid",
            ),
        ];
        for (got, (want, name)) in vals.iter().zip(want) {
            let ok = match (got, want) {
                (None, None) => true,
                (Some(a), Some(b)) => close(*a, b),
                _ => false,
            };
            assert!(
                ok,
                "overview {site} {date} {name}: db {got:?} truth {want:?}"
            );
        }
        checked.overview_days += 1;
    }
}

fn check_benefits(
    env: &TestEnv,
    c: &Connection,
    raws: &[RawReq],
    moments: &Moments,
    checked: &mut Checked,
) {
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    for r in raws.iter().filter(|r| r.family == "benefits") {
        last.insert(r.site, r.id);
    }
    let n = count(c, "seh_environmental_benefits");
    assert_eq!(n as usize, last.len(), "benefit rows vs sites fetched");
    for (site, id) in last {
        let (co2, km): (Option<f64>, Option<f64>) = c
            .query_row(
                "SELECT co2_kg, ev_km FROM seh_environmental_benefits WHERE site_id = ?1",
                [site],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap_or_else(|e| panic!("benefits of {site}: {e}"));
        let as_of_s = as_of(moments, id).map(z);
        let t = env.truth_as_of(site, "benefits", None, None, None, as_of_s.as_deref());
        assert!(
            same_opt(co2, &t[0]["co2_kg"]) && same_opt(km, &t[0]["ev_km"]),
            "benefits of {site}: db ({co2:?}, {km:?}) truth {}",
            t[0]
        );
        checked.benefits += 1;
    }
}

fn check_alerts(
    env: &TestEnv,
    c: &Connection,
    raws: &[RawReq],
    moments: &Moments,
    checked: &mut Checked,
) {
    let fleet_last = raws
        .iter()
        .filter(|r| r.family == "fleet_alerts")
        .map(|r| r.id)
        .max();
    let mut site_last: BTreeMap<i64, i64> = BTreeMap::new();
    for r in raws.iter().filter(|r| r.family == "alerts") {
        site_last.insert(r.site, r.id);
    }
    if fleet_last.is_none() && site_last.is_empty() {
        assert_eq!(
            count(c, "seh_alerts"),
            0,
            "alerts without an archived response"
        );
        return;
    }
    for s in &env.scenario.sites {
        let Some(id) = site_last.get(&s.id).copied().or(fleet_last) else {
            continue;
        };
        let as_of_s = as_of(moments, id).map(z);
        let truth = env.truth_as_of(s.id, "alerts", None, None, None, as_of_s.as_deref());
        let want: BTreeMap<i64, String> = truth
            .iter()
            .map(|a| {
                (
                    a["alertId"].as_i64().unwrap(),
                    format!(
                        "{}|{}|{}|{}|{}|{}|{}|{}",
                        a["type"].as_str().unwrap_or(""),
                        a["category"].as_str().unwrap_or(""),
                        a["impact"],
                        a["status"].as_str().unwrap_or(""),
                        a["firstTrigger"].as_str().unwrap_or(""),
                        a["lastTrigger"].as_str().unwrap_or(""),
                        a["component"]["name"].as_str().unwrap_or(""),
                        a["component"]["serialNumber"].as_str().unwrap_or(""),
                    ),
                )
            })
            .collect();
        let mut st = c
            .prepare(
                "SELECT alert_id, coalesce(type,''), coalesce(category,''), impact, coalesce(status,''), \
                 coalesce(first_trigger,''), coalesce(last_trigger,''), coalesce(component_name,''), \
                 coalesce(component_serial,'') FROM seh_alerts WHERE site_id = ?1",
            )
            .unwrap();
        let got: BTreeMap<i64, String> = st
            .query_map([s.id], |r| {
                Ok((
                    r.get(0)?,
                    format!(
                        "{}|{}|{}|{}|{}|{}|{}|{}",
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<i64>>(3)?
                            .map_or("null".into(), |v| v.to_string()),
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                    ),
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(got, want, "alerts of site {}", s.id);
        checked.alerts += got.len();
    }
}

// ----- tests ------------------------------------------------------------------------------

/// Families every active site of the default fleet must have non-empty after a sync.
fn assert_fleet_covered(checked: &Checked) {
    for (site, fams) in [
        (
            BERLIN,
            &[
                "energy",
                "power",
                "inverter_telemetry",
                "meter_telemetry",
                "storage_telemetry",
            ][..],
        ),
        (
            SYDNEY,
            &["energy", "power", "inverter_telemetry", "meter_telemetry"][..],
        ),
        (DENVER, &["energy", "power", "inverter_telemetry"][..]),
    ] {
        for f in fams {
            assert!(
                checked.rows(site, f, "QUARTER_HOUR") > 0,
                "no {f} quarter-hours compared for {site}: {checked:?}"
            );
        }
        assert!(checked.rows(site, "energy", "DAY") >= 3, "{checked:?}");
        assert_eq!(checked.rows(site, "energy", "TOTAL"), 1, "{checked:?}");
    }
    // The PENDING site has no series at all.
    assert!(
        !checked.series.keys().any(|(s, _, _)| *s == LISBON),
        "{checked:?}"
    );
    assert_eq!(checked.sites, 4);
    assert!(checked.alerts > 0 && checked.benefits == 3, "{checked:?}");
    // A first run reads `initial_days` (3) overviews per active site.
    assert!(checked.overview_days >= 3 * 3, "{checked:?}");
}

#[test]
fn full_sync_of_the_default_fleet_equals_the_truth() {
    let env = TestEnv::new();
    let out = env.sync_ok();
    assert!(out.stderr.contains("sync:"), "{out}");
    let checked = assert_truth(&env, &env.db);
    assert_fleet_covered(&checked);
    checked.assert_qh_up_to(t0());
    // Quarter-hours reach back initial_days (3) and up to the running bucket.
    let c = env.conn();
    let (lo, hi): (String, String) = c
        .query_row(
            "SELECT min(ts_utc), max(ts_utc) FROM seh_energy WHERE site_id = ?1 AND resolution = 'QUARTER_HOUR'",
            [BERLIN],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(
        parse_ts(&lo) <= t0() - Duration::days(3) + Duration::hours(1),
        "{lo}"
    );
    assert_eq!(
        parse_ts(&hi),
        t0() - Duration::minutes(15),
        "last quarter-hour"
    );
}

const SMALL_SCENARIO: &str = r#"
[[sites]]
id = 7000001
name = "Little Test House"
timezone = "Europe/Berlin"
latitude = 48.14
longitude = 11.58
peak_kw = 4.2
installed_days_ago = 40
consumption_kwh_per_day = 8.0
alert_every_days = 9

[[sites.inverters]]
serial = "7E1A7001-01"
model = "SE3K-RW0TEBEN4"
part_number = "SE3K-RW0TEBEN4"
optimizers = 2

[sites.battery]
serial = "BAT-7001"
model = "SolarEdge Home Battery 48V 4.6kWh"
capacity_kwh = 4.6
max_power_kw = 2.5
modules = 1
connected_to = "7E1A7001-01"

[[sites.meters]]
serial = "MTR-7001"
name = "Export Meter"
kind = "FeedIn"
connected_to = "7E1A7001-01"

[[sites.meters]]
name = "Consumption Meter"
kind = "Consumption"
"#;

/// A one-site fleet installed 40 days ago (a closed month, October, and the autumn DST
/// day are inside), with history calls unlimited: `sync --full` runs reach back to
/// installation at every resolution and equal the truth.
#[test]
fn full_sync_reaches_back_to_installation() {
    let mut opts = sim_options();
    opts.scenario = Scenario::from_toml(SMALL_SCENARIO).expect("scenario");
    let install = opts.scenario.sites[0].installation(t0());
    let mut cfg = ConfigSpec::default();
    cfg.budget = cfg.budget.replace(
        "max_history_calls_per_run = 0",
        "max_history_calls_per_run = 1000",
    );
    let env = TestEnv::with(opts, cfg);
    // The first run starts the quarter-hour series `initial_days` back (and reads the
    // rollups to installation); the quarter-hour history follows in the next.
    let mut runs = 0;
    loop {
        env.seh(&["sync", "--full"]).expect(0);
        runs += 1;
        let out = env.seh(&["plan", "--json"]);
        out.expect(0);
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        if plan["backfill_calls_remaining"] == 0 {
            break;
        }
        assert!(
            runs < 3,
            "history still incomplete after {runs} runs: {plan}"
        );
    }
    let checked = assert_truth(&env, &env.db);
    let site = 7_000_001;
    for f in [
        "energy",
        "power",
        "inverter_telemetry",
        "meter_telemetry",
        "storage_telemetry",
    ] {
        assert!(
            checked.rows(site, f, "QUARTER_HOUR") > 0,
            "{f}: {checked:?}"
        );
    }
    let c = env.conn();
    // First quarter-hour = installation (local midnight), cursor from installation.
    let first: String = c
        .query_row(
            "SELECT min(ts_utc) FROM seh_energy WHERE site_id = ?1 AND resolution = 'QUARTER_HOUR'",
            [site],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(parse_ts(&first), install);
    let cf: String = c
        .query_row(
            "SELECT covered_from FROM seh_sync_state WHERE site_id = ?1 AND family = 'energy' AND resolution = 'QUARTER_HOUR'",
            [site],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(parse_ts(&cf), install);
    // Every local day from installation to yesterday has a DAY bucket (40 of them), the
    // autumn day has 100 quarter-hours, and October is a closed MONTH bucket.
    let days = count_where(
        &c,
        "seh_energy",
        &format!("site_id = {site} AND resolution = 'DAY'"),
    );
    assert_eq!(days, 40);
    let autumn = count_where(
        &c,
        "seh_energy",
        &format!(
            "site_id = {site} AND resolution = 'QUARTER_HOUR' AND ts_utc >= '2026-10-24T22:00:00Z' AND ts_utc < '2026-10-25T23:00:00Z'"
        ),
    );
    assert_eq!(autumn, 100, "quarter-hours of 2026-10-25 in Berlin");
    let months = count_where(
        &c,
        "seh_energy",
        &format!("site_id = {site} AND resolution = 'MONTH'"),
    );
    assert_eq!(months, 1, "October 2026");
    assert!(checked.rows(site, "energy", "MONTH") == 1);
    // Every quarter-hour from installation to now (the autumn day's extra hour included).
    let expected = (t0() - install).num_minutes() / 15;
    assert_eq!(
        checked.rows(site, "energy", "QUARTER_HOUR") as i64,
        expected
    );
}
