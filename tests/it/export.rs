//! `seh export`: every format read back by an independent reader (Python's `csv` and
//! `json`, `openpyxl` for XLSX, the `sqlite3` shell, `psql` and `mysql` for the SQL dumps)
//! and compared value by value with the database, NULLs included; the DST days in local
//! time; the filters; an export beside an open write transaction; and the refusals.
//!
//! The readers are Debian packages (`.ci/run` installs `python3-openpyxl` and `sqlite3`);
//! the PostgreSQL and MariaDB loads run when `SEH_TEST_PG_URL` / `SEH_TEST_MYSQL_URL` are
//! set and say that they skipped otherwise.

use crate::harness::*;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use rusqlite::types::Value as Sql;
use serde_json::Value as Json;
use std::path::Path;
use std::process::Command;

/// The reader: Debian's Python (which `python3-openpyxl` installs into), whatever `python3`
/// comes first on PATH otherwise.
fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Reads an export with Python's standard readers (openpyxl for XLSX) and prints
/// `{"sheet": {"header": [...], "rows": [[...], ...]}}`; an empty CSV field is null, a
/// date-time its ISO text.
const READER: &str = r#"
import csv, json, sys, datetime
fmt, path = sys.argv[1], sys.argv[2]
out = {}
def cell(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    return v
if fmt == "csv":
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=sys.argv[3], strict=True))
    out["csv"] = {"header": rows[0], "rows": [[None if v == "" else v for v in r] for r in rows[1:]]}
elif fmt in ("json", "ndjson"):
    with open(path, encoding="utf-8") as f:
        objs = json.load(f) if fmt == "json" else [json.loads(l) for l in f if l.strip()]
    header = list(objs[0].keys()) if objs else []
    out[fmt] = {"header": header, "rows": [list(o.values()) for o in objs]}
else:
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True)
    for ws in wb.worksheets:
        rows = [[cell(v) for v in r] for r in ws.iter_rows(values_only=True)]
        out[ws.title] = {"header": rows[0], "rows": rows[1:]}
print(json.dumps(out))
"#;

/// What a reader saw of one dataset.
#[derive(Debug)]
struct Read {
    header: Vec<String>,
    rows: Vec<Vec<Json>>,
}

fn read_back(format: &str, path: &Path, delimiter: &str) -> serde_json::Map<String, Json> {
    let out = Command::new(python())
        .args(["-c", READER, format])
        .arg(path)
        .arg(delimiter)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 reading {format} {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    match serde_json::from_slice(&out.stdout).expect("reader prints JSON") {
        Json::Object(m) => m,
        v => panic!("{v}"),
    }
}

fn sheet(m: &serde_json::Map<String, Json>, name: &str) -> Read {
    let s = &m[name];
    Read {
        header: s["header"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect(),
        rows: s["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().clone())
            .collect(),
    }
}

/// How the exported time column is expected to look.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Time {
    /// `2026-10-25T02:00:00+01:00`.
    Local,
    /// As stored.
    Utc,
    /// XLSX: the local wall clock as a date-time, no offset.
    Wall,
}

/// The stored rows of a dataset's columns, in key order, straight from the database.
fn stored(c: &rusqlite::Connection, table: &str, cols: &[&str], filter: &str) -> Vec<Vec<Sql>> {
    let key: Vec<String> = c
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0 ORDER BY pk"
        ))
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let sql = format!(
        "SELECT {} FROM {table} {filter} ORDER BY {}",
        cols.join(", "),
        key.join(", ")
    );
    let mut st = c.prepare(&sql).unwrap();
    st.query_map([], |r| {
        (0..cols.len())
            .map(|i| r.get::<_, Sql>(i))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The local text of a stored bucket: its instant at its stored offset.
fn local_text(ts: &str, offset_min: i64) -> String {
    let off = FixedOffset::east_opt(offset_min as i32 * 60).unwrap();
    parse_ts(ts)
        .with_timezone(&off)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Compares what a reader saw with the stored rows, cell by cell: integers and reals as
/// numbers (or their text, for CSV), exactly; text as text; NULL as null.
fn compare(what: &str, got: &Read, cols: &[&str], want: &[Vec<Sql>], time: Time) {
    let ts = cols.iter().position(|c| *c == "ts_utc");
    let off = cols.iter().position(|c| *c == "utc_offset_min");
    let header: Vec<&str> = cols
        .iter()
        .map(|c| match (*c, time) {
            ("ts_utc", Time::Local | Time::Wall) => "ts_local",
            (c, _) => c,
        })
        .collect();
    assert_eq!(got.header, header, "{what}: header");
    assert_eq!(got.rows.len(), want.len(), "{what}: row count");
    for (n, (g, w)) in got.rows.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what} row {n}");
        for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
            let at = || format!("{what} row {n} column {}: got {gv}, stored {wv:?}", cols[i]);
            match wv {
                Sql::Null => assert!(gv.is_null(), "{}", at()),
                Sql::Integer(v) => {
                    let x = gv
                        .as_f64()
                        .or_else(|| gv.as_str().and_then(|s| s.parse().ok()));
                    assert_eq!(x, Some(*v as f64), "{}", at());
                }
                Sql::Real(v) => {
                    let x = gv
                        .as_f64()
                        .or_else(|| gv.as_str().and_then(|s| s.parse().ok()));
                    assert_eq!(x, Some(*v), "{}", at());
                }
                Sql::Text(t) if Some(i) == ts => {
                    let Sql::Integer(o) = w[off.unwrap()] else {
                        panic!("{}: no offset", at())
                    };
                    let expect = match time {
                        Time::Utc => t.clone(),
                        Time::Local => local_text(t, o),
                        Time::Wall => local_text(t, o)[..19].to_string(),
                    };
                    assert_eq!(gv.as_str(), Some(expect.as_str()), "{}", at());
                }
                // CSV and XLSX have no empty text apart from an empty field.
                Sql::Text(t) if t.is_empty() => {
                    assert!(gv.is_null() || gv.as_str() == Some(""), "{}", at())
                }
                Sql::Text(t) => assert_eq!(gv.as_str(), Some(t.as_str()), "{}", at()),
                Sql::Blob(_) => panic!("{}", at()),
            }
        }
    }
}

/// A synced default fleet whose energy has a NULL value and a text that needs quoting in
/// every format (quote, comma, newline, non-ASCII), so both are compared too.
fn synced() -> TestEnv {
    let env = TestEnv::new();
    env.sync_ok();
    let c = env.conn();
    c.execute_batch(&format!(
        "UPDATE seh_energy SET energy_wh = NULL WHERE site_id = {BERLIN} \
           AND resolution = 'QUARTER_HOUR' AND ts_utc = (SELECT min(ts_utc) FROM seh_energy \
           WHERE site_id = {BERLIN} AND resolution = 'QUARTER_HOUR');
         UPDATE seh_energy SET api_unit = 'W\"h, ''x''\nü\\' WHERE site_id = {SYDNEY} \
           AND resolution = 'DAY';"
    ))
    .unwrap();
    env
}

const ENERGY: [&str; 6] = [
    "site_id",
    "resolution",
    "ts_utc",
    "utc_offset_min",
    "energy_wh",
    "api_unit",
];

const QH: &str = "WHERE resolution = 'QUARTER_HOUR'";

#[test]
fn every_format_reads_back_as_stored() {
    let env = synced();
    let c = env.conn();
    let energy = stored(&c, "seh_energy", &ENERGY, QH);
    assert!(energy.len() > 500, "{}", energy.len());
    assert!(
        energy.iter().any(|r| r[4] == Sql::Null),
        "a NULL is compared"
    );
    let days = stored(&c, "seh_energy", &ENERGY, "WHERE resolution = 'DAY'");
    assert!(days
        .iter()
        .any(|r| matches!(&r[5], Sql::Text(t) if t.contains('\n'))));

    for (format, time, flags) in [
        ("csv", Time::Local, &[][..]),
        ("csv", Time::Utc, &["--time", "utc"][..]),
        ("json", Time::Local, &[][..]),
        ("ndjson", Time::Utc, &["--time", "utc"][..]),
    ] {
        let file = env.path(&format!("energy-{format}-{time:?}.{format}"));
        let mut args = vec!["export", format, "energy", "-o", file.to_str().unwrap()];
        args.extend_from_slice(flags);
        env.seh(&args).expect(0);
        let got = sheet(&read_back(format, &file, ","), format);
        compare(&format!("{format} {time:?}"), &got, &ENERGY, &energy, time);
        // The same again, with the rows that need quoting.
        let file = env.path(&format!("daily-{format}-{time:?}.{format}"));
        let mut args = vec![
            "export",
            format,
            "daily-energy",
            "-o",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(flags);
        env.seh(&args).expect(0);
        let got = sheet(&read_back(format, &file, ","), format);
        compare(
            &format!("{format} daily {time:?}"),
            &got,
            &ENERGY,
            &days,
            time,
        );
    }

    // XLSX: one sheet per dataset, real date-times, numbers as numbers.
    let file = env.path("all.xlsx");
    env.seh(&[
        "export",
        "xlsx",
        "energy",
        "daily-energy",
        "sites",
        "-o",
        file.to_str().unwrap(),
    ])
    .expect(0);
    let book = read_back("xlsx", &file, ",");
    let names: Vec<&String> = book.keys().collect();
    assert_eq!(names.len(), 3, "{names:?}");
    compare(
        "xlsx energy",
        &sheet(&book, "energy"),
        &ENERGY,
        &energy,
        Time::Wall,
    );
    compare(
        "xlsx daily",
        &sheet(&book, "daily-energy"),
        &ENERGY,
        &days,
        Time::Wall,
    );
    let site_cols = [
        "site_id",
        "name",
        "account_id",
        "peak_power_kw",
        "installation_date",
        "last_update_time",
        "activation_status",
        "note",
        "address",
        "city",
        "state",
        "zip",
        "country",
        "timezone",
    ];
    let sites = stored(&c, "seh_sites", &site_cols, "");
    compare(
        "xlsx sites",
        &sheet(&book, "sites"),
        &site_cols,
        &sites,
        Time::Utc,
    );
    // One chart, for the one dataset of days; the header row frozen on every sheet.
    let parts = Command::new(python())
        .args([
            "-c",
            "import zipfile, sys; z = zipfile.ZipFile(sys.argv[1]); \
             print(sum(n.startswith('xl/charts/chart') for n in z.namelist())); \
             print(sum(b'state=\"frozen\"' in z.read(n) for n in z.namelist() \
             if n.startswith('xl/worksheets/sheet')))",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&parts.stdout), "1\n3\n");

    // SQL for SQLite, loaded by the sqlite3 shell into a fresh file.
    let dump = env.path("dump.sql");
    env.seh(&[
        "export",
        "sql",
        "energy",
        "daily-energy",
        "overview",
        "-o",
        dump.to_str().unwrap(),
    ])
    .expect(0);
    let fresh = env.path("fresh.db");
    let load = Command::new("sqlite3")
        .arg(&fresh)
        .stdin(std::fs::File::open(&dump).unwrap())
        .output()
        .expect("run sqlite3 (Debian package sqlite3)");
    assert!(
        load.status.success() && load.stderr.is_empty(),
        "sqlite3 < dump: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let f = rusqlite::Connection::open(&fresh).unwrap();
    let loaded = |table: &str, n: usize| Read {
        header: Vec::new(),
        rows: stored_rowid(&f, table, n),
    };
    let mut e = loaded("energy", ENERGY.len());
    e.header = header_of(&f, "energy");
    compare("sqlite energy", &e, &ENERGY, &energy, Time::Local);
    let mut d = loaded("daily_energy", ENERGY.len());
    d.header = header_of(&f, "daily_energy");
    compare("sqlite daily", &d, &ENERGY, &days, Time::Local);
    let ov_cols = [
        "site_id",
        "local_date",
        "production_wh",
        "production_self_wh",
        "production_storage_wh",
        "production_grid_wh",
        "consumption_wh",
        "consumption_pv_wh",
        "consumption_storage_wh",
        "consumption_grid_wh",
        "production_api_unit",
        "consumption_api_unit",
    ];
    let mut o = loaded("overview", ov_cols.len());
    o.header = header_of(&f, "overview");
    let ov = stored(&c, "seh_overview", &ov_cols, "");
    compare("sqlite overview", &o, &ov_cols, &ov, Time::Utc);
}

fn header_of(c: &rusqlite::Connection, table: &str) -> Vec<String> {
    c.prepare(&format!(
        "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
    ))
    .unwrap()
    .query_map([], |r| r.get(0))
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// A loaded table's rows in insertion order, as JSON values.
fn stored_rowid(c: &rusqlite::Connection, table: &str, n: usize) -> Vec<Vec<Json>> {
    let mut st = c
        .prepare(&format!("SELECT * FROM {table} ORDER BY rowid"))
        .unwrap();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get::<_, Sql>(i).unwrap() {
                Sql::Null => Json::Null,
                Sql::Integer(v) => Json::from(v),
                Sql::Real(v) => Json::from(v),
                Sql::Text(t) => Json::from(t),
                Sql::Blob(_) => panic!("blob"),
            })
            .collect())
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The rows of a JSON array of objects, in the order of `names`.
fn rows_of(objects: &Json, names: &[&str]) -> Vec<Vec<Json>> {
    objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| names.iter().map(|n| o[*n].clone()).collect())
        .collect()
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The SQL dumps load into the real PostgreSQL and MariaDB with their own clients, and
/// what those servers then hold is what the database holds.
#[test]
fn sql_dumps_load_into_postgres_and_mariadb() {
    let pg = std::env::var("SEH_TEST_PG_URL").ok();
    let my = std::env::var("SEH_TEST_MYSQL_URL").ok();
    if pg.is_none() && my.is_none() {
        eprintln!("SKIPPED: SEH_TEST_PG_URL and SEH_TEST_MYSQL_URL are unset");
        return;
    }
    let env = synced();
    let c = env.conn();
    let energy = stored(&c, "seh_energy", &ENERGY, QH);
    let days = stored(&c, "seh_energy", &ENERGY, "WHERE resolution = 'DAY'");
    let names: Vec<&str> = ENERGY
        .iter()
        .map(|c| if *c == "ts_utc" { "ts_local" } else { c })
        .collect();
    let schema = format!("seh_export_{}", std::process::id());
    if let Some(url) = pg {
        let dump = env.path("pg.sql");
        env.seh(&[
            "export",
            "sql",
            "--dialect",
            "postgres",
            "energy",
            "daily-energy",
            "-o",
            dump.to_str().unwrap(),
        ])
        .expect(0);
        let psql = |args: &[&str]| {
            let mut cmd = Command::new("psql");
            cmd.arg(&url)
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-At"])
                .args(args)
                .env("PGOPTIONS", format!("-c search_path={schema}"));
            run_ok(&mut cmd, "psql")
        };
        psql(&[
            "-c",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"),
        ]);
        psql(&["-f", dump.to_str().unwrap()]);
        for (table, want) in [("energy", &energy), ("daily_energy", &days)] {
            let json = psql(&[
                "-c",
                &format!("SELECT coalesce(json_agg(t), '[]') FROM (SELECT * FROM {table}) t"),
            ]);
            let got = Read {
                header: names.iter().map(|s| s.to_string()).collect(),
                rows: rows_of(&serde_json::from_str(&json).unwrap(), &names),
            };
            compare(
                &format!("postgres {table}"),
                &got,
                &ENERGY,
                want,
                Time::Local,
            );
        }
        psql(&["-c", &format!("DROP SCHEMA {schema} CASCADE")]);
    } else {
        eprintln!("SKIPPED: PostgreSQL load (SEH_TEST_PG_URL is unset)");
    }
    if let Some(url) = my {
        let dump = env.path("my.sql");
        env.seh(&[
            "export",
            "sql",
            "--dialect",
            "mysql",
            "energy",
            "daily-energy",
            "-o",
            dump.to_str().unwrap(),
        ])
        .expect(0);
        let (host, port, user) = mysql_parts(&url);
        let mysql = |db: Option<&str>, input: Option<&Path>, sql: Option<&str>| {
            let mut cmd = Command::new("mysql");
            cmd.args([
                "-h",
                &host,
                "-P",
                &port,
                "-u",
                &user,
                "--batch",
                "--raw",
                "--skip-column-names",
            ]);
            if let Some(db) = db {
                cmd.arg(db);
            }
            if let Some(sql) = sql {
                cmd.args(["-e", sql]);
            }
            if let Some(p) = input {
                cmd.stdin(std::fs::File::open(p).unwrap());
            }
            run_ok(&mut cmd, "mysql")
        };
        mysql(
            None,
            None,
            Some(&format!(
                "DROP DATABASE IF EXISTS {schema}; CREATE DATABASE {schema}"
            )),
        );
        mysql(Some(&schema), Some(&dump), None);
        for (table, want) in [("energy", &energy), ("daily_energy", &days)] {
            let pairs: Vec<String> = names.iter().map(|n| format!("'{n}', `{n}`")).collect();
            let json = mysql(
                Some(&schema),
                None,
                Some(&format!(
                    "SELECT JSON_ARRAYAGG(JSON_OBJECT({})) FROM {table}",
                    pairs.join(", ")
                )),
            );
            let got = Read {
                header: names.iter().map(|s| s.to_string()).collect(),
                rows: rows_of(&serde_json::from_str(json.trim()).unwrap(), &names),
            };
            compare(
                &format!("mariadb {table}"),
                &got,
                &ENERGY,
                want,
                Time::Local,
            );
        }
        mysql(None, None, Some(&format!("DROP DATABASE {schema}")));
    } else {
        eprintln!("SKIPPED: MariaDB load (SEH_TEST_MYSQL_URL is unset)");
    }
}

/// `mysql://user@host:port/db` → host, port, user.
fn mysql_parts(url: &str) -> (String, String, String) {
    let rest = url.trim_start_matches("mysql://");
    let (auth, hostpart) = rest.split_once('@').unwrap_or(("root", rest));
    let hostport = hostpart.split('/').next().unwrap();
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let user = auth.split(':').next().unwrap();
    (host.into(), port.into(), user.into())
}

/// The Berlin quarter-hours of one local day, exported as CSV in local time.
fn berlin_day(env: &TestEnv, day: &str) -> Vec<String> {
    let out = env.seh(&[
        "export",
        "csv",
        "energy",
        "--site",
        &BERLIN.to_string(),
        "--from",
        day,
        "--to",
        day,
    ]);
    out.expect(0);
    out.stdout
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().to_string())
        .collect()
}

fn env_at(now: DateTime<Utc>) -> TestEnv {
    let mut opts = sim_options();
    opts.start = now;
    let cfg = ConfigSpec {
        sync: "initial_days = 10\nsettle_hours = 3\n".into(),
        ..ConfigSpec::default()
    };
    let env = TestEnv::with(opts, cfg);
    env.sync_ok();
    env
}

/// In Berlin the autumn day has 100 distinct quarter-hours, the repeated hour once with
/// each offset, and the spring day 92, without 02:xx.
#[test]
fn the_dst_days_in_local_time() {
    let env = env_at(Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap());
    let autumn = berlin_day(&env, "2026-10-25");
    assert_eq!(autumn.len(), 100, "{autumn:?}");
    let mut distinct = autumn.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 100);
    assert_eq!(autumn[0], "2026-10-25T00:00:00+02:00");
    assert_eq!(autumn[11], "2026-10-25T02:45:00+02:00");
    assert_eq!(autumn[12], "2026-10-25T02:00:00+01:00");
    assert_eq!(autumn[99], "2026-10-25T23:45:00+01:00");
    // The days either side are whole days of 96.
    assert_eq!(berlin_day(&env, "2026-10-24").len(), 96);
    assert_eq!(berlin_day(&env, "2026-10-26").len(), 96);

    let env = env_at(Utc.with_ymd_and_hms(2026, 4, 5, 12, 0, 0).unwrap());
    let spring = berlin_day(&env, "2026-03-29");
    assert_eq!(spring.len(), 92, "{spring:?}");
    assert_eq!(spring[7], "2026-03-29T01:45:00+01:00");
    assert_eq!(spring[8], "2026-03-29T03:00:00+02:00");
    assert!(!spring.iter().any(|t| t.contains("T02:")));
}

/// `--site`, `--from/--to` (site-local dates), `--resolution` and `--delimiter` select and
/// shape exactly what they say.
#[test]
fn filters_select_what_they_say() {
    let env = synced();
    let c = env.conn();
    // Local dates per site, by the stored offset: two sites, two days.
    let (from, to) = ("2026-11-24", "2026-11-25");
    let out = env.seh(&[
        "export",
        "ndjson",
        "energy",
        "--site",
        &BERLIN.to_string(),
        "--site",
        &SYDNEY.to_string(),
        "--from",
        from,
        "--to",
        to,
    ]);
    out.expect(0);
    let got: Vec<Json> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let want: Vec<Vec<Sql>> = stored(&c, "seh_energy", &ENERGY, QH)
        .into_iter()
        .filter(|r| {
            let (Sql::Integer(site), Sql::Text(ts), Sql::Integer(o)) = (&r[0], &r[2], &r[3]) else {
                return false;
            };
            let local = (parse_ts(ts) + Duration::minutes(*o)).date_naive();
            [BERLIN, SYDNEY].contains(site) && local >= d(from) && local <= d(to)
        })
        .collect();
    assert_eq!(want.len(), 4 * 96, "two whole days of two sites are stored");
    let names: Vec<&str> = ENERGY
        .iter()
        .map(|c| if *c == "ts_utc" { "ts_local" } else { c })
        .collect();
    let read = Read {
        header: names.iter().map(|s| s.to_string()).collect(),
        rows: rows_of(&Json::Array(got), &names),
    };
    compare("filtered", &read, &ENERGY, &want, Time::Local);

    // --resolution day is daily-energy; ';' separates fields for such spreadsheets.
    let a = env.seh(&[
        "export",
        "csv",
        "energy",
        "--resolution",
        "day",
        "--delimiter",
        ";",
    ]);
    a.expect(0);
    let b = env.seh(&["export", "csv", "daily-energy", "--delimiter", ";"]);
    b.expect(0);
    assert_eq!(a.stdout, b.stdout);
    assert!(
        a.stdout.starts_with("site_id;resolution;ts_local;"),
        "{}",
        a.stdout
    );
    let file = env.path("semi.csv");
    std::fs::write(&file, &a.stdout).unwrap();
    let days = stored(&c, "seh_energy", &ENERGY, "WHERE resolution = 'DAY'");
    compare(
        "semicolon",
        &sheet(&read_back("csv", &file, ";"), "csv"),
        &ENERGY,
        &days,
        Time::Local,
    );
}

/// A write transaction is open (as during a sync): the export neither waits for it nor
/// sees its uncommitted row, and writes nothing to the database.
#[test]
fn export_reads_beside_an_open_write_transaction() {
    let env = synced();
    let before = std::fs::read(&env.db).unwrap();
    let writer = env.conn();
    writer
        .execute_batch(&format!(
            "BEGIN IMMEDIATE; DELETE FROM seh_energy WHERE site_id = {BERLIN};"
        ))
        .unwrap();
    let out = env.seh(&["export", "csv", "energy", "--site", &BERLIN.to_string()]);
    out.expect(0);
    assert!(out.stdout.lines().count() > 96, "{out}");
    writer.execute_batch("ROLLBACK").unwrap();
    drop(writer);
    assert_eq!(
        std::fs::read(&env.db).unwrap(),
        before,
        "the database file is unchanged"
    );
}

/// Each mistake is one line and exit 2 (4 for a missing database), leaving no file behind;
/// an existing file is replaced only with --force.
#[test]
fn bad_input_is_refused_without_a_partial_file() {
    let env = TestEnv::new();
    let out = env.seh(&["export", "csv", "energy"]);
    out.expect(4);
    assert!(out.stderr.contains("does not exist yet"), "{out}");
    env.sync_ok();
    let file = env.path("out.csv");
    let f = file.to_str().unwrap();
    for (args, says) in [
        (
            vec!["export", "tsv", "energy"],
            "use one of csv, json, ndjson, sql, xlsx",
        ),
        (
            vec!["export", "csv", "enrgy"],
            "use one of energy, daily-energy",
        ),
        (vec!["export", "csv"], "no dataset given"),
        (vec!["export"], "no format given"),
        (
            vec!["export", "csv", "energy", "sites"],
            "csv holds one dataset",
        ),
        (
            vec!["export", "csv", "energy", "--from", "2026-13-01"],
            "is not a date",
        ),
        (
            vec![
                "export",
                "csv",
                "energy",
                "--from",
                "2026-11-02",
                "--to",
                "2026-11-01",
            ],
            "--to 2026-11-01 is before --from 2026-11-02",
        ),
        (
            vec!["export", "csv", "energy", "--resolution", "fortnight"],
            "unknown resolution",
        ),
        (
            vec!["export", "csv", "energy", "--time", "cet"],
            "use local or utc",
        ),
        (
            vec!["export", "json", "energy", "--delimiter", ";"],
            "csv only",
        ),
        (
            vec!["export", "csv", "energy", "--dialect", "mysql"],
            "sql only",
        ),
        (
            vec!["export", "sql", "energy", "--dialect", "oracle"],
            "unknown --dialect",
        ),
        (
            vec!["export", "csv", "energy", "-o", "/nonexistent/dir/out.csv"],
            "cannot write",
        ),
    ] {
        let mut args = args.clone();
        if !args.contains(&"-o") && args.len() > 2 {
            args.extend(["-o", f]);
        }
        let out = env.seh(&args);
        out.expect(2);
        assert!(out.stderr.contains(says), "{says:?}\n{out}");
        assert_eq!(out.stderr.trim().lines().count(), 1, "one line\n{out}");
        assert!(!file.exists(), "{args:?} left {f}");
    }
    // An existing file stays unless --force.
    std::fs::write(&file, "mine").unwrap();
    let out = env.seh(&["export", "csv", "sites", "-o", f]);
    out.expect(2);
    assert!(out.stderr.contains("--force"), "{out}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    env.seh(&["export", "csv", "sites", "-o", f, "--force"])
        .expect(0);
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with("site_id,name,"));
    // No temporary file is left anywhere.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".seh-export"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The list needs no database or configuration.
    let out = env.seh_bare(&["export", "--list"]);
    out.expect(0);
    assert!(
        out.stdout.lines().any(|l| l.starts_with("daily-energy ")),
        "{out}"
    );
    assert!(out.stdout.lines().all(|l| l.len() <= 80), "{out}");
}

/// XLSX is binary: refused when stdout is a terminal (a pseudo-terminal from `script`),
/// before the database is even opened.
#[test]
fn xlsx_is_refused_to_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("SKIPPED: no `script` (util-linux) to give seh a terminal");
        return;
    }
    let env = TestEnv::new();
    let line = format!(
        "{} --config {} export xlsx energy",
        env!("CARGO_BIN_EXE_seh"),
        env.config.display()
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .current_dir(env.dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("stdout is a terminal"), "{text}");
}

/// `--wide`: one row per bucket, one column per device and metric (with its unit), each
/// cell the stored value of that device, metric and bucket, and empty where none is stored.
#[test]
fn wide_telemetry_has_a_column_per_device_and_metric() {
    let env = synced();
    let c = env.conn();
    let file = env.path("wide.csv");
    env.seh(&[
        "export",
        "csv",
        "inverter-telemetry",
        "--wide",
        "--time",
        "utc",
        "-o",
        file.to_str().unwrap(),
    ])
    .expect(0);
    let got = sheet(&read_back("csv", &file, ","), "csv");
    assert_eq!(
        got.header[..4],
        ["site_id", "resolution", "ts_utc", "utc_offset_min"]
    );
    let buckets: i64 = c
        .query_row(
            "SELECT count(*) FROM (SELECT DISTINCT site_id, resolution, ts_utc \
             FROM seh_inverter_telemetry)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(got.rows.len() as i64, buckets);
    let mut checked = 0;
    let mut empty = 0;
    let mut st = c
        .prepare(
            "SELECT value FROM seh_inverter_telemetry WHERE site_id = ?1 AND resolution = ?2 \
             AND ts_utc = ?3 AND device_key = ?4 AND metric = ?5",
        )
        .unwrap();
    for row in got.rows.iter().step_by(7) {
        let s = |i: usize| row[i].as_str().unwrap().to_string();
        for (i, name) in got.header.iter().enumerate().skip(4) {
            let (device, rest) = name.split_once('.').unwrap();
            let metric = rest.rsplit_once('_').map_or(rest, |(m, _)| m);
            let stored: Option<Option<f64>> = st
                .query_row(
                    rusqlite::params![s(0).parse::<i64>().unwrap(), s(1), s(2), device, metric],
                    |r| r.get(0),
                )
                .ok();
            let cell = row[i].as_str().map(|v| v.parse::<f64>().unwrap());
            assert_eq!(cell, stored.flatten(), "{name} at {row:?}");
            checked += 1;
            empty += usize::from(cell.is_none());
        }
    }
    assert!(
        checked > 1000 && empty < checked,
        "{checked} cells, {empty} empty"
    );
    // --wide names the datasets it applies to.
    let out = env.seh(&["export", "csv", "energy", "--wide"]);
    out.expect(2);
    assert!(out.stderr.contains("inverter-telemetry"), "{out}");
}
