//! The pushers against real servers (issue 13): `SEH_TEST_PG_URL` (PostgreSQL) and
//! `SEH_TEST_MYSQL_URL` (MySQL/MariaDB), which `.ci/run` sets. A test whose server or
//! cargo feature is missing prints why and passes without checking anything. Every test
//! pushes into its own PostgreSQL schema or MariaDB database, so they run in parallel.

use crate::harness::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A name no other test (or run) uses: `seh_t_<pid>_<n>_<tag>`.
#[allow(dead_code)]
fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "seh_t_{}_{}_{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// The server URL from the environment, or `None` after printing why the test is skipped.
#[allow(dead_code)]
fn server(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!("skipped: {var} is not set (.ci/run sets it)");
            None
        }
    }
}

/// Appends lines (a `[[push]]` entry, `[sites]`) to the test's config file.
#[allow(dead_code)]
fn append_config(env: &TestEnv, text: &str) {
    let mut t = std::fs::read_to_string(&env.config).unwrap();
    t.push('\n');
    t.push_str(text);
    std::fs::write(&env.config, t).unwrap();
}

/// A value rendered the same way on every side: numbers as f64 to 6 decimals (sums may
/// differ in the last bits between engines), text as is.
#[allow(dead_code)]
fn norm(s: Option<String>) -> String {
    match s {
        None => "NULL".to_string(),
        Some(s) => match s.parse::<f64>() {
            Ok(x) if !s.is_empty() && s.trim() == s => format!("{x:.6}"),
            _ => s,
        },
    }
}

/// Every row of a local table or view, rendered with [`norm`], sorted.
#[allow(dead_code)]
fn local_rows(env: &TestEnv, sql: &str) -> Vec<Vec<String>> {
    let c = env.conn();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    let mut rows: Vec<Vec<String>> = stmt
        .query_map([], |r| {
            Ok((0..n)
                .map(|i| {
                    use rusqlite::types::ValueRef;
                    norm(match r.get_ref(i).unwrap() {
                        ValueRef::Null => None,
                        ValueRef::Integer(v) => Some(v.to_string()),
                        ValueRef::Real(v) => Some(v.to_string()),
                        ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(_) => Some("<blob>".into()),
                    })
                })
                .collect())
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

/// The pushed columns of a data table (the feed's), comma-separated.
#[allow(dead_code)]
fn pushed_columns(table: &seh::store::catalogue::Table) -> String {
    let cols: Vec<&str> = seh::store::feed_columns(table)
        .iter()
        .map(|c| c.name)
        .collect();
    cols.join(", ")
}

/// The views both remote dialects have (all of SQLite's but the local `v_seh_sync_status`).
#[allow(dead_code)]
const VIEWS: [&str; 7] = [
    "v_seh_latest_power",
    "v_seh_daily_energy",
    "v_seh_energy_monthly",
    "v_seh_site_summary",
    "v_seh_power_flow_current",
    "v_seh_battery_status",
    "v_seh_equipment_list",
];

/// The query of view `v` over the columns the remote views have: migration 04 added
/// `partial` (judged on the local host's clock) and `state_of_energy_pct` locally, which the
/// remote views do not have yet.
#[allow(dead_code)]
fn view_query(v: &str) -> String {
    let columns = match v {
        "v_seh_daily_energy" => "site_id, local_date, energy_kwh, source",
        "v_seh_energy_monthly" => "site_id, local_month, energy_kwh, source",
        "v_seh_battery_status" => {
            "site_id, device_key, state_of_energy_ts_utc, state_of_energy, \
             state_of_energy_unit, remaining_energy_wh, charge_power_w, discharge_power_w"
        }
        _ => "*",
    };
    format!("SELECT {columns} FROM {v}")
}

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use postgres::{Client, NoTls};

    pub struct Remote {
        pub url: String,
        pub schema: String,
        client: Client,
    }

    impl Drop for Remote {
        fn drop(&mut self) {
            let _ = self
                .client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema));
        }
    }

    impl Remote {
        pub fn new(tag: &str) -> Option<Remote> {
            let url = server("SEH_TEST_PG_URL")?;
            let client = Client::connect(&url, NoTls).expect("SEH_TEST_PG_URL connects");
            Some(Remote {
                url,
                schema: unique(tag),
                client,
            })
        }

        /// A `[[push]]` entry for this remote.
        pub fn entry(&self, name: &str, extra: &str) -> String {
            format!(
                "[[push]]\nname = {name:?}\nkind = \"postgres\"\nurl = {:?}\nschema = {:?}\n{extra}\n",
                self.url, self.schema
            )
        }

        /// Rows of `sql` (run in the test schema), every column as text, [`norm`]ed.
        pub fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
            self.client
                .batch_execute(&format!("SET search_path TO {}", self.schema))
                .unwrap();
            let stmt = self.client.prepare(sql).unwrap();
            let casts: Vec<String> = stmt
                .columns()
                .iter()
                .map(|c| format!("q.\"{}\"::text", c.name()))
                .collect();
            let wrapped = format!("SELECT {} FROM ({sql}) AS q", casts.join(", "));
            let mut rows: Vec<Vec<String>> = self
                .client
                .query(&wrapped, &[])
                .unwrap()
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| norm(r.get::<_, Option<String>>(i)))
                        .collect()
                })
                .collect();
            rows.sort();
            rows
        }

        pub fn exec(&mut self, sql: &str) {
            self.client
                .batch_execute(&format!("SET search_path TO {}; {sql}", self.schema))
                .unwrap();
        }
    }

    /// Every data table and view of the remote equals the local database row by row, the
    /// native `ts` matches the text key, and the cursor is at the local change counter.
    pub fn assert_converged(env: &TestEnv, remote: &mut Remote) {
        for t in seh::store::catalogue::DATA_TABLES {
            let sql = format!("SELECT {} FROM {}", pushed_columns(t), t.name);
            let local = local_rows(env, &sql);
            assert_eq!(local, remote.rows(&sql), "{}", t.name);
            if t.time_series {
                let off = remote.rows(&format!(
                    "SELECT COUNT(*) FROM {} WHERE to_char(ts AT TIME ZONE 'UTC', \
                     'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') <> ts_utc",
                    t.name
                ));
                assert_eq!(off, vec![vec![norm(Some("0".into()))]], "{}.ts", t.name);
            }
        }
        for v in VIEWS {
            let sql = view_query(v);
            assert_eq!(local_rows(env, &sql), remote.rows(&sql), "{v}");
        }
    }
}

#[cfg(feature = "mysql")]
mod my {
    use super::*;
    use mysql::prelude::Queryable;
    use mysql::{Conn, Opts};

    pub struct Remote {
        pub url: String,
        pub db: String,
        conn: Conn,
    }

    impl Drop for Remote {
        fn drop(&mut self) {
            let _ = self
                .conn
                .query_drop(format!("DROP DATABASE IF EXISTS {}", self.db));
        }
    }

    impl Remote {
        pub fn new(tag: &str) -> Option<Remote> {
            let base = server("SEH_TEST_MYSQL_URL")?;
            let mut conn = Conn::new(Opts::from_url(&base).expect("SEH_TEST_MYSQL_URL parses"))
                .expect("SEH_TEST_MYSQL_URL connects");
            let db = unique(tag);
            conn.query_drop(format!("CREATE DATABASE {db}")).unwrap();
            conn.query_drop(format!("USE {db}")).unwrap();
            // The same server and user, the test's own database.
            let root = base.rsplit_once('/').map_or(base.as_str(), |(r, _)| r);
            Some(Remote {
                url: format!("{root}/{db}"),
                db,
                conn,
            })
        }

        pub fn entry(&self, name: &str, extra: &str) -> String {
            format!(
                "[[push]]\nname = {name:?}\nkind = \"mysql\"\nurl = {:?}\n{extra}\n",
                self.url
            )
        }

        /// Rows of `sql`, every column as text (the text protocol), [`norm`]ed.
        pub fn rows(&mut self, sql: &str) -> Vec<Vec<String>> {
            let result: Vec<mysql::Row> = self.conn.query(sql).unwrap();
            let mut rows: Vec<Vec<String>> = result
                .into_iter()
                .map(|r| {
                    r.unwrap()
                        .into_iter()
                        .map(|v| {
                            norm(match v {
                                mysql::Value::NULL => None,
                                mysql::Value::Bytes(b) => {
                                    Some(String::from_utf8_lossy(&b).into_owned())
                                }
                                other => Some(other.as_sql(true)),
                            })
                        })
                        .collect()
                })
                .collect();
            rows.sort();
            rows
        }

        pub fn exec(&mut self, sql: &str) {
            self.conn.query_drop(sql).unwrap();
        }
    }

    pub fn assert_converged(env: &TestEnv, remote: &mut Remote) {
        for t in seh::store::catalogue::DATA_TABLES {
            let sql = format!("SELECT {} FROM {}", pushed_columns(t), t.name);
            assert_eq!(local_rows(env, &sql), remote.rows(&sql), "{}", t.name);
            if t.time_series {
                let off = remote.rows(&format!(
                    "SELECT COUNT(*) FROM {} WHERE DATE_FORMAT(ts, '%Y-%m-%dT%H:%i:%sZ') <> ts_utc",
                    t.name
                ));
                assert_eq!(off, vec![vec![norm(Some("0".into()))]], "{}.ts", t.name);
            }
        }
        for v in VIEWS {
            let sql = view_query(v);
            assert_eq!(local_rows(env, &sql), remote.rows(&sql), "{v}");
        }
    }
}

/// The local change counter and the remote cursors of this source.
#[allow(dead_code)]
fn local_seq(env: &TestEnv) -> i64 {
    env.conn()
        .query_row("SELECT seq FROM seh_change_counter", [], |r| r.get(0))
        .unwrap()
}

/// The rows line of `seh push`'s output: `push NAME: N rows of ...` → N.
#[allow(dead_code)]
fn pushed_rows(out: &Out) -> u64 {
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("push "))
        .unwrap_or_else(|| panic!("no push line\n{out}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_after_sync_equals_local_then_only_changes() {
    let Some(mut remote) = pg::Remote::new("sync") else {
        return;
    };
    let env = TestEnv::new();
    append_config(&env, &remote.entry("central", ""));
    let out = env.sync_ok();
    assert!(out.stderr.contains("push central:"), "{out}");
    pg::assert_converged(&env, &mut remote);
    // Nothing changed: nothing to push.
    assert_eq!(pushed_rows(env.seh(&["push"]).expect(0)), 0);
    // Two hours later, a sync changes some rows; only those go out.
    env.pass_time(chrono::Duration::hours(2), &[&env.db]);
    let before = local_seq(&env);
    let second = env.sync_ok();
    pg::assert_converged(&env, &mut remote);
    let changed: i64 = seh::store::catalogue::DATA_TABLES
        .iter()
        .map(|t| count_where(&env.conn(), t.name, &format!("change_seq > {before}")))
        .sum();
    let total: i64 = seh::store::catalogue::DATA_TABLES
        .iter()
        .map(|t| count(&env.conn(), t.name))
        .sum();
    assert!(changed > 0 && changed < total, "{changed} of {total}");
    let line = second
        .stderr
        .lines()
        .find(|l| l.contains("push central:"))
        .unwrap_or_else(|| panic!("{second}"));
    assert!(
        line.contains(&format!(": {changed} rows ")),
        "{changed}: {line}"
    );
    // `--full` pushes everything again, harmlessly.
    let full = env.seh(&["push", "--full"]);
    assert_eq!(pushed_rows(full.expect(0)), total as u64);
    pg::assert_converged(&env, &mut remote);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_after_sync_equals_local_then_only_changes() {
    let Some(mut remote) = my::Remote::new("sync") else {
        return;
    };
    let env = TestEnv::new();
    append_config(&env, &remote.entry("central", ""));
    let out = env.sync_ok();
    assert!(out.stderr.contains("push central:"), "{out}");
    my::assert_converged(&env, &mut remote);
    assert_eq!(pushed_rows(env.seh(&["push"]).expect(0)), 0);
    env.pass_time(chrono::Duration::hours(2), &[&env.db]);
    env.sync_ok();
    my::assert_converged(&env, &mut remote);
}

/// `kill -9` at seeded moments of a push, then a push to the end: the remote equals the
/// local database, nothing lost or doubled (keys would refuse doubles; the cursor and
/// row comparison find losses).
#[cfg(any(feature = "postgres", feature = "mysql"))]
fn kill_and_converge(push_entry: &str, check: &mut dyn FnMut(&TestEnv)) {
    let env = TestEnv::with(
        sim_options(),
        ConfigSpec {
            sync: "initial_days = 20\nsettle_hours = 3\n".into(),
            ..ConfigSpec::default()
        },
    );
    env.sync_ok();
    append_config(&env, push_entry);
    let mut rng = crate::common::Rng::new(13);
    let mut interrupted = 0;
    for _ in 0..5 {
        let child = env.spawn(&["push"]);
        std::thread::sleep(std::time::Duration::from_millis(rng.below(400) + 20));
        crate::common::signal(&child, "KILL");
        // `seh push` prints its summary only at the end: no line, killed mid-way.
        let out = wait_out(child, &["push"]);
        if !out.stdout.contains("push central:") {
            interrupted += 1;
        }
    }
    assert!(interrupted > 0, "no kill landed before the push ended");
    env.seh(&["push"]).expect(0);
    check(&env);
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_kill_9_during_push_converges() {
    let Some(mut remote) = pg::Remote::new("kill") else {
        return;
    };
    let entry = remote.entry("central", "after_sync = false");
    kill_and_converge(&entry, &mut |env| pg::assert_converged(env, &mut remote));
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_kill_9_during_push_converges() {
    let Some(mut remote) = my::Remote::new("kill") else {
        return;
    };
    let entry = remote.entry("central", "after_sync = false");
    kill_and_converge(&entry, &mut |env| my::assert_converged(env, &mut remote));
}

/// Two Pis harvesting different sites push into one database: each site's rows equal
/// its source's, side by side, with a cursor per source.
#[cfg(feature = "postgres")]
#[test]
fn postgres_two_sources_into_one_remote() {
    let Some(mut remote) = pg::Remote::new("two") else {
        return;
    };
    let a = TestEnv::new();
    let b = TestEnv::new();
    append_config(&a, &format!("[sites]\ninclude = [{}]\n", 2150001));
    append_config(&b, &format!("[sites]\ninclude = [{}]\n", 3150002));
    for env in [&a, &b] {
        append_config(env, &remote.entry("central", ""));
        env.sync_ok();
    }
    // The other source may have pushed a site's row later (from the site list, which it
    // also reads): the values merge under the null rule, `updated_at` is the last writer's.
    for (env, site) in [(&a, 2150001), (&b, 3150002)] {
        for t in seh::store::catalogue::DATA_TABLES {
            let cols: Vec<&str> = seh::store::feed_columns(t)
                .iter()
                .map(|c| c.name)
                .filter(|n| *n != "updated_at")
                .collect();
            let cols = cols.join(", ");
            let sql = format!("SELECT {cols} FROM {} WHERE site_id = {site}", t.name);
            assert_eq!(
                local_rows(env, &sql),
                remote.rows(&sql),
                "{} {site}",
                t.name
            );
        }
    }
    let sources = remote.rows("SELECT COUNT(DISTINCT source_id) FROM seh_push_cursor");
    assert_eq!(sources, vec![vec![norm(Some("2".into()))]]);
}

/// `tls = "require"` talks TLS to the local server (which has it on); `verify-full`
/// against the public roots refuses its self-signed certificate in one line, exit 1.
#[cfg(feature = "postgres")]
#[test]
fn postgres_tls_require_and_verify_full() {
    let Some(mut remote) = pg::Remote::new("tls") else {
        return;
    };
    let env = TestEnv::new();
    env.sync_ok();
    append_config(&env, &remote.entry("tls", "tls = \"require\""));
    env.seh(&["push"]).expect(0);
    pg::assert_converged(&env, &mut remote);
    append_config(&env, &remote.entry("strict", "tls = \"verify-full\""));
    let out = env.seh(&["push", "--to", "strict"]);
    out.expect(1);
    let line = out.stderr.trim();
    assert_eq!(line.lines().count(), 1, "{out}");
    assert!(
        line.contains("pusher strict") && line.contains("TLS failed"),
        "{out}"
    );
}

/// Bad input, one line each with the pusher's name, never the password.
#[cfg(feature = "postgres")]
#[test]
fn postgres_bad_input_one_line_each() {
    let Some(mut remote) = pg::Remote::new("bad") else {
        return;
    };
    let env = TestEnv::new();
    env.sync_ok();
    let base = std::fs::read_to_string(&env.config).unwrap();
    let with = |entry: &str| {
        std::fs::write(&env.config, format!("{base}\n{entry}")).unwrap();
    };
    let one_line = |out: &Out, code: i32, name: &str, what: &str| {
        out.expect(code);
        let err = out.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{out}");
        assert!(err.contains(name) && err.contains(what), "{out}");
        assert!(!out.all().contains("hunter2"), "{out}");
    };
    with("[[push]]\nname = \"x\"\nkind = \"oracle\"\nurl = \"postgres://u@h/d\"\n");
    one_line(&env.seh(&["push"]), 2, "push.x.kind", "must be");
    with("[[push]]\nname = \"down\"\nkind = \"postgres\"\nurl = \"postgres://seh:hunter2@127.0.0.1:1/x\"\n");
    one_line(&env.seh(&["push"]), 1, "pusher down", "cannot connect");
    with("[[push]]\nname = \"who\"\nkind = \"postgres\"\nurl = \"postgres://nosuchuser:hunter2@127.0.0.1:5432/test\"\n");
    one_line(&env.seh(&["push"]), 1, "pusher who", "refused the login");
    with("[[push]]\nname = \"nodb\"\nkind = \"postgres\"\nurl = \"postgres://postgres:hunter2@127.0.0.1:5432/seh_no_such_db\"\n");
    one_line(
        &env.seh(&["push"]),
        1,
        "pusher nodb",
        "database does not exist",
    );
    // A remote written by a newer seh.
    with(&remote.entry("central", ""));
    env.seh(&["push", "--init"]).expect(0);
    remote.exec("UPDATE seh_push_schema SET version = 99");
    one_line(&env.seh(&["push"]), 1, "pusher central", "version 99");
    // A table someone altered: the failing chunk rolls back, cursor included.
    remote
        .exec("UPDATE seh_push_schema SET version = 1; ALTER TABLE seh_power DROP COLUMN api_unit");
    one_line(
        &env.seh(&["push"]),
        1,
        "pusher central",
        "seh_power (column",
    );
    let cursor = remote.rows("SELECT COUNT(*) FROM seh_push_cursor WHERE table_name = 'seh_power'");
    assert_eq!(cursor, vec![vec![norm(Some("0".into()))]]);
    assert_eq!(remote.rows("SELECT COUNT(*) FROM seh_power"), cursor);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_bad_input_one_line_each() {
    let Some(mut remote) = my::Remote::new("bad") else {
        return;
    };
    let env = TestEnv::new();
    env.sync_ok();
    let base = std::fs::read_to_string(&env.config).unwrap();
    let with = |entry: &str| {
        std::fs::write(&env.config, format!("{base}\n{entry}")).unwrap();
    };
    let one_line = |out: &Out, code: i32, name: &str, what: &str| {
        out.expect(code);
        let err = out.stderr.trim();
        assert_eq!(err.lines().count(), 1, "{out}");
        assert!(err.contains(name) && err.contains(what), "{out}");
        assert!(!out.all().contains("hunter2"), "{out}");
    };
    with("[[push]]\nname = \"down\"\nkind = \"mysql\"\nurl = \"mysql://seh:hunter2@127.0.0.1:1/x\"\ntls = \"disable\"\n");
    one_line(&env.seh(&["push"]), 1, "pusher down", "cannot connect");
    with("[[push]]\nname = \"who\"\nkind = \"mysql\"\nurl = \"mysql://nosuchuser:hunter2@127.0.0.1:3306/x\"\n");
    one_line(&env.seh(&["push"]), 1, "pusher who", "refused the login");
    with("[[push]]\nname = \"nodb\"\nkind = \"mysql\"\nurl = \"mysql://root@127.0.0.1:3306/seh_no_such_db\"\n");
    one_line(
        &env.seh(&["push"]),
        1,
        "pusher nodb",
        "database does not exist",
    );
    with(&remote.entry("central", ""));
    env.seh(&["push", "--init"]).expect(0);
    remote.exec("UPDATE seh_push_schema SET version = 99");
    one_line(&env.seh(&["push"]), 1, "pusher central", "version 99");
}

/// A binary without a pusher's feature says so in one line (exit 2); the harvest it ran
/// after is kept.
#[cfg(not(all(feature = "postgres", feature = "mysql")))]
#[test]
fn a_pusher_without_its_feature_says_so() {
    let env = TestEnv::new();
    let kind = if cfg!(feature = "postgres") {
        "mysql"
    } else {
        "postgres"
    };
    append_config(
        &env,
        &format!("[[push]]\nname = \"c\"\nkind = \"{kind}\"\nurl = \"{kind}://u@127.0.0.1/d\"\n"),
    );
    let out = env.seh(&["sync"]);
    out.expect(2);
    assert!(out.stderr.contains("built without the"), "{out}");
    assert!(count(&env.conn(), "seh_energy") > 0);
}
