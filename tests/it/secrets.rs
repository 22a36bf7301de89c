//! The API key never appears in any output (at trace level, which shows each request and
//! response in detail), in `status`, nor anywhere in the database: not in the file bytes,
//! the decompressed raw archive, the call ledger or the recorded errors.

use crate::harness::*;
use flate2::read::GzDecoder;
use std::io::Read;

const SECRET: &str = "sk-TEST-SECRET-12345";
/// A rejected key must not leak either.
const WRONG: &str = "sk-TEST-WRONG-67890";

fn assert_clean(out: &Out) {
    for s in [SECRET, WRONG] {
        assert!(
            !out.all().contains(s),
            "the key {s} appears in the output\n{out}"
        );
    }
}

fn has_trace(out: &Out, text: &str) -> bool {
    out.stderr
        .lines()
        .any(|l| l.starts_with("[TRACE]") && l.contains(text))
}

/// The same command at `-vv` and at `-v`: the trace run shows what the debug run does and
/// more (each request sent, each response's status, content type, size, rate headers and
/// server date, the limiter's decision); the debug run shows no trace record.
fn trace_adds_to_debug(trace: &Out, debug: &Out) {
    assert!(
        !debug.stderr.contains("[TRACE]") && debug.stderr.contains("[DEBUG] GET /sites"),
        "-v prints debug records only\n{debug}"
    );
    assert!(trace.stderr.contains("[DEBUG] GET /sites"), "{trace}");
    for text in [
        "GET /sites?",
        "GET /sites: status 200, content-type application/json",
        "rate limit",
        "server date",
        "minute limiter: call allowed",
    ] {
        assert!(
            has_trace(trace, text),
            "no trace record with {text:?}\n{trace}"
        );
    }
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn the_key_never_appears_in_output_or_database() {
    let mut opts = sim_options();
    opts.api_keys = vec![SECRET.to_string()];
    let env = TestEnv::with(
        opts,
        ConfigSpec {
            key: Some(SECRET.into()),
            api: "max_retries = 1\n".into(),
            ..ConfigSpec::default()
        },
    );
    // Trace level: `-vv` (src/main.rs spells the cluster out) or `-v -v`.
    let mut outs = vec![
        env.seh(&["-vv", "check"]),
        env.seh(&["-v", "-v", "sync"]),
        env.seh(&["-v", "-v", "sync"]),
        env.seh(&["-v", "check"]),
    ];
    for out in &outs {
        out.expect(0);
    }
    trace_adds_to_debug(&outs[0], &outs[3]);
    assert!(
        has_trace(&outs[1], "database: committed a write transaction of"),
        "commit sizes at trace level\n{}",
        outs[1]
    );
    // A failing family, a retried 503 and an unusable body, at trace level.
    env.add_fault("*/sites/2150001/power=500");
    env.add_fault("*/sites/3150002/energy=503,nth=1");
    env.add_fault("*/sites/4150003/inverters/telemetry=content-type");
    outs.push(env.seh(&[
        "-v",
        "-v",
        "sync",
        "--full",
        "--only",
        "power,energy,inverter_telemetry",
        "--sites",
        "2150001,3150002,4150003",
    ]));
    env.clear_faults();
    outs.last().unwrap().expect(1);
    outs.push(env.seh(&["-v", "-v", "status"]));
    outs.push(env.seh(&["-v", "-v", "status", "--json"]));
    outs.push(env.seh(&["-v", "-v", "reprocess"]));
    // The key from the environment instead of the file.
    outs.push(env.seh_env(&["-v", "-v", "sync"], &[("SEH_API_KEY", SECRET)]));
    // A rejected key, and a V1 URL.
    env.write_config(&ConfigSpec {
        key: Some(WRONG.into()),
        ..ConfigSpec::default()
    });
    outs.push(env.seh(&["-v", "-v", "sync"]));
    outs.last().unwrap().expect(2);
    outs.push(env.seh(&["-v", "-v", "check"]));
    env.write_config(&ConfigSpec {
        key: Some(SECRET.into()),
        base_url: Some(format!("{}/site/2150001", env.url)),
        ..ConfigSpec::default()
    });
    outs.push(env.seh(&["-v", "-v", "sync"]));
    outs.last().unwrap().expect(2);
    for out in &outs {
        assert_clean(out);
    }
    // Trace output did show requests, so the check above looked at something.
    assert!(
        outs[1].stderr.contains("/sites/2150001/energy"),
        "{}",
        outs[1]
    );

    // The database file and its WAL, byte for byte.
    for suffix in ["", "-wal", "-shm"] {
        let p = env.path(&format!("seh.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&p) {
            for s in [SECRET, WRONG] {
                assert!(!contains(&bytes, s), "{s} in {}", p.display());
            }
        }
    }
    // Every table as text, and every archived body decompressed.
    let c = env.conn();
    let tables: Vec<String> = strings(&c, "SELECT name FROM sqlite_master WHERE type = 'table'");
    for t in &tables {
        for row in dump_without(&c, t, &[]) {
            for s in [SECRET, WRONG] {
                assert!(!row.contains(s), "{s} in {t}: {row}");
            }
        }
    }
    let mut st = c
        .prepare("SELECT id, body_gz FROM seh_raw_responses")
        .unwrap();
    let bodies: Vec<(i64, Vec<u8>)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(bodies.len() > 50);
    for (id, gz) in bodies {
        let mut body = Vec::new();
        GzDecoder::new(&gz[..]).read_to_end(&mut body).unwrap();
        for s in [SECRET, WRONG] {
            assert!(!contains(&body, s), "{s} in raw response {id}");
        }
    }
    // The ledger names the credential only by a non-secret label.
    let labels: Vec<String> = strings(&c, "SELECT DISTINCT credential FROM seh_api_calls");
    assert!(!labels.is_empty());
    for l in labels {
        assert!(!l.contains(&SECRET[..8]) && !l.contains(&WRONG[..8]), "{l}");
    }
}
