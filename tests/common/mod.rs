//! What both integration harnesses (`tests/it`, `tests/it_oauth`) need alike: the
//! simulator's default fleet, running the real `seh` binary and collecting its output,
//! signals, rendering database rows for comparison, a seeded generator, and moving seh's
//! stored clock anchor. Each harness re-exports this module and adds its own environment.

#![allow(dead_code)]

pub mod webhook;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The simulator's default Fleet key.
pub const KEY: &str = "sim-fleet-key";
pub const BERLIN: i64 = 2_150_001;
pub const SYDNEY: i64 = 3_150_002;
pub const DENVER: i64 = 4_150_003;
pub const LISBON: i64 = 5_150_004;

/// One finished `seh` invocation.
#[derive(Debug)]
pub struct Out {
    pub args: Vec<String>,
    /// The exit code, or `-signal` when a signal ended the process.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: std::time::Duration,
}

impl Out {
    /// Asserts the exit code; on failure prints args, code, stdout and stderr.
    pub fn expect(&self, code: i32) -> &Out {
        assert_eq!(self.code, code, "unexpected exit code\n{self}");
        self
    }

    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- seh {} -> exit {} in {:.1} s\n--- stdout:\n{}\n--- stderr:\n{}\n---",
            self.args.join(" "),
            self.code,
            self.elapsed.as_secs_f64(),
            self.stdout,
            self.stderr
        )
    }
}

/// Waits for a spawned `seh` (killing it after `timeout`) and collects its output. `head`
/// is the part of stdout a caller already took (e.g. a reader of the lines after the
/// consent URL); it goes in front.
pub fn wait_out_within(
    mut child: Child,
    args: &[&str],
    timeout: std::time::Duration,
    head: Option<std::thread::JoinHandle<String>>,
) -> Out {
    let started = std::time::Instant::now();
    let so = child.stdout.take();
    let mut se = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(mut so) = so {
            let _ = so.read_to_string(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let st = child.wait().expect("wait");
            let stderr = t_err.join().unwrap_or_default();
            panic!(
                "seh {} did not finish within {timeout:?} ({st:?}); stderr:\n{stderr}",
                args.join(" "),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let mut stdout = t_out.join().unwrap_or_default();
    if let Some(head) = head {
        stdout = format!(
            "(consent URL line)\n{}{stdout}",
            head.join().unwrap_or_default()
        );
    }
    Out {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: exit_code(&status),
        stdout,
        stderr: t_err.join().unwrap_or_default(),
        elapsed: started.elapsed(),
    }
}

pub fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| -status.signal().unwrap_or(0))
}

/// Sends a signal with the shell's built-in `kill`: `/bin/sh` is on every system that runs
/// these tests, `kill(1)` (procps) is not (the minimal ARM test chroot lacks it).
pub fn signal(child: &Child, sig: &str) {
    let st = Command::new("sh")
        .args(["-c", "kill -s \"$1\" \"$2\"", "sh", sig])
        .arg(child.id().to_string())
        .status()
        .expect("sh runs");
    assert!(st.success(), "kill -{sig} failed");
}

// ----- database comparison -----------------------------------------------------------

pub fn open_db(path: &Path) -> Connection {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    c
}

fn columns(c: &Connection, table: &str) -> Vec<String> {
    let mut st = c
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn render(v: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef::*;
    match v {
        Null => "NULL".into(),
        Integer(i) => i.to_string(),
        Real(f) => format!("{f:?}"),
        Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        Blob(b) => format!("blob:{}:{:016x}", b.len(), fnv(b)),
    }
}

pub fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Every row of `table` without `skip` columns, rendered and sorted.
pub fn dump_without(c: &Connection, table: &str, skip: &[&str]) -> Vec<String> {
    let cols: Vec<String> = columns(c, table)
        .into_iter()
        .filter(|n| !skip.contains(&n.as_str()))
        .collect();
    let sql = format!("SELECT {} FROM {table}", cols.join(", "));
    let mut st = c.prepare(&sql).unwrap();
    let n = cols.len();
    let mut rows: Vec<String> = st
        .query_map([], |r| {
            let mut parts = Vec::with_capacity(n);
            for (i, col) in cols.iter().enumerate() {
                parts.push(format!("{col}={}", render(r.get_ref(i)?)));
            }
            Ok(parts.join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.sort();
    rows
}

/// The first column of every row `sql` returns, as text.
pub fn strings(c: &Connection, sql: &str) -> Vec<String> {
    c.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// A data table without the bookkeeping columns (`updated_at`, `change_seq`).
pub fn dump(c: &Connection, table: &str) -> Vec<String> {
    dump_without(c, table, &["updated_at", "change_seq"])
}

/// A small deterministic generator for test randomness (seeded, so failures replay).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Moves the local half of seh's stored (server, local) clock anchor back by `d`, as if
/// the last run had been `d` of real time ago (a frozen or jumped simulator clock does
/// not move the local clock). Nothing to do before the first run.
pub fn rewind_clock_anchor(db: &Path, d: Duration) {
    if !db.exists() {
        return;
    }
    let c = open_db(db);
    let extra: Option<String> = c
        .query_row(
            "SELECT extra FROM seh_sync_state WHERE site_id = 0 AND family = 'clock'",
            [],
            |r| r.get(0),
        )
        .ok()
        .flatten();
    let Some(extra) = extra else { return };
    let mut v: Value = serde_json::from_str(&extra).expect("clock anchor JSON");
    if let Some(local) = v["local"].as_str() {
        // {"server": T, "local": T}
        let local = DateTime::parse_from_rfc3339(local)
            .unwrap()
            .with_timezone(&Utc);
        v["local"] = (local - d)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            .into();
    } else if let Some(off) = v["offset_secs"].as_i64() {
        // {"offset_secs": server minus local}
        v["offset_secs"] = (off + d.num_seconds()).into();
    } else {
        panic!("unknown clock anchor {extra}");
    }
    c.execute(
        "UPDATE seh_sync_state SET extra = ?1 WHERE site_id = 0 AND family = 'clock'",
        [v.to_string()],
    )
    .unwrap();
}

// ----- a small disk --------------------------------------------------------------------

/// A small tmpfs mounted for one test (root only), unmounted on drop.
pub struct SmallDisk {
    pub dir: PathBuf,
}

impl SmallDisk {
    pub fn mount(dir: PathBuf, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(SmallDisk { dir })
    }

    /// Fills what is left with one file, `filler`; removing it frees the space again.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.sync_all();
        path
    }

    /// Remounts the disk read-only, as the kernel does with an SD card that fails.
    pub fn read_only(&self) {
        self.remount("remount,ro");
    }

    pub fn writable(&self) {
        self.remount("remount,rw");
    }

    fn remount(&self, options: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", options])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(st.success(), "mount -o {options} {}", self.dir.display());
    }

    pub fn grow(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .unwrap();
        assert!(st.success(), "remount {}", self.dir.display());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}
