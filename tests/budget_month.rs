//! A virtual month of 15-minute timer runs of the real `seh` binary against `seh-sim` at
//! Free-tier limits (10 calls a minute, 2,000 credits, hard stop), for the issue "Spend
//! credits like money". Three worlds: the documented window limits, the observed ones, and
//! a tight 300-credit budget. Each shows zero 429s and credits used ≤ budget − reserve;
//! the first two also show DAY history complete after the first run, the month's
//! quarter-hours complete with no gaps, and every family's lag within what `seh plan`
//! announced. The tight world must degrade gracefully: no 429, within budget, and a plan
//! that says it is stretched.
//!
//! Time: during a run the simulator's clock runs 600 times real time, and `[api]
//! time_scale = 600` tells seh, so its minute-window waits shrink alike (the Free tier's
//! 10 calls a minute are still enforced, on the virtual clock). Between runs the clock is
//! frozen and then set to the next timer tick; since on a real system the machine's clock
//! would have advanced by the same 15 minutes, the harness moves seh's stored clock
//! anchor (server time, local time) along with it.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rusqlite::Connection;
use seh_sim::app::SimOptions;
use seh_sim::ratelimit::CreditMode;
use seh_sim::windows::{Profile, WindowLimits};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Virtual seconds per real second while seh runs.
const SPEED: f64 = 600.0;

/// Tell seh that the server clock reads `server` now, as the previous run would have
/// extrapolated it had the machine's clock advanced like the server's.
fn move_anchor(db: &Path, server: DateTime<Utc>) {
    let c = Connection::open(db).unwrap();
    let f = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let extra = serde_json::json!({ "server": f(server), "local": f(Utc::now()) }).to_string();
    c.execute(
        "UPDATE seh_sync_state SET extra = ?1 WHERE site_id = 0 AND family = 'clock'",
        [extra],
    )
    .unwrap();
}

struct World {
    name: &'static str,
    profile: Profile,
    monthly: u64,
    reserve: u64,
    /// Run every 15 minutes (`1`) or every hour (`4`): the tight world runs hourly to
    /// keep the suite short; its budget, not the timer, limits it.
    tick: i64,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(url: &str) -> Value {
    let mut r = agent().get(url).call().expect("admin call");
    let text = r.body_mut().read_to_string().expect("body");
    serde_json::from_str(&text).expect("json")
}

fn seh(config: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_seh"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("run seh");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// Last success per (site, family) of the quarter-hour series.
fn fresh_state(db: &Path) -> BTreeMap<(i64, String), DateTime<Utc>> {
    let c = Connection::open(db).unwrap();
    let mut st = c
        .prepare(
            "SELECT site_id, family, last_success FROM seh_sync_state \
             WHERE resolution = 'QUARTER_HOUR' AND last_success IS NOT NULL",
        )
        .unwrap();
    st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get::<_, String>(2)?)))
        .unwrap()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k, ts(&v))
        })
        .collect()
}

fn run_world(w: &World) {
    let start = Utc.with_ymd_and_hms(2026, 11, 1, 0, 5, 0).unwrap();
    let speed = SPEED;
    let mut opts = SimOptions::new(start);
    opts.speed = 0.0;
    opts.windows = WindowLimits::profile(w.profile);
    opts.limits.per_minute = 10;
    opts.limits.monthly_credits = w.monthly;
    opts.limits.credit_mode = CreditMode::Hard;
    let sim = seh_sim::start(opts, "127.0.0.1:0").expect("simulator");
    let admin = format!("{}/_sim", sim.url);

    let tmp = tempfile::tempdir().unwrap();
    // SEH_MONTH_KEEP=1 keeps the databases in target/month-<world> for inspection.
    let kept =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("month-{}", w.name));
    let dir_path = if std::env::var("SEH_MONTH_KEEP").is_ok() {
        let _ = std::fs::remove_dir_all(&kept);
        std::fs::create_dir_all(&kept).unwrap();
        eprintln!("{}: keeping {}", w.name, kept.display());
        kept
    } else {
        tmp.path().to_path_buf()
    };
    let dir = dir_path.as_path();
    let db: PathBuf = dir.join("seh.db");
    let config = dir.join("seh.toml");
    let observed = if w.profile == Profile::Observed {
        "[sync]\ninitial_days = 1\nmax_window_hours = { QUARTER_HOUR = 168, HOUR = 744, DAY = 8784 }\n"
    } else {
        "[sync]\ninitial_days = 1\n"
    };
    std::fs::write(
        &config,
        format!(
            "[api]\nbase_url = \"{}\"\nkey = \"sim-fleet-key\"\ntime_scale = {speed}\n\
             [database]\npath = {:?}\n{observed}\
             [budget]\nmonthly_credits = {}\nreserve = {}\n",
            sim.base_url(),
            db.display().to_string(),
            w.monthly,
            w.reserve
        ),
    )
    .unwrap();

    let runs: i64 = std::env::var("SEH_MONTH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30 * 96 / w.tick);
    let mut prev_run = Duration::zero();
    let mut announced: BTreeMap<String, Duration> = BTreeMap::new();
    let mut worst_lag: BTreeMap<String, Duration> = BTreeMap::new();
    let mut lag_violations = Vec::new();
    let mut exit_codes: BTreeMap<i32, u32> = BTreeMap::new();
    let wall = std::time::Instant::now();
    for k in 0..runs {
        let tick = start + Duration::minutes(15 * w.tick * k);
        // The next tick, or at once when the previous run overran it.
        let t = tick.max(sim.app.clock.now());
        sim.app.clock.set(t);
        if k > 0 {
            move_anchor(&db, t);
        }
        // Lag before the run: how old each family's newest fetch is.
        if k > 0 {
            for ((site, fam), last) in fresh_state(&db) {
                let lag = t - last;
                let e = worst_lag.entry(fam.clone()).or_insert(lag);
                *e = (*e).max(lag);
                // The announced bound assumes runs take no time; a run that overran its tick
                // (debug builds on a loaded machine, 9,000× real time) delays the next.
                if let Some(max) = announced.get(&fam) {
                    if lag
                        > *max + prev_run.max(Duration::minutes(15 * w.tick))
                            - Duration::minutes(15 * w.tick)
                    {
                        lag_violations.push(format!(
                            "run {k} site {site} {fam}: lag {} min > {} min",
                            lag.num_minutes(),
                            max.num_minutes()
                        ));
                        if std::env::var("SEH_MONTH_DEBUG").is_ok() {
                            let (_, out, _) = seh(&config, &["plan", "--verbose-tasks"]);
                            eprintln!("{out}");
                        }
                    }
                }
            }
        }
        sim.app.clock.set_speed(speed);
        let (code, _out, err) = seh(&config, &["-q", "sync"]);
        sim.app.clock.set_speed(0.0);
        prev_run = sim.app.clock.now() - t;
        *exit_codes.entry(code).or_default() += 1;
        assert!(code == 0, "{} run {k} at {t}: exit {code}\n{err}", w.name);
        if k == 0 && w.monthly >= 2000 {
            check_day_history(&db, &admin, t);
        }
        // What seh announces for the next runs (its cadence can change as the budget goes).
        {
            move_anchor(&db, sim.app.clock.now());
            let (code, out, err) = seh(&config, &["plan", "--json"]);
            assert_eq!(code, 0, "{err}");
            let plan: Value = serde_json::from_str(&out).unwrap();
            for (fam, m) in plan["max_lag_minutes"].as_object().unwrap() {
                announced.insert(fam.clone(), Duration::minutes(m.as_i64().unwrap()));
            }
            if w.monthly < 1000 && k == 0 {
                assert!(
                    !plan["notes"].as_array().unwrap().is_empty(),
                    "a tight budget must be explained in plan: {plan}"
                );
            }
        }
    }
    let stats = get(&format!("{admin}/stats"));
    eprintln!(
        "{}: {runs} runs in {:.1} s, sim stats: {}, worst lag {:?}, announced {:?}, exits {:?}",
        w.name,
        wall.elapsed().as_secs_f64(),
        stats,
        worst_lag
            .iter()
            .map(|(k, v)| (k, v.num_minutes()))
            .collect::<Vec<_>>(),
        announced
            .iter()
            .map(|(k, v)| (k, v.num_minutes()))
            .collect::<Vec<_>>(),
        exit_codes
    );
    assert_eq!(
        stats["rate_limited_429"].as_u64(),
        Some(0),
        "minute 429s: {stats}"
    );
    assert_eq!(
        stats["credits_429"].as_u64(),
        Some(0),
        "credit 429s: {stats}"
    );
    let used = stats["credits_used_cycle"].as_u64().unwrap();
    // The cycle may have turned over on Dec 1 in the last hours; count the ledger.
    let c = Connection::open(&db).unwrap();
    let ledger: i64 = c
        .query_row(
            "SELECT COALESCE(SUM(credits), 0) FROM seh_api_calls WHERE at < '2026-12-01T00:00:00Z'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        ledger as u64 <= w.monthly - w.reserve,
        "{}: {ledger} credits used in November, budget {} − reserve {}",
        w.name,
        w.monthly,
        w.reserve
    );
    eprintln!(
        "{}: ledger {ledger} credits in November, simulator cycle count {used}",
        w.name
    );
    if w.monthly >= 2000 {
        assert!(
            lag_violations.is_empty(),
            "{}: {:#?}",
            w.name,
            &lag_violations[..lag_violations.len().min(10)]
        );
        check_month_complete(&db, &admin, start, sim.app.clock.now(), &announced);
    }
    sim.shutdown();
}

/// After the first run, DAY energy exists for every day from installation to yesterday.
fn check_day_history(db: &Path, admin: &str, run_start: DateTime<Utc>) {
    let c = Connection::open(db).unwrap();
    for site in [2150001i64, 3150002, 4150003] {
        let truth = get(&format!(
            "{admin}/truth?site={site}&family=energy&resolution=DAY&as_of={}",
            urlenc(&run_start.to_rfc3339())
        ));
        let rows = truth["rows"].as_array().unwrap();
        // Every closed day (the running one is excluded) must be stored.
        let closed: Vec<&Value> = rows[..rows.len() - 1].iter().collect();
        let stored: i64 = c
            .query_row(
                "SELECT count(*) FROM seh_energy WHERE site_id = ?1 AND resolution = 'DAY'",
                [site],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            stored as usize >= closed.len(),
            "site {site}: {stored} DAY rows after the first run, installation to yesterday has {}",
            closed.len()
        );
    }
}

/// Every quarter-hour of every series of every site is stored from the month's start to
/// the series' settled cursor (which trails "now" by at most the announced lag), with the
/// simulator's values.
fn check_month_complete(
    db: &Path,
    admin: &str,
    from: DateTime<Utc>,
    now: DateTime<Utc>,
    announced: &BTreeMap<String, Duration>,
) {
    let c = Connection::open(db).unwrap();
    let from_s = from.to_rfc3339();
    for site in [2150001i64, 3150002, 4150003] {
        for (family, table, fam) in [
            ("energy", "seh_energy", "energy"),
            ("power", "seh_power", "power"),
            ("inverters", "seh_inverter_telemetry", "inverter_telemetry"),
            ("meters", "seh_meter_telemetry", "meter_telemetry"),
            ("storage", "seh_storage_telemetry", "storage_telemetry"),
        ] {
            let cursor: Option<String> = c
                .query_row(
                    "SELECT covered_to FROM seh_sync_state WHERE site_id=?1 AND family=?2 AND resolution='QUARTER_HOUR'",
                    rusqlite::params![site, fam],
                    |r| r.get(0),
                )
                .ok()
                .flatten();
            let Some(cursor) = cursor else { continue };
            let to = ts(&cursor);
            let bound = announced[fam] + Duration::hours(2);
            assert!(
                now - to <= bound,
                "site {site} {fam}: cursor {cursor} trails now {now} by more than {bound}"
            );
            let to_s = to.to_rfc3339();
            let url = format!(
                "{admin}/truth?site={site}&family={family}&resolution=QUARTER_HOUR&from={}&to={}",
                urlenc(&from_s),
                urlenc(&to_s)
            );
            let truth = get(&url);
            let rows = truth["rows"].as_array().unwrap();
            if rows.is_empty() {
                continue;
            }
            let mut missing = 0;
            let mut wrong = 0;
            for r in rows {
                let ts_utc = r["ts_utc"].as_str().unwrap();
                let value = r["value"].as_f64();
                let stored: Option<Option<f64>> = match table {
                    "seh_energy" | "seh_power" => {
                        let col = if table == "seh_energy" { "energy_wh" } else { "power_w" };
                        c.query_row(
                            &format!("SELECT {col} FROM {table} WHERE site_id=?1 AND resolution='QUARTER_HOUR' AND ts_utc=?2"),
                            rusqlite::params![site, ts_utc],
                            |r| r.get(0),
                        )
                        .ok()
                    }
                    _ => c
                        .query_row(
                            &format!(
                                "SELECT value FROM {table} WHERE site_id=?1 AND resolution='QUARTER_HOUR' \
                                 AND device_key=?2 AND metric=?3 AND ts_utc=?4"
                            ),
                            rusqlite::params![site, r["device_key"].as_str().unwrap(), r["metric"].as_str().unwrap(), ts_utc],
                            |r| r.get(0),
                        )
                        .ok(),
                };
                match stored {
                    None => missing += 1,
                    Some(v) => {
                        let same = match (v, value) {
                            (None, None) => true,
                            (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * b.abs().max(1.0),
                            _ => false,
                        };
                        if !same {
                            wrong += 1;
                        }
                    }
                }
            }
            assert_eq!(
                missing,
                0,
                "site {site} {family}: {missing} of {} quarter-hours missing",
                rows.len()
            );
            assert_eq!(
                wrong,
                0,
                "site {site} {family}: {wrong} of {} values differ",
                rows.len()
            );
        }
    }
}

fn urlenc(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[test]
fn a_virtual_month_at_free_tier_limits() {
    let only = std::env::var("SEH_MONTH_WORLDS").unwrap_or_default();
    let worlds = [
        World {
            name: "documented",
            profile: Profile::Documented,
            monthly: 2000,
            reserve: 100,
            tick: 1,
        },
        World {
            name: "observed",
            profile: Profile::Observed,
            monthly: 2000,
            reserve: 100,
            tick: 1,
        },
        World {
            name: "tight",
            profile: Profile::Documented,
            monthly: 300,
            reserve: 30,
            tick: 4,
        },
    ];
    std::thread::scope(|s| {
        let handles: Vec<_> = worlds
            .iter()
            .filter(|w| only.is_empty() || only.split(',').any(|o| o == w.name))
            .map(|w| s.spawn(move || run_world(w)))
            .collect();
        for h in handles {
            h.join().expect("world");
        }
    });
}
