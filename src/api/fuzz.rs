//! Fuzz and property tests for every parser of text seh does not control: each family's
//! response body, problem and OAuth bodies, the `Retry-After`, `Date` and `x-ratelimit-*`
//! headers with the status classification, timestamps (and the bucket arithmetic on what
//! they yield), units, and the config loader. It lives under `api` so the private parsers
//! (`classify`, `parse_retry_after`, `json`) need not become public; test-only, no IO
//! except the config loader's own reads of files the text names.
//!
//! No fuzzing crate: a seeded SplitMix64 mutates seed corpora (the unit tests' bodies and
//! what the in-process simulator answers) byte-wise and JSON-wise, and generates JSON from
//! the wire shapes. Every input is checked under `catch_unwind`; a panic (a crash, or a
//! failed property) is minimised and reported with the seed. Inputs are bounded in size, so
//! a hang would show as a test that never ends; nothing is timed. `SEH_FUZZ_ITERS` sets the
//! inputs per target (default small, for the suite), `SEH_FUZZ_SEED` the seed (default
//! fixed, so the suite is deterministic); `scripts/fuzz` runs a long release build.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Once, OnceLock};
use std::time::{Duration as StdDuration, Instant, SystemTime};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, Offset, SecondsFormat, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde_json::{json, Map, Value};

use super::client::secs_to_minute_boundary;
use super::error::{classify, parse_http_date, parse_retry_after, rate_info, Raw, Verdict};
use super::{
    alerts, benefits, devices, encode_component, json as fields, oauth, overview, power_flow,
    problem, series, sites, telemetry, time, units, Error, Limiter, RateInfo,
};
use crate::config::{self, Env};
use crate::model::{Resolution, TelemetryKind};

/// Inputs per target in the default suite: enough to exercise every mutator on every
/// seed, small enough that all targets together stay within seconds in a debug build.
const DEFAULT_ITERS: u64 = 1_000;

/// Fixed, so the suite is deterministic; `SEH_FUZZ_SEED` explores elsewhere.
const DEFAULT_SEED: u64 = 0x5EED_F022_2026_0010;

/// Largest input in bytes. Response bodies can be megabytes, but the parsers are linear;
/// larger inputs would only slow the loop down.
const MAX_INPUT: usize = 64 * 1024;

/// Most candidates the minimiser tries before reporting what it has.
const MINIMISE_TRIES: usize = 3_000;

// ---------------------------------------------------------------------------------------------
// Budget

/// `(inputs per target, seed)` from `SEH_FUZZ_ITERS` / `SEH_FUZZ_SEED` (decimal or 0x-hex).
fn budget() -> (u64, u64) {
    let read = |name: &str, default: u64| match std::env::var(name) {
        Err(_) => default,
        Ok(v) => {
            let v = v.trim().replace('_', "");
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
        }
    };
    (
        read("SEH_FUZZ_ITERS", DEFAULT_ITERS),
        read("SEH_FUZZ_SEED", DEFAULT_SEED),
    )
}

// ---------------------------------------------------------------------------------------------
// Generator

/// SplitMix64: tiny, fast, and good enough to drive mutations.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// FNV-1a, to give every target its own stream from the one seed.
fn hash(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// Timestamps that are odd but shaped like the real thing.
const ODD_TIMESTAMPS: &[&str] = &[
    "2026-02-30T25:61:00+14:59",
    "2024-02-29T00:00:00Z",
    "2023-02-29T12:00:00Z",
    "0000-01-01T00:00:00Z",
    "0000-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999999-23:59",
    "9999-12-31T23:59:60Z",
    "2026-10-25T02:30:00+01:00:30",
    "2026-01-01T00:00:60Z",
    "2026-01-01t00:00:00z",
    "2026-01-01 00:00:00+00:00",
    "2026-01-01T00:00:00.0000000000001Z",
    "2026-01-01T00:00:00,5Z",
    "2026-01-01T00:00:00-00:00",
    "+002026-01-01T00:00:00Z",
    "2026-1-1T0:0:0Z",
    "2026-01-01T00:00:00+24:00",
    "2026-01-01T00:00Z",
    "1969-12-31T23:59:59.999999999Z",
    "2026-03-29T02:30:00+01:00",
    "2026-08-24T17:05:45.016061916+01:00",
];

/// Byte strings worth splicing into any text input.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"false",
    b"0",
    b"-0",
    b"-1",
    b"1e309",
    b"-1e309",
    b"1e-400",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"\"NaN\"",
    b"\"Infinity\"",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"9223372036854775807",
    b"4294967296",
    b"0.1e1",
    b"\"\"",
    b"{}",
    b"[]",
    b"[[[[[[[[[[[[[[[[",
    b"{\"a\":",
    b"\"\\u0000\"",
    b"\"\\ud800\"",
    b"\"\\uDFFF\"",
    b"\\",
    b"\"",
    b",",
    b":",
    "\u{FFFD}".as_bytes(),
    "\u{1F600}".as_bytes(),
    "\u{202E}".as_bytes(),
    b"\xff\xfe",
    b"\xc3",
    b"\r\n",
    b"\t",
    b"+14:59",
    b"Z",
    b".999999999999",
    b"T",
    b":60",
    b"nan",
    b"inf",
    b"-inf",
    b"1_000",
    b"0x10",
    b"[[x]]",
    b"= ",
    b"\n[api]\n",
    b"\n[oauth]\n",
    b"'''",
    b"\"\"\"",
    b"1979-05-27T07:32:00Z",
    b"Wed, 21 Oct 2026 07:28:00 GMT",
    b"credit",
];

/// Names that occur in the wire shapes, so mutations rename fields into other fields.
const KEYS: &[&str] = &[
    "siteId",
    "name",
    "sites",
    "site",
    "count",
    "location",
    "timezone",
    "type",
    "serialNumber",
    "active",
    "period",
    "from",
    "to",
    "unit",
    "resolution",
    "values",
    "timestamp",
    "value",
    "inverters",
    "meters",
    "storage",
    "production",
    "consumption",
    "total",
    "co2Emissions",
    "evMiles",
    "alertId",
    "component",
    "firstTrigger",
    "pv",
    "grid",
    "power",
    "chargeLevel",
    "access_token",
    "refresh_token",
    "expires_in",
    "error",
    "error_description",
    "detail",
    "title",
    "message",
];

/// A JSON value of any type, biased towards the ones parsers mishandle.
fn wild_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => json!(*rng.pick(&[0i64, -1, 1, i64::MIN, i64::MAX, 7, -900])),
        3 => json!(u64::MAX),
        4 => json!(*rng.pick(&[
            1e308,
            -1e308,
            5e-324,
            0.1,
            -0.0,
            9_007_199_254_740_993.0,
            2.5
        ])),
        5 => json!(*rng.pick(&[
            "",
            "NaN",
            "Infinity",
            "-1",
            "1e999",
            "0x10",
            " 12 ",
            "true",
            "TRUE",
            "007",
            "-0",
            "KW",
            "MWH",
            "PERCENTAGE",
            "QUARTER_HOUR",
            "TOTAL",
            "IMPERIAL",
            "METRIC",
        ])),
        6 => json!(*rng.pick(ODD_TIMESTAMPS)),
        7 => json!("x".repeat(rng.below(10_000))),
        8 => json!("\u{0}\u{FFFD}\u{1F600}\u{202E}é\\\"\n"),
        9 if depth < 4 => Value::Array(
            (0..rng.below(4))
                .map(|_| wild_value(rng, depth + 1))
                .collect(),
        ),
        10 if depth < 4 => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(rng.pick(KEYS).to_string(), wild_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        11 => {
            // Deeper than serde_json's recursion limit (128) half of the time.
            let mut v = Value::Null;
            for _ in 0..rng.range(1, 200) {
                v = if rng.one_in(2) {
                    json!([v])
                } else {
                    json!({ "a": v })
                };
            }
            v
        }
        12 => json!(rng.next_u64() as i64),
        _ => json!(f64::from_bits(rng.next_u64()).clamp(-1e300, 1e300)),
    }
}

/// A timestamp-like string: valid RFC 3339 most of the time, every field at or past its
/// limits otherwise (leap days, hour 24/25, second 60, offsets to ±25:61, 0–12 digits).
fn odd_timestamp(rng: &mut Rng) -> String {
    if rng.one_in(8) {
        return rng.pick(ODD_TIMESTAMPS).to_string();
    }
    let odd = rng.one_in(4);
    timestamp(rng, odd)
}

/// A timestamp in a body: nearly always valid, so the rest of the body gets parsed too.
fn body_timestamp(rng: &mut Rng) -> String {
    if rng.one_in(15) {
        odd_timestamp(rng)
    } else {
        timestamp(rng, false)
    }
}

/// Valid RFC 3339 with a quarter-hour offset, or (`odd`) fields past their limits.
fn timestamp(rng: &mut Rng, odd: bool) -> String {
    let year = if rng.one_in(6) {
        *rng.pick(&[0, 1, 1900, 1969, 1970, 2000, 2024, 9999])
    } else {
        rng.range(1990, 2040)
    };
    let (month, day, hour, minute, second) = if odd {
        (
            rng.range(0, 13),
            rng.range(0, 32),
            rng.range(0, 25),
            rng.range(0, 61),
            rng.range(0, 61),
        )
    } else {
        (
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 23),
            rng.range(0, 59),
            rng.range(0, 59),
        )
    };
    let mut s = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if rng.one_in(3) {
        let digits = rng.range(1, 12) as usize;
        s.push('.');
        for _ in 0..digits {
            s.push(char::from(b'0' + rng.below(10) as u8));
        }
    }
    match rng.below(6) {
        0 => s.push('Z'),
        1 if odd => {
            // Offsets with seconds, or past ±24 h.
            let (h, m, sec) = (rng.range(0, 25), rng.range(0, 61), rng.range(0, 61));
            s.push_str(&format!("{}{h:02}:{m:02}:{sec:02}", rng.pick(&["+", "-"])));
        }
        2 if odd => {}
        _ => {
            let quarters = rng.range(-12 * 4, 14 * 4);
            let (h, m) = ((quarters.abs() * 15) / 60, (quarters.abs() * 15) % 60);
            let sign = if quarters < 0 { '-' } else { '+' };
            s.push_str(&format!("{sign}{h:02}:{m:02}"));
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Mutation

/// One byte-level change: flip, overwrite, insert a token, delete, duplicate, truncate or
/// splice with another seed. Non-UTF-8 bytes become U+FFFD later, as ureq's lossy read
/// does with a real body.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>, seeds: &[String]) {
    let len = bytes.len();
    let pos = rng.below(len + 1);
    match rng.below(9) {
        0 if len > 0 => bytes[pos.min(len - 1)] ^= 1 << rng.below(8),
        1 if len > 0 => bytes[pos.min(len - 1)] = rng.next_u64() as u8,
        2 | 3 => {
            let token = rng.pick(TOKENS);
            bytes.splice(pos..pos, token.iter().copied());
        }
        4 => {
            let end = (pos + 1 + rng.below(32)).min(len);
            bytes.drain(pos.min(end)..end);
        }
        5 => {
            let end = (pos + 1 + rng.below(64)).min(len);
            let span = bytes[pos.min(end)..end].to_vec();
            let at = rng.below(len + 1);
            for _ in 0..rng.range(1, 16) {
                bytes.splice(at..at, span.iter().copied());
            }
        }
        6 => bytes.truncate(pos),
        7 => {
            let other = rng.pick(seeds).as_bytes();
            let from = rng.below(other.len() + 1);
            bytes.truncate(pos);
            bytes.extend_from_slice(&other[from..]);
        }
        _ => {
            let c = *rng.pick(b"{}[]\",:0123456789-+.eE \\ntfu");
            bytes.insert(pos, c);
        }
    }
}

/// Number of nodes of a JSON tree.
fn node_count(v: &Value) -> usize {
    1 + match v {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(map) => map.values().map(node_count).sum(),
        _ => 0,
    }
}

/// The `k`-th node in pre-order.
fn nth_node<'a>(v: &'a mut Value, k: &mut usize) -> Option<&'a mut Value> {
    if *k == 0 {
        return Some(v);
    }
    *k -= 1;
    match v {
        Value::Array(items) => items.iter_mut().find_map(|item| nth_node(item, k)),
        Value::Object(map) => map.values_mut().find_map(|item| nth_node(item, k)),
        _ => None,
    }
}

/// A structural change to a JSON text: a node replaced by a value of another type, a key
/// removed, renamed or added, an element repeated or dropped, a node nested deeper.
/// `None` when the text is not JSON.
fn mutate_json(rng: &mut Rng, text: &str) -> Option<String> {
    let mut root: Value = serde_json::from_str(text).ok()?;
    for _ in 0..rng.range(1, 3) {
        let mut k = rng.below(node_count(&root));
        if let Some(node) = nth_node(&mut root, &mut k) {
            mutate_node(rng, node);
        }
    }
    if rng.one_in(4) {
        serde_json::to_string_pretty(&root).ok()
    } else {
        Some(root.to_string())
    }
}

fn mutate_node(rng: &mut Rng, node: &mut Value) {
    match (rng.below(7), node) {
        (0, Value::Object(map)) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            map.remove(&key);
        }
        (1, Value::Object(map)) if !map.is_empty() => {
            let key = map
                .keys()
                .nth(rng.below(map.len()))
                .cloned()
                .unwrap_or_default();
            if let Some(v) = map.remove(&key) {
                map.insert(rng.pick(KEYS).to_string(), v);
            }
        }
        (2, Value::Object(map)) => {
            map.insert(rng.pick(KEYS).to_string(), wild_value(rng, 0));
        }
        (3, Value::Array(items)) if !items.is_empty() => {
            let i = rng.below(items.len());
            let copy = items[i].clone();
            for _ in 0..rng.range(1, 50) {
                items.insert(i, copy.clone());
            }
        }
        (4, Value::Array(items)) if !items.is_empty() => {
            let i = rng.below(items.len());
            items.remove(i);
        }
        (5, node) => {
            let inner = node.take();
            *node = if rng.one_in(2) {
                json!([inner])
            } else {
                json!({ rng.pick(KEYS).to_string(): inner })
            };
        }
        (_, node) => *node = wild_value(rng, 0),
    }
}

// ---------------------------------------------------------------------------------------------
// Structured generation from the wire shapes

/// A wire shape, as far as generation needs it.
#[derive(Clone, Copy)]
enum Shape {
    Obj(&'static [(&'static str, Shape)]),
    Arr(&'static Shape),
    /// An object whose keys are data (device keys, metric names), each value of one shape.
    Map(&'static [&'static str], &'static Shape),
    Ts,
    Id,
    Num,
    Text,
    Bool,
    Unit,
    Res,
    Lit(&'static [&'static str]),
}

const UNITS: &[&str] = &[
    "W",
    "KW",
    "MW",
    "GW",
    "WH",
    "KWH",
    "MWH",
    "GWH",
    "Wh",
    "kWh",
    "VOLT",
    "AMPERE",
    "HERTZ",
    "PERCENTAGE",
    "PERCENTAGE_100",
    "METRIC",
    "furlongs",
    "",
];

const RESOLUTIONS: &[&str] = &[
    "QUARTER_HOUR",
    "HOUR",
    "DAY",
    "WEEK",
    "MONTH",
    "YEAR",
    "TOTAL",
    "FORTNIGHT",
    "day",
    " DAY ",
];

const LOCATION: Shape = Shape::Obj(&[
    ("address", Shape::Text),
    ("city", Shape::Text),
    ("state", Shape::Text),
    ("zip", Shape::Text),
    ("country", Shape::Text),
    (
        "timezone",
        Shape::Lit(&["Europe/Berlin", "Australia/Sydney", "Mars/Olympus", ""]),
    ),
]);
const SITE: Shape = Shape::Obj(&[
    ("siteId", Shape::Id),
    ("name", Shape::Text),
    ("accountId", Shape::Id),
    ("peakPower", Shape::Num),
    ("installationDate", Shape::Ts),
    ("lastUpdateTime", Shape::Ts),
    ("activationStatus", Shape::Lit(&["ACTIVE", "PENDING"])),
    ("note", Shape::Text),
    ("location", LOCATION),
]);
const SITE_LIST: Shape = Shape::Arr(&SITE);
const SITES_WRAPPED: Shape = Shape::Obj(&[(
    "sites",
    Shape::Obj(&[("count", Shape::Id), ("site", SITE_LIST)]),
)]);
const DEVICE: Shape = Shape::Obj(&[
    ("type", Shape::Lit(&devices::ALL_TYPES)),
    ("serialNumber", Shape::Text),
    ("name", Shape::Text),
    ("manufacturer", Shape::Text),
    ("model", Shape::Text),
    ("partNumber", Shape::Text),
    ("firmwareVersion", Shape::Text),
    ("connectedTo", Shape::Text),
    ("connectedToName", Shape::Text),
    ("active", Shape::Bool),
    ("communicationType", Shape::Lit(&["ETHERNET", "CELLULAR"])),
    (
        "meterType",
        Shape::Lit(&["Production", "Consumption", "FeedIn"]),
    ),
    ("createdAt", Shape::Ts),
]);
const DEVICES: Shape = Shape::Arr(&DEVICE);
const PERIOD: Shape = Shape::Obj(&[("from", Shape::Ts), ("to", Shape::Ts)]);
const POINT: Shape = Shape::Obj(&[("timestamp", Shape::Ts), ("value", Shape::Num)]);
const SERIES: Shape = Shape::Obj(&[
    ("unit", Shape::Unit),
    ("resolution", Shape::Res),
    ("values", Shape::Arr(&POINT)),
]);
const ENVELOPE: Shape = Shape::Obj(&[
    ("period", PERIOD),
    ("unit", Shape::Unit),
    ("resolution", Shape::Res),
    ("values", Shape::Arr(&POINT)),
]);
const METRICS: Shape = Shape::Map(
    &[
        "power",
        "energy",
        "voltage",
        "importEnergy",
        "stateOfEnergy",
        "name",
    ],
    &SERIES,
);
const DEVICE_KEYS: &[&str] = &["INV-A", "5118719", "virtual-1", "BATT-1", ""];
const TELEMETRY: Shape = Shape::Obj(&[
    ("period", PERIOD),
    ("resolution", Shape::Res),
    ("unit", Shape::Unit),
    ("inverters", Shape::Map(DEVICE_KEYS, &METRICS)),
    ("meters", Shape::Map(DEVICE_KEYS, &METRICS)),
    ("storage", Shape::Map(DEVICE_KEYS, &METRICS)),
]);
const OVERVIEW: Shape = Shape::Obj(&[
    (
        "production",
        Shape::Obj(&[
            ("total", Shape::Num),
            ("unit", Shape::Unit),
            ("toSelfConsumption", Shape::Num),
            ("toStorage", Shape::Num),
            ("toGrid", Shape::Num),
        ]),
    ),
    (
        "consumption",
        Shape::Obj(&[
            ("total", Shape::Num),
            ("unit", Shape::Unit),
            ("fromPv", Shape::Num),
            ("fromStorage", Shape::Num),
            ("fromGrid", Shape::Num),
        ]),
    ),
    (
        "performance",
        Shape::Obj(&[
            ("specificYield", Shape::Num),
            ("performanceRatio", Shape::Num),
        ]),
    ),
]);
const BENEFITS: Shape = Shape::Obj(&[
    (
        "unit",
        Shape::Lit(&["METRIC", "IMPERIAL", "imperial", "SI"]),
    ),
    ("co2Emissions", Shape::Num),
    ("evMiles", Shape::Num),
    ("treesPlanted", Shape::Num),
]);
const ALERT: Shape = Shape::Obj(&[
    ("alertId", Shape::Id),
    ("siteId", Shape::Id),
    ("type", Shape::Text),
    ("category", Shape::Text),
    ("impact", Shape::Id),
    ("status", Shape::Lit(&["OPEN", "CLOSED"])),
    ("firstTrigger", Shape::Ts),
    ("lastTrigger", Shape::Ts),
    ("firstTriggered", Shape::Ts),
    (
        "component",
        Shape::Obj(&[("name", Shape::Text), ("serialNumber", Shape::Text)]),
    ),
    ("errorCodes", Shape::Arr(&Shape::Id)),
]);
const ALERTS: Shape = Shape::Arr(&ALERT);
const FLOW_NODE: Shape = Shape::Obj(&[
    ("active", Shape::Bool),
    ("power", Shape::Num),
    ("status", Shape::Text),
    ("chargeLevel", Shape::Num),
]);
const POWER_FLOW: Shape = Shape::Obj(&[
    ("updatedAt", Shape::Ts),
    ("unit", Shape::Unit),
    ("pv", FLOW_NODE),
    ("load", FLOW_NODE),
    ("storage", FLOW_NODE),
    ("grid", FLOW_NODE),
]);
const TOKEN: Shape = Shape::Obj(&[
    ("access_token", Shape::Text),
    ("token_type", Shape::Lit(&["Bearer", "bearer"])),
    ("expires_in", Shape::Id),
    ("refresh_token", Shape::Text),
    ("scope", Shape::Text),
]);
const OAUTH_ERROR: Shape = Shape::Obj(&[
    (
        "error",
        Shape::Lit(&[
            "invalid_grant",
            "invalid_client",
            "unsupported_grant_type",
            "",
        ]),
    ),
    ("error_description", Shape::Text),
]);
const PROBLEM: Shape = Shape::Obj(&[
    ("type", Shape::Text),
    ("title", Shape::Text),
    ("status", Shape::Id),
    ("detail", Shape::Text),
    ("traceId", Shape::Text),
    ("message", Shape::Text),
]);

/// A value of `shape`: conforming most of the time, with fields left out, set to null or
/// to a value of another type, and unknown fields added.
fn generate(rng: &mut Rng, shape: &Shape, depth: usize) -> Value {
    if depth > 0 && rng.one_in(25) {
        return wild_value(rng, depth);
    }
    match shape {
        Shape::Obj(fields) => {
            let mut m = Map::new();
            for (key, field) in *fields {
                match rng.below(20) {
                    0 => {}
                    1 => {
                        m.insert(key.to_string(), Value::Null);
                    }
                    _ => {
                        m.insert(key.to_string(), generate(rng, field, depth + 1));
                    }
                }
            }
            if rng.one_in(10) {
                m.insert("futureField".to_string(), wild_value(rng, depth + 1));
            }
            Value::Object(m)
        }
        Shape::Arr(item) => {
            let n = if rng.one_in(20) {
                rng.below(200)
            } else {
                rng.below(6)
            };
            Value::Array((0..n).map(|_| generate(rng, item, depth + 1)).collect())
        }
        Shape::Map(keys, item) => {
            let mut m = Map::new();
            for _ in 0..rng.below(4) {
                m.insert(rng.pick(keys).to_string(), generate(rng, item, depth + 1));
            }
            Value::Object(m)
        }
        Shape::Ts => json!(body_timestamp(rng)),
        Shape::Id => match rng.below(4) {
            0 => json!(rng.range(-5, 10_000_000).to_string()),
            1 => json!(rng.range(0, 10_000_000) as f64),
            _ => json!(rng.range(-5, 10_000_000)),
        },
        Shape::Num => match rng.below(5) {
            0 => Value::Null,
            1 => json!(rng.range(-1000, 100_000).to_string()),
            2 => wild_value(rng, depth),
            _ => json!(rng.range(-1_000_000, 10_000_000) as f64 / 1000.0),
        },
        Shape::Text => match rng.below(4) {
            0 => json!(rng.range(0, 1_000_000)),
            1 => json!(""),
            _ => json!(format!("T{:x}", rng.next_u64())),
        },
        Shape::Bool => match rng.below(4) {
            0 => json!(rng.pick(&["true", "FALSE", "yes"])),
            _ => json!(rng.one_in(2)),
        },
        Shape::Unit => json!(rng.pick(UNITS)),
        Shape::Res => json!(rng.pick(RESOLUTIONS)),
        Shape::Lit(options) => json!(rng.pick(options)),
    }
}

/// A generator for a target: one of `shapes`, as JSON text.
fn from_shapes(shapes: &'static [Shape]) -> impl Fn(&mut Rng) -> String {
    move |rng: &mut Rng| {
        let shape = rng.pick(shapes);
        generate(rng, shape, 0).to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// The harness

thread_local! {
    /// Set while this thread runs fuzz inputs: the panic hook then keeps quiet and leaves
    /// the location here, so thousands of minimisation attempts do not flood stderr.
    static QUIET: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<String> = const { RefCell::new(String::new()) };
}

fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if QUIET.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// One fuzz target: its seeds and how to check one input.
struct Target<'a> {
    name: &'a str,
    /// Seeds the parser must accept unmodified.
    valid: Vec<String>,
    /// Further seeds: bad bodies from the unit tests, and inputs of targets that have no
    /// notion of rejecting (headers, units, error bodies).
    other: Vec<String>,
    /// Generates an input from scratch (the wire shapes), if the target has a shape.
    generate: Option<Generator<'a>>,
}

/// Makes one input from scratch.
type Generator<'a> = Box<dyn Fn(&mut Rng) -> String + 'a>;

/// What a check says about one input: whether the parser accepted it.
type Check<'a> = dyn Fn(&str, u64) -> bool + 'a;

impl Target<'_> {
    fn new(name: &str) -> Target<'_> {
        Target {
            name,
            valid: Vec::new(),
            other: Vec::new(),
            generate: None,
        }
    }

    /// Runs the target's budget of inputs through `check`, which gets the input and a
    /// per-input random value (for choices besides the text, such as a status code). A
    /// panic in `check` fails the test with the minimised input; `check` asserts the
    /// target's properties itself.
    fn run(self, check: &Check<'_>) {
        install_quiet_hook();
        let started = Instant::now();
        let (iters, seed) = budget();
        let mut rng = Rng(seed ^ hash(self.name));
        let seeds: Vec<String> = self.valid.iter().chain(&self.other).cloned().collect();
        assert!(!seeds.is_empty(), "{}: no seeds", self.name);
        let mut inputs = 0u64;
        let mut accepted = 0u64;
        let try_one = |input: &str, aux: u64, inputs: &mut u64| {
            *inputs += 1;
            match outcome(input, aux, check) {
                Ok(ok) => ok,
                Err(message) => {
                    // The prefix stride depends on the count, so both reproduce a run.
                    let run = format!(
                        "fuzz {}: input {} of SEH_FUZZ_SEED={seed:#x} SEH_FUZZ_ITERS={iters}",
                        self.name, *inputs
                    );
                    fail(&run, input, aux, &message, check)
                }
            }
        };

        // Property: the unmodified valid seeds parse.
        for (i, s) in self.valid.iter().enumerate() {
            let ok = try_one(s, 0, &mut inputs);
            assert!(ok, "{}: valid seed {i} was rejected:\n{s}", self.name);
            accepted += 1;
        }
        // Every prefix of every seed (a body cut off anywhere), with a stride that keeps
        // this to about a quarter of the budget; the long run covers every length.
        let total: u64 = seeds.iter().map(|s| s.len() as u64).sum();
        let stride = (total * 4 / iters.max(1)).max(1) as usize;
        for s in &seeds {
            let mut cut = rng.below(stride);
            while cut < s.len() {
                if s.is_char_boundary(cut) {
                    accepted += u64::from(try_one(&s[..cut], rng.next_u64(), &mut inputs));
                }
                cut += stride;
            }
        }
        // Mutations and generated inputs for the rest of the budget.
        while inputs < iters.max(seeds.len() as u64) {
            let input = match &self.generate {
                Some(generate) if rng.one_in(3) => {
                    let mut text = generate(&mut rng);
                    if rng.one_in(3) {
                        let mut bytes = text.into_bytes();
                        mutate_bytes(&mut rng, &mut bytes, &seeds);
                        text = String::from_utf8_lossy(&bytes).into_owned();
                    }
                    text
                }
                _ => mutate(&mut rng, &seeds),
            };
            let input = cap(input);
            accepted += u64::from(try_one(&input, rng.next_u64(), &mut inputs));
        }
        // Reported, never asserted: the time only helps to size the budget.
        eprintln!(
            "fuzz {}: {inputs} inputs, {accepted} accepted, 0 panics, seed {seed:#x}, {:.1} s",
            self.name,
            started.elapsed().as_secs_f64()
        );
    }
}

/// A mutant of one seed: JSON-structural half of the time, then 0–4 byte-level changes.
fn mutate(rng: &mut Rng, seeds: &[String]) -> String {
    let base = rng.pick(seeds);
    let structural = if rng.one_in(2) {
        mutate_json(rng, base)
    } else {
        None
    };
    let rounds = if structural.is_some() {
        rng.below(2)
    } else {
        rng.range(1, 4) as usize
    };
    let mut bytes = structural.unwrap_or_else(|| base.clone()).into_bytes();
    for _ in 0..rounds {
        mutate_bytes(rng, &mut bytes, seeds);
        if bytes.len() > MAX_INPUT {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Cuts an input to [`MAX_INPUT`] bytes (at a char boundary).
fn cap(mut s: String) -> String {
    if s.len() > MAX_INPUT {
        let mut end = MAX_INPUT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Runs one input quietly: `Ok(accepted)`, or `Err(panic message and location)`.
fn outcome(input: &str, aux: u64, check: &Check<'_>) -> Result<bool, String> {
    QUIET.with(|q| q.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| check(input, aux)));
    QUIET.with(|q| q.set(false));
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic".to_string());
        let location = LAST_PANIC.with(|p| p.borrow().clone());
        format!("{message} (at {location})")
    })
}

/// Minimises a panicking input and fails the test with it; `run` says which input of
/// which run it was.
fn fail(run: &str, input: &str, aux: u64, message: &str, check: &Check<'_>) -> ! {
    let small = minimise(input, aux, check);
    let last = outcome(&small, aux, check).err().unwrap_or_default();
    panic!(
        "{run} (aux {aux:#x}) panicked: {message}\nminimised ({} bytes) to {small:?}\n\
         which panics with: {last}",
        small.len()
    );
}

/// Deletes ever smaller chunks of characters while the input still panics (a bounded
/// ddmin): cheap, and usually enough to show the one field that matters.
fn minimise(input: &str, aux: u64, check: &Check<'_>) -> String {
    let mut cur: Vec<char> = input.chars().collect();
    let mut chunk = (cur.len() / 2).max(1);
    let mut tries = 0;
    loop {
        let mut i = 0;
        while i < cur.len() && tries < MINIMISE_TRIES {
            let end = (i + chunk).min(cur.len());
            let candidate: String = cur[..i].iter().chain(&cur[end..]).collect();
            tries += 1;
            if outcome(&candidate, aux, check).is_err() {
                cur = candidate.chars().collect();
            } else {
                i += chunk;
            }
        }
        if chunk == 1 || tries >= MINIMISE_TRIES {
            return cur.into_iter().collect();
        }
        chunk /= 2;
    }
}

// ---------------------------------------------------------------------------------------------
// Seeds from the simulator

/// What the in-process simulator answered, by family, plus every error body and header
/// value it sent: realistic seeds for the shapes the unit tests only sketch.
#[derive(Default)]
struct SimSeeds {
    bodies: BTreeMap<&'static str, Vec<String>>,
    problems: Vec<String>,
    headers: Vec<String>,
}

impl SimSeeds {
    /// The 200 bodies of one family; never empty, so a simulator change that turns them
    /// into errors cannot silently take the realistic seeds away.
    fn family(&self, name: &str) -> Vec<String> {
        let bodies = self.bodies.get(name).cloned().unwrap_or_default();
        assert!(!bodies.is_empty(), "the simulator answered no {name} body");
        bodies
    }
}

/// The simulator's answers, built once for all targets (the app is driven directly, no
/// sockets). Windows are short so seeds stay small and mutations stay fast.
fn sim() -> &'static SimSeeds {
    static SEEDS: OnceLock<SimSeeds> = OnceLock::new();
    SEEDS.get_or_init(collect_sim_seeds)
}

/// Asks a simulator of the default fleet for every family of every site, the OAuth token
/// flow, and a set of errors (bad parameter, foreign site, unknown path, V1 path, no key,
/// both kinds of 429).
fn collect_sim_seeds() -> SimSeeds {
    use seh_sim::app::{App, SimOptions};

    // A frozen clock keeps the bodies the same in every run; limits nothing reaches until
    // the 429s are wanted; Advanced tier, so power flow answers.
    let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let mut opts = SimOptions::new(now);
    opts.speed = 0.0;
    opts.advanced = true;
    opts.limits.per_minute = 1_000_000;
    opts.limits.monthly_credits = 1_000_000_000;
    let app = App::new(opts.clone()).expect("default simulator");
    let mut out = SimSeeds::default();
    let mut ask = |app: &App, method: &str, path: &str, query: Vec<(&str, String)>, body: Value| {
        let resp = sim_call(app, method, &format!("/v2{path}"), query, body);
        for (name, value) in &resp.headers {
            if matches!(
                name.as_str(),
                "retry-after"
                    | "date"
                    | "x-ratelimit-limit-minute"
                    | "x-ratelimit-remaining-minute"
            ) {
                out.headers.push(value.clone());
            }
        }
        let text = String::from_utf8_lossy(&resp.body).into_owned();
        if resp.status >= 400 {
            out.problems.push(text.clone());
        }
        (resp.status, text)
    };

    let (_, list) = ask(
        &app,
        "GET",
        sites::list_path(),
        sites::list_query(1, 100),
        json!({}),
    );
    let site_list = sites::parse_list(&list).expect("simulator site list").0;
    let mut bodies: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut keep = |family: &'static str, (status, body): (u16, String)| {
        if status == 200 {
            bodies.entry(family).or_default().push(body);
        }
    };
    keep("sites", (200, list));
    keep(
        "alerts",
        ask(
            &app,
            "GET",
            alerts::fleet_path(),
            alerts::query(1, 100, None),
            json!({}),
        ),
    );
    let day = now.date_naive();
    // Details make the simulator sum a site's whole life (up to a second per site in a
    // debug build): the last, youngest site shows the shape just as well.
    if let Some(site) = site_list.last() {
        let path = sites::details_path(site.site_id);
        keep("site", ask(&app, "GET", &path, vec![], json!({})));
    }
    for site in &site_list {
        let id = site.site_id;
        let tz: Tz = site
            .location
            .timezone
            .as_deref()
            .and_then(|z| z.parse().ok())
            .unwrap_or(chrono_tz::UTC);
        let q = |res, hours| series::query(now - Duration::hours(hours), now, res, tz, None);
        let devs = ask(&app, "GET", &devices::path(id), devices::query(), json!({}));
        let serials: Vec<(TelemetryKind, String)> = devices::parse(id, &devs.1)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|d| {
                let kind = match d.device_type.as_str() {
                    "INVERTER" => TelemetryKind::Inverter,
                    "METER" => TelemetryKind::Meter,
                    "BATTERY" => TelemetryKind::Storage,
                    _ => return None,
                };
                Some((kind, d.serial_number?))
            })
            .collect();
        keep("devices", devs);
        for (metric, res, hours) in [
            (series::SiteMetric::Energy, Resolution::QuarterHour, 2),
            (series::SiteMetric::Energy, Resolution::Day, 72),
            (series::SiteMetric::Power, Resolution::QuarterHour, 1),
        ] {
            let path = series::path(id, metric);
            keep("series", ask(&app, "GET", &path, q(res, hours), json!({})));
        }
        for kind in [
            TelemetryKind::Inverter,
            TelemetryKind::Meter,
            TelemetryKind::Storage,
        ] {
            let path = telemetry::path(id, kind);
            let query =
                telemetry::query(now - Duration::hours(1), now, Resolution::QuarterHour, tz);
            keep("telemetry", ask(&app, "GET", &path, query, json!({})));
        }
        for (kind, serial) in serials.iter().take(2) {
            let metric = match kind {
                TelemetryKind::Storage => "state-of-energy",
                TelemetryKind::Meter => "import-energy",
                TelemetryKind::Inverter => "power",
            };
            // The per-device metric endpoint, whose answers share the series envelope.
            let path = format!(
                "/sites/{id}/{}/{}/{metric}",
                series::family_segment(*kind),
                encode_component(serial)
            );
            keep(
                "series",
                ask(&app, "GET", &path, q(Resolution::QuarterHour, 1), json!({})),
            );
        }
        keep(
            "overview",
            ask(
                &app,
                "GET",
                &overview::path(id),
                overview::day_query(day, tz),
                json!({}),
            ),
        );
        keep(
            "benefits",
            ask(
                &app,
                "GET",
                &benefits::path(id),
                benefits::query(),
                json!({}),
            ),
        );
        keep(
            "alerts",
            ask(
                &app,
                "GET",
                &alerts::path(id),
                alerts::query(1, 100, None),
                json!({}),
            ),
        );
        keep(
            "power_flow",
            ask(&app, "GET", &power_flow::path(id), vec![], json!({})),
        );
    }

    // Error bodies: bad parameter, unknown site, unknown endpoint, V1 path, no key.
    let first = site_list.first().map_or(1, |s| s.site_id);
    let bad_res = vec![("resolution", "FORTNIGHT".to_string())];
    ask(
        &app,
        "GET",
        &series::path(first, series::SiteMetric::Energy),
        bad_res,
        json!({}),
    );
    ask(&app, "GET", "/sites/1/energy", vec![], json!({}));
    ask(&app, "GET", "/nothing", vec![], json!({}));
    let v1 = sim_call(
        &app,
        "GET",
        &format!("/site/{first}/overview"),
        vec![],
        json!({}),
    );

    // OAuth: consent, code exchange, refresh, and a reused refresh token.
    let consent = sim_call(
        &app,
        "GET",
        "/authorize",
        vec![
            ("client_id", "sim-client".to_string()),
            ("site_id", first.to_string()),
            ("scope", "SITE_DATA DEVICE_DATA".to_string()),
        ],
        json!({}),
    );
    let code = consent
        .headers
        .iter()
        .find(|(k, _)| k == "location")
        .and_then(|(_, loc)| loc.split(['?', '&']).find_map(|p| p.strip_prefix("code=")))
        .unwrap_or("no-code")
        .to_string();
    let token_body = |grant: Value| {
        let mut body = json!({"client_id": "sim-client", "client_secret": "sim-secret"});
        for (k, v) in grant.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        body
    };
    let mut tokens = Vec::new();
    let (_, first_token) = ask(
        &app,
        "POST",
        oauth::TOKEN_PATH,
        vec![],
        token_body(json!({"grant_type": "authorization_code", "code": code})),
    );
    let refresh = oauth::parse_token(&first_token)
        .ok()
        .and_then(|t| t.refresh_token)
        .map(|s| s.expose().to_string())
        .unwrap_or_default();
    tokens.push(first_token);
    let grant = json!({"grant_type": "refresh_token", "refresh_token": refresh});
    tokens.push(
        ask(
            &app,
            "POST",
            oauth::TOKEN_PATH,
            vec![],
            token_body(grant.clone()),
        )
        .1,
    );
    ask(&app, "POST", oauth::TOKEN_PATH, vec![], token_body(grant));
    ask(
        &app,
        "POST",
        oauth::TOKEN_PATH,
        vec![],
        json!({"grant_type": "password"}),
    );
    bodies.insert("token", tokens);

    // 429s: the minute window, then the month's credits.
    let mut tight = opts.clone();
    tight.limits.per_minute = 1;
    let tight = App::new(tight).expect("tight simulator");
    for _ in 0..2 {
        ask(&tight, "GET", sites::list_path(), vec![], json!({}));
    }
    let mut broke = opts;
    broke.limits.monthly_credits = 1;
    let broke = App::new(broke).expect("broke simulator");
    for _ in 0..2 {
        ask(&broke, "GET", sites::list_path(), vec![], json!({}));
    }
    // No key at all.
    let anonymous = sim_call(&app, "GET", "/v2/sites", vec![], json!(null));
    for resp in [v1, anonymous] {
        out.problems
            .push(String::from_utf8_lossy(&resp.body).into_owned());
    }

    out.bodies = bodies;
    out.headers.sort();
    out.headers.dedup();
    out
}

/// One request straight into the simulator's handler (`path` from the server root).
/// `body: null` sends no API key.
fn sim_call(
    app: &seh_sim::app::App,
    method: &str,
    path: &str,
    query: Vec<(&str, String)>,
    body: Value,
) -> seh_sim::http::Response {
    use seh_sim::http::{Reply, Request};
    let mut headers = Vec::new();
    if !body.is_null() && method == "GET" {
        headers.push(("x-api-key".to_string(), "sim-fleet-key".to_string()));
    }
    let req = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
        headers,
        body: if method == "POST" {
            body.to_string().into_bytes()
        } else {
            Vec::new()
        },
        peer: "127.0.0.1:9".parse().expect("socket address"),
    };
    match app.handle(req) {
        Reply::Normal(resp) => resp,
        _ => panic!("simulator without faults answered {method} {path} abnormally"),
    }
}

// ---------------------------------------------------------------------------------------------
// Targets: family bodies

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn fuzz_sites() {
    let mut t = Target::new("sites");
    t.valid = sim().family("sites");
    t.valid.extend(strings(&[
        r#"{"sites":{"count":2,"site":[{"siteId":101,"name":"Barn","peakPower":9.9,"activationStatus":"ACTIVE","installationDate":"2020-05-01T00:00:00Z","location":{"city":"Ulm","country":"Germany","timezone":"Europe/Berlin"},"extra":1},{"siteId":"102","name":null}]}}"#,
        r#"[{"siteId":7,"name":"Roof","note":"","location":{"zip":"80331"}}]"#,
        r#"{"sites":{"count":0}}"#,
        r#"{"sites":[]}"#,
    ]));
    t.other = strings(&["{}", "5", r#"[{"siteId":1,"location":"Ulm"}]"#]);
    t.generate = Some(Box::new(from_shapes(&[SITES_WRAPPED, SITE_LIST])));
    t.run(&|body, _| match sites::parse_list(body) {
        Ok((list, len)) => {
            assert_eq!(list.len(), len, "page length is the number of sites");
            true
        }
        Err(_) => false,
    });
}

#[test]
fn fuzz_site_details() {
    let mut t = Target::new("site details");
    t.valid = sim().family("site");
    t.valid.push(
        r#"{"siteId":55,"name":"Home","accountId":42,"peakPower":7.6,"installationDate":"2021-04-01T00:00:00-05:00","location":{"address":"1 Main St","state":"IL","timezone":"America/Chicago"},"activationStatus":"PENDING","ptoDate":"2021-05-01"}"#
            .to_string(),
    );
    t.valid.push(r#"{"name":"x"}"#.to_string());
    t.other = strings(&["[]"]);
    t.generate = Some(Box::new(from_shapes(&[SITE])));
    t.run(&|body, _| sites::parse_details(56, body).is_ok());
}

#[test]
fn fuzz_devices() {
    let mut t = Target::new("devices");
    t.valid = sim().family("devices");
    t.valid.extend(strings(&[
        r#"[{"type":"INVERTER","serialNumber":"AB12CD34-56","name":"Inverter 1","manufacturer":"SolarEdge","model":"SE8K","firmwareVersion":"4.25.13","createdAt":"2022-03-01T09:15:00+01:00","connectedTo":null,"active":true,"communicationType":"ETHERNET","nameplate":8000,"futureField":{"x":1}}]"#,
        r#"[{"type":"METER","serialNumber":null,"name":"Site Consumption","meterType":"Consumption","active":true},{"type":"METER","serialNumber":900123,"name":"Grid Out","meterType":"FeedIn"}]"#,
        "[]",
    ]));
    t.other = strings(&[
        r#"[{"serialNumber":"x"}]"#,
        r#"[{"type":"METER","active":3}]"#,
        "[7]",
    ]);
    t.generate = Some(Box::new(from_shapes(&[DEVICES])));
    t.run(&|body, _| match devices::parse(3, body) {
        Ok(list) => {
            for d in &list {
                // The raw copy must stay readable JSON: it is what reprocessing starts from.
                assert!(serde_json::from_str::<Value>(&d.raw_json).is_ok());
            }
            true
        }
        Err(_) => false,
    });
}

/// Offsets real timestamps can carry: strictly within a day.
fn assert_offset(minutes: i32) {
    assert!(minutes.abs() < 24 * 60, "offset {minutes} min");
}

#[test]
fn fuzz_series() {
    let mut t = Target::new("series");
    t.valid = sim().family("series");
    t.valid.extend(strings(&[
        r#"{"period":{"from":"2026-06-01T00:00:00+02:00","to":"2026-06-01T12:00:00+02:00"},"unit":"KW","resolution":"QUARTER_HOUR","values":[{"timestamp":"2026-06-01T05:45:00+02:00","value":null},{"timestamp":"2026-06-01T06:15:00+02:00","value":1.5},{"timestamp":"2026-06-01T06:30:00+02:00"}]}"#,
        r#"{"unit":"MWH","resolution":"YEAR","values":[{"timestamp":"2025-01-01T00:00:00-07:00","value":9.5}]}"#,
        r#"{"period":{"from":"2026-08-24T00:00:00+01:00","to":"2026-08-24T17:05:45.016061916+01:00"},"unit":"WH","values":[]}"#,
        r#"{"values":null}"#,
    ]));
    t.other = strings(&[
        r#"{"values":[{"value":1}]}"#,
        r#"{"values":[{"timestamp":"2026-01-01T00:00:00","value":1}]}"#,
        r#"{"resolution":"FORTNIGHT"}"#,
        r#"{"period":{"from":"nope"}}"#,
    ]);
    t.generate = Some(Box::new(from_shapes(&[ENVELOPE])));
    t.run(&|body, _| {
        let site = series::parse(1, body, Resolution::Day);
        match site {
            Ok((s, _)) => {
                s.series
                    .points
                    .iter()
                    .for_each(|p| assert_offset(p.utc_offset_min));
                true
            }
            Err(_) => false,
        }
    });
}

#[test]
fn fuzz_telemetry() {
    let mut t = Target::new("telemetry");
    t.valid = sim().family("telemetry");
    t.valid.extend(strings(&[
        r#"{"inverters":{"INV-A":{"power":{"unit":"KW","resolution":"HOUR","values":[{"timestamp":"2026-01-05T10:00:00+01:00","value":2.5}]},"energy":{"unit":"KWH","values":[{"timestamp":"2026-01-05T10:00:00+01:00","value":0.25}]},"frequency":{"unit":"HERTZ","values":[{"timestamp":"2026-01-05T11:00:00+01:00","value":null}]},"name":"Inverter 1"}}}"#,
        r#"{"period":{"from":"2026-02-01T00:00:00-07:00","to":"2026-02-02T00:00:00-07:00"},"resolution":"DAY","unit":"KWH","meters":{"5118719":{"importEnergy":{"unit":"WH","values":[{"timestamp":"2026-02-01T00:00:00-07:00","value":314.5}]},"exportEnergy":{"values":[]}},"virtual-1":null}}"#,
        r#"{"storage":{}}"#,
    ]));
    t.generate = Some(Box::new(from_shapes(&[TELEMETRY])));
    t.run(&|body, _| {
        let mut any = false;
        for kind in [
            TelemetryKind::Inverter,
            TelemetryKind::Meter,
            TelemetryKind::Storage,
        ] {
            if let Ok((rows, _)) = telemetry::parse(9, kind, body, Resolution::QuarterHour) {
                any = true;
                for row in &rows {
                    row.series
                        .points
                        .iter()
                        .for_each(|p| assert_offset(p.utc_offset_min));
                }
            }
        }
        any
    });
}

#[test]
fn fuzz_overview() {
    let mut t = Target::new("overview");
    t.valid = sim().family("overview");
    t.valid.extend(strings(&[
        r#"{"production":{"total":12.5,"unit":"KWH","toSelfConsumption":4,"toStorage":null,"toGrid":8.5},"consumption":{"total":9000,"unit":"WH","fromPv":4000,"fromStorage":0,"fromGrid":5000},"performance":{"specificYield":1.2}}"#,
        r#"{"production":null}"#,
    ]));
    t.other = strings(&["[]", r#"{"production":5}"#]);
    t.generate = Some(Box::new(from_shapes(&[OVERVIEW])));
    let date = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
    t.run(&|body, _| overview::parse(1, date, body).is_ok());
}

#[test]
fn fuzz_benefits() {
    let mut t = Target::new("benefits");
    t.valid = sim().family("benefits");
    t.valid.extend(strings(&[
        r#"{"unit":"IMPERIAL","co2Emissions":1000,"evMiles":"62.1","treesPlanted":3}"#,
        r#"{"co2Emissions":null}"#,
    ]));
    t.other = strings(&[r#"{"unit":"SI"}"#]);
    t.generate = Some(Box::new(from_shapes(&[BENEFITS])));
    t.run(&|body, _| benefits::parse(1, body).is_ok());
}

#[test]
fn fuzz_alerts() {
    let mut t = Target::new("alerts");
    t.valid = sim().family("alerts");
    t.valid.extend(strings(&[
        r#"[{"alertId":1,"siteId":5,"type":"INVERTER_ERROR","category":"DEVICE","impact":3,"status":"OPEN","firstTrigger":"2026-01-01T00:00:00Z","lastTrigger":"2026-01-02T00:00:00Z","component":{"name":"Inverter 1","serialNumber":"AB12"},"errorCodes":[18,19]}]"#,
        r#"[{"alertId":"2","siteId":"6","firstTriggered":"2024-05-01T10:00:00Z","component":null}]"#,
        "[]",
    ]));
    t.other = strings(&[r#"[{"siteId":1}]"#, r#"[{"alertId":1,"component":"x"}]"#]);
    t.generate = Some(Box::new(from_shapes(&[ALERTS])));
    t.run(&|body, _| {
        let site = alerts::parse(Some(5), body);
        let fleet = alerts::parse(None, body);
        // A fleet alert needs its own siteId; a site's alert may borrow the site's.
        assert!(!(fleet.is_ok() && site.is_err()));
        site.is_ok()
    });
}

#[test]
fn fuzz_power_flow() {
    let mut t = Target::new("power flow");
    t.valid = sim().family("power_flow");
    t.valid.extend(strings(&[
        r#"{"updatedAt":"2026-06-01T12:00:00+02:00","unit":"KW","pv":{"active":true,"power":4.2},"load":{"active":true,"power":"1.1"},"storage":{"active":false,"power":0,"status":"Idle","chargeLevel":87},"grid":null}"#,
    ]));
    t.other = strings(&[r#"{"pv":[]}"#]);
    t.generate = Some(Box::new(from_shapes(&[POWER_FLOW])));
    t.run(&|body, _| power_flow::parse(1, body).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Targets: OAuth and error bodies, headers, classification

/// True when `needle` could be a secret worth looking for in a message: long, and not made
/// of the words a message is made of.
fn secret_like(needle: &str) -> bool {
    needle.chars().count() >= 12
        && !needle
            .chars()
            .all(|c| c.is_ascii_lowercase() || matches!(c, ' ' | '_' | '.' | ':' | ','))
}

#[test]
fn fuzz_oauth_token() {
    let mut t = Target::new("oauth token");
    t.valid = sim().family("token");
    t.valid.extend(strings(&[
        r#"{"access_token":"at-0123456789abcdef","token_type":"Bearer","expires_in":7200,"refresh_token":"rt-0123456789abcdef"}"#,
        r#"{"access_token":"at-only-0123456789"}"#,
    ]));
    t.other = strings(&[
        r#"{"error":"invalid_grant","error_description":"invalid refresh_token"}"#,
        r#"{"error":"invalid_client"}"#,
        r#"{"access_token":""}"#,
    ]);
    t.generate = Some(Box::new(from_shapes(&[TOKEN, OAUTH_ERROR])));
    t.run(&|body, _| {
        let token = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("access_token")?.as_str().map(str::to_string))
            .filter(|s| secret_like(s));
        let parsed = oauth::parse_token(body);
        // Neither the Debug of a token response nor a parse error may quote the token.
        if let Some(token) = &token {
            let shown = match &parsed {
                Ok(r) => format!("{r:?}"),
                Err(e) => e.to_string(),
            };
            assert!(
                !shown.contains(token.as_str()),
                "token leaked into {shown:?}"
            );
        }
        if let Some(e) = oauth::parse_error(body) {
            assert!(!e.error.is_empty() && e.error.trim() == e.error);
            assert_eq!(oauth::OAuthCode::parse(&e.error), e.code);
        }
        parsed.is_ok()
    });
}

#[test]
fn fuzz_problem_detail() {
    let mut t = Target::new("problem detail");
    t.valid = sim().problems.clone();
    t.valid.extend(strings(&[
        r#"{"type":"https://example.invalid/docs","title":"Not Found","status":404,"detail":"Unknown endpoint","traceId":"0123456789abcdef"}"#,
        r#"{"error":"invalid_grant","error_description":"invalid refresh_token"}"#,
        "<html><body>502 Bad Gateway</body></html>",
        "upstream   connect\nerror",
        "",
    ]));
    t.generate = Some(Box::new(from_shapes(&[PROBLEM, OAUTH_ERROR])));
    t.run(&|body, _| {
        let d = problem::detail(body);
        // One short line: at most 240 characters and an ellipsis, whitespace collapsed.
        assert!(d.chars().count() <= 241, "{} chars", d.chars().count());
        assert!(!d.chars().any(|c| c.is_whitespace() && c != ' '));
        assert_eq!(d.trim(), d);
        true
    });
}

/// Header values as servers send them, and as they should not.
const HEADER_SEEDS: &[&str] = &[
    "0",
    "1",
    "30",
    "59",
    "120",
    "1.5",
    "0.001",
    "  7  ",
    "-1",
    "1e20",
    "1e308",
    "NaN",
    "inf",
    "18446744073709551616",
    "4294967295",
    "4294967296",
    "Wed, 21 Oct 2026 07:28:00 GMT",
    "Thu, 26 Nov 2026 12:00:00 +0000",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Fri, 31 Dec 9999 23:59:59 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT",
    "",
];

/// "Now" for header checks: today, the epoch, and both ends of four-digit years.
fn header_now(aux: u64) -> DateTime<Utc> {
    let times = [
        "2026-11-26T12:00:00Z",
        "1970-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ];
    let s = times[(aux % times.len() as u64) as usize];
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn fuzz_headers() {
    let mut t = Target::new("headers");
    t.other = strings(HEADER_SEEDS);
    t.other.extend(sim().headers.iter().cloned());
    t.run(&|value, aux| {
        let now = header_now(aux);
        let wait = parse_retry_after(value, now);
        // Delta-seconds are honoured as sent; what cannot be a wait is no wait.
        if let Ok(secs) = value.trim().parse::<f64>() {
            match wait {
                Some(d) if secs <= 1e15 => {
                    assert!((d.as_secs_f64() - secs).abs() <= 1e-6 * secs.max(1.0))
                }
                Some(d) => assert!(d.as_secs_f64() > 1e14, "{d:?} for {secs}"),
                None => assert!(!(secs.is_finite() && secs >= 0.0)),
            }
        }
        let date = parse_http_date(value);
        let boundary = secs_to_minute_boundary(date, SystemTime::now());
        assert!(boundary > 0.0 && boundary <= 60.0, "{boundary}");
        // The rate headers: a count is read exactly, anything else is absent.
        let rate = rate_info(Some(value), Some(value));
        assert_eq!(rate.limit, value.parse::<u32>().ok());
        assert_eq!(rate, rate_info(Some(value), Some(value)));
        // Whatever the headers say, the limiter never asks for more than a minute and its
        // margin before the next call.
        let t0 = Instant::now();
        let mut limiter = Limiter::new(10);
        let remaining = if aux % 3 == 0 {
            Some(0)
        } else {
            rate.remaining
        };
        limiter.observe(t0, rate.limit, remaining, boundary);
        for later in [0, 1, 59, 61] {
            let at = t0 + StdDuration::from_secs(later);
            if let Some(w) = limiter.wait_before_call(at) {
                assert!(w <= StdDuration::from_secs(61), "limiter wait {w:?}");
            }
        }
        wait.is_some() || date.is_some() || rate.limit.is_some()
    });
}

/// Statuses worth classifying: every branch, and a few that are not HTTP at all.
const STATUSES: &[u16] = &[
    0,
    100,
    200,
    201,
    204,
    299,
    301,
    304,
    400,
    401,
    403,
    404,
    405,
    410,
    418,
    429,
    499,
    500,
    502,
    503,
    599,
    600,
    999,
    u16::MAX,
];

#[test]
fn fuzz_classify() {
    let mut t = Target::new("classify");
    t.other = sim().problems.clone();
    t.other.extend(strings(&[
        r#"{"title":"Too Many Requests","status":429,"detail":"Monthly API credit limit reached"}"#,
        r#"{"title":"Too Many Requests","status":429,"detail":"API rate limit exceeded"}"#,
        r#"{"title":"Bad Request","detail":"The requested time span exceeds the maximum"}"#,
        r#"{"title":"Forbidden","detail":"site OAuth grant doesn't include this site"}"#,
        "{}",
    ]));
    t.generate = Some(Box::new(from_shapes(&[PROBLEM])));
    t.run(&|body, aux| {
        let mut rng = Rng(aux);
        let status = if rng.one_in(4) {
            rng.next_u64() as u16
        } else {
            *rng.pick(STATUSES)
        };
        let content_type = match rng.below(5) {
            0 => None,
            1 => Some("text/html; charset=utf-8".to_string()),
            2 => Some(body.chars().take(40).collect()),
            _ => Some(
                rng.pick(&["application/json", "application/problem+json", " ; x", ""])
                    .to_string(),
            ),
        };
        let retry_after = match rng.below(3) {
            0 => None,
            _ => Some(rng.pick(HEADER_SEEDS).to_string()),
        };
        let rate = RateInfo {
            limit: rng.one_in(2).then(|| rng.next_u64() as u32 % 100),
            remaining: rng.one_in(2).then(|| rng.next_u64() as u32 % 3),
        };
        let raw = Raw {
            status,
            content_type,
            retry_after,
            rate,
            server_date: None,
            body: body.to_string(),
        };
        let verdict = classify(&raw, header_now(aux));
        // Each status class has its own outcomes.
        match (status, &verdict) {
            (200..=299, Verdict::Success | Verdict::Fail(Error::Decode { .. })) => {}
            (500.., Verdict::ServerError) => {}
            (429, Verdict::MinuteLimit(_) | Verdict::Fail(Error::CreditsExhausted { .. })) => {}
            (0..=199 | 300..=428 | 430..=499, Verdict::Fail(e)) => {
                assert!(!matches!(
                    e,
                    Error::Decode { .. } | Error::CreditsExhausted { .. }
                ));
            }
            _ => panic!("status {status} classified as {verdict:?}"),
        }
        if let Verdict::Fail(e) = &verdict {
            // Details come from `problem::detail`: one short line.
            assert!(e.to_string().chars().count() < 400, "{e}");
        }
        matches!(verdict, Verdict::Success)
    });
}

// ---------------------------------------------------------------------------------------------
// Targets: timestamps, units, tolerant fields

/// Window spans the planner uses, shortest to longest.
const SPANS_HOURS: &[i64] = &[1, 12, 24, 24 * 7, 24 * 31, 24 * 366];

#[test]
fn fuzz_timestamps() {
    let mut t = Target::new("timestamps");
    t.valid = strings(&[
        "2026-08-24T06:45:00+01:00",
        "2026-08-24T06:45:00.5-05:00",
        "2026-08-24T17:05:45.016061916+01:00",
        "2026-01-01T00:00:00+05:45",
        "2026-10-25T02:15:00+01:00",
        "2024-02-29T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999+23:59",
    ]);
    t.other = strings(ODD_TIMESTAMPS);
    // Half valid, so the bucket arithmetic below gets its share of instants.
    t.generate = Some(Box::new(|rng: &mut Rng| {
        if rng.one_in(2) {
            timestamp(rng, false)
        } else {
            odd_timestamp(rng)
        }
    }));
    t.run(&|s, aux| {
        let Ok((t, offset)) = time::parse_ts(s) else {
            return false;
        };
        assert_offset(offset);
        // Round trips: through UTC, and through the offset it came with.
        let utc = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
        assert_eq!(time::parse_ts(&utc).unwrap(), (t, 0), "via {utc}");
        let fixed = FixedOffset::east_opt(offset * 60).unwrap();
        let local = t
            .with_timezone(&fixed)
            .to_rfc3339_opts(SecondsFormat::Nanos, false);
        assert_eq!(time::parse_ts(&local).unwrap(), (t, offset), "via {local}");
        check_bucket_arithmetic(t, aux);
        true
    });
}

/// What the planner does with a parsed instant: buckets, local formatting and windows in
/// any zone, asserting the invariants `time`'s own tests assert for chosen dates.
fn check_bucket_arithmetic(t: DateTime<Utc>, aux: u64) {
    let mut rng = Rng(aux);
    let tz = *rng.pick(&chrono_tz::TZ_VARIANTS);
    let res = *rng.pick(&Resolution::ALL);
    let start = time::start_of_bucket(t, res, tz);
    assert!(
        start <= t,
        "{res:?} bucket of {t} in {tz} starts later, at {start}"
    );
    if let Some(next) = time::next_bucket_start(t, res, tz) {
        assert!(
            next > start,
            "{res:?} in {tz}: next bucket {next} not after {start}"
        );
    }
    // Local request parameters name the same second, wherever the zone's offset is whole
    // minutes (all zones since the early 1900s; local mean times had seconds) and the local
    // year has four digits (RFC 3339 has no others; 9999-12-31T23:59Z is year 10000 east
    // of UTC).
    let formatted = time::format_local(t, tz);
    let local = t.with_timezone(&tz);
    let whole_minutes = local.offset().fix().local_minus_utc() % 60 == 0;
    if whole_minutes && (0..=9999).contains(&local.year()) {
        let (back, _) = time::parse_ts(&formatted).unwrap();
        assert_eq!(back.timestamp(), t.timestamp(), "{formatted} in {tz}");
    }
    let span = Duration::hours(*rng.pick(SPANS_HOURS));
    let spans = rng.range(0, 3) as i32;
    let Some(to) = t.checked_add_signed(span * spans + Duration::minutes(rng.range(-30, 30)))
    else {
        return;
    };
    let windows = time::windows(t, to, span, res, tz);
    if t >= to {
        assert!(windows.is_empty());
        return;
    }
    assert_eq!(windows.first().map(|w| w.0), Some(t));
    assert_eq!(windows.last().map(|w| w.1), Some(to));
    for w in &windows {
        assert!(
            w.0 < w.1 && w.1 - w.0 <= span,
            "window {w:?} of {span} in {tz}"
        );
    }
    for pair in windows.windows(2) {
        assert_eq!(pair[0].1, pair[1].0, "gap or overlap in {tz}");
    }
    // Boundaries fall back to finer buckets at worst, which costs at most one extra
    // window per span (plus the unaligned ends).
    assert!(
        windows.len() <= 2 * spans as usize + 3,
        "{} windows",
        windows.len()
    );
}

#[test]
fn fuzz_units() {
    let mut t = Target::new("units");
    t.valid = strings(UNITS);
    t.valid
        .extend(strings(&["kw", " MWh ", "hertz", "VOLT", "ß", "\u{212A}W"]));
    t.run(&|unit, _| {
        let (factor, normalised) = units::normalise(unit);
        assert!([1.0, 1e3, 1e6, 1e9].contains(&factor), "{factor}");
        if factor != 1.0 {
            assert!(normalised == "W" || normalised == "Wh");
        }
        // A normalised unit is a fixed point.
        let (again, same) = units::normalise(&normalised);
        assert_eq!(same, normalised);
        if normalised == "W" || normalised == "Wh" {
            assert_eq!(again, 1.0);
        }
        assert_eq!(units::normalise_opt(Some(unit)), (factor, normalised));
        true
    });
}

#[test]
fn fuzz_json_fields() {
    let mut t = Target::new("json fields");
    t.valid = strings(&[
        r#"{"a":"x","n":5,"f":5.0,"s":"7","b":"TRUE","o":{},"z":null}"#,
        r#"{"n":1e300,"m":-1e300,"i":-9223372036854775808,"u":18446744073709551615,"h":0.5,"s":" 12 "}"#,
    ]);
    t.generate = Some(Box::new(|rng: &mut Rng| {
        let mut m = Map::new();
        for _ in 0..rng.range(1, 6) {
            m.insert(rng.pick(KEYS).to_string(), wild_value(rng, 0));
        }
        Value::Object(m).to_string()
    }));
    t.run(&|body, _| {
        let Ok(v) = fields::from_body::<Value>("fuzz", body) else {
            return false;
        };
        let Ok(o) = fields::object("fuzz", &v) else {
            return false;
        };
        for key in o.keys() {
            let _ = fields::opt_str("fuzz", o, key);
            let _ = fields::opt_f64("fuzz", o, key);
            let _ = fields::opt_bool("fuzz", o, key);
            if let Ok(Some(n)) = fields::opt_i64("fuzz", o, key) {
                // Integral floats convert saturating; anything else must be exact.
                if let Some(Value::Number(num)) = o.get(key) {
                    if let Some(exact) = num.as_i64() {
                        assert_eq!(n, exact);
                    }
                }
            }
        }
        true
    });
}

// ---------------------------------------------------------------------------------------------
// Target: the config loader

/// The kinds of value a config key takes.
#[derive(Clone, Copy)]
enum Toml {
    Url,
    Text,
    Path,
    Int,
    Float,
    Ints,
    Table(&'static [&'static str]),
    Lit(&'static [&'static str]),
}

/// Every key of the config file, by section.
const CONFIG_KEYS: &[(&str, &[(&str, Toml)])] = &[
    (
        "api",
        &[
            ("base_url", Toml::Url),
            ("key", Toml::Text),
            ("key_file", Toml::Path),
            ("account_key", Toml::Text),
            ("timeout_secs", Toml::Int),
            ("max_retries", Toml::Int),
            ("time_scale", Toml::Float),
        ],
    ),
    ("database", &[("path", Toml::Path)]),
    ("sites", &[("include", Toml::Ints), ("exclude", Toml::Ints)]),
    (
        "sync",
        &[
            ("initial_days", Toml::Int),
            ("settle_hours", Toml::Int),
            ("alerts", Toml::Lit(&["fleet", "site", "both"])),
            (
                "max_window_hours",
                Toml::Table(&["QUARTER_HOUR", "DAY", "MONTH", "FORTNIGHT"]),
            ),
        ],
    ),
    (
        "budget",
        &[
            ("monthly_credits", Toml::Int),
            ("per_minute", Toml::Int),
            ("billing_day", Toml::Int),
            ("reserve", Toml::Int),
            ("alerts_minutes", Toml::Int),
            ("max_history_calls_per_run", Toml::Int),
            (
                "cadence_minutes",
                Toml::Table(&["energy", "power", "meter_telemetry", "alerts"]),
            ),
        ],
    ),
    (
        "oauth",
        &[
            ("client_id", Toml::Text),
            ("client_secret", Toml::Text),
            ("client_secret_file", Toml::Path),
            ("redirect_url", Toml::Url),
            ("token_store", Toml::Path),
            ("authorize_url", Toml::Url),
            ("refresh_idle_days", Toml::Int),
        ],
    ),
];

/// Paths the generator puts into the config: missing, relative and missing, a directory.
const HARMLESS_PATHS: &[&str] = &["/nonexistent/seh-fuzz/file", "", "relative/x", "/"];

/// Whether every file the loader would read for `text` is one of [`HARMLESS_PATHS`]. Reads
/// the text with the same TOML parser the loader uses, so both see the same keys.
fn reads_only_harmless_files(text: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return true;
    };
    [("api", "key_file"), ("oauth", "client_secret_file")]
        .iter()
        .all(
            |(section, key)| match table.get(*section).and_then(|s| s.get(*key)) {
                None => true,
                Some(toml::Value::String(p)) => HARMLESS_PATHS.contains(&p.as_str()),
                Some(_) => true,
            },
        )
}

/// A TOML value for `kind`, of another type now and then.
fn toml_value(rng: &mut Rng, kind: Toml) -> String {
    let text = |s: &str| serde_json::to_string(s).expect("a string serializes");
    if rng.one_in(12) {
        return rng
            .pick(&[
                "nan",
                "+inf",
                "-inf",
                "-0",
                "1e308",
                "0x10",
                "1_000",
                "true",
                "[]",
                "{}",
                "1979-05-27T07:32:00Z",
                "9223372036854775807",
                "-9223372036854775808",
                "4294967296",
                "'lit'",
                "\"\"\"multi\nline\"\"\"",
            ])
            .to_string();
    }
    match kind {
        Toml::Url => text(rng.pick::<&str>(&[
            "https://monitoringapi.solaredge.com/v2",
            "https://monitoringapi.solaredge.com/v1",
            "http://127.0.0.1:9/v2/",
            "ftp://x",
            "",
        ])),
        Toml::Text => match rng.below(4) {
            0 => text(""),
            1 => text("key with space"),
            2 => text("\u{0}\u{FFFD}"),
            _ => text(&format!("k{:x}{:x}", rng.next_u64(), rng.next_u64())),
        },
        // Paths are read by the loader: only ones that cannot block or be large.
        Toml::Path => text(rng.pick::<&str>(HARMLESS_PATHS)),
        Toml::Int => rng
            .pick(&[
                0i64,
                1,
                7,
                15,
                28,
                29,
                30,
                2000,
                -1,
                u32::MAX as i64,
                i64::MAX,
            ])
            .to_string(),
        Toml::Float => rng.pick(&["1.0", "0.0", "-2.5", "1e300", "60"]).to_string(),
        Toml::Ints => format!(
            "[{}]",
            (0..rng.below(4))
                .map(|_| rng.range(-3, 5_000_000).to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Toml::Table(keys) => format!(
            "{{ {} }}",
            (0..rng.below(3))
                .map(|_| format!("{} = {}", rng.pick(keys), rng.pick(&[0, 1, 12, 15, 744])))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Toml::Lit(options) => text(rng.pick::<&str>(options)),
    }
}

/// A config file: some sections, some keys each, now and then an unknown one.
fn config_text(rng: &mut Rng) -> String {
    let mut out = String::new();
    for (section, keys) in CONFIG_KEYS {
        if rng.one_in(3) {
            continue;
        }
        out.push_str(&format!("[{section}]\n"));
        for (key, kind) in *keys {
            if rng.one_in(2) {
                out.push_str(&format!("{key} = {}\n", toml_value(rng, *kind)));
            }
        }
        if rng.one_in(15) {
            out.push_str("unknown_key = 1\n");
        }
    }
    out
}

#[test]
fn fuzz_config() {
    let mut t = Target::new("config");
    t.valid = vec![
        config::EXAMPLE.to_string(),
        String::new(),
        r#"
[api]
base_url = "http://127.0.0.1:9/v2"
key = "k0123456789abcdef"
timeout_secs = 5
max_retries = 2
time_scale = 60.0
[database]
path = "/nonexistent/seh-fuzz/seh.db"
[sites]
include = [2150001, 3150002]
exclude = [5150004]
[sync]
initial_days = 30
settle_hours = 2
alerts = "site"
max_window_hours = { QUARTER_HOUR = 12, DAY = 744 }
[budget]
monthly_credits = 2000
per_minute = 10
billing_day = 28
reserve = 100
alerts_minutes = 60
max_history_calls_per_run = 50
cadence_minutes = { energy = 30, meter_telemetry = 60 }
[oauth]
client_id = "client"
client_secret = "s0123456789abcdef"
redirect_url = "https://localhost/callback"
token_store = "/nonexistent/seh-fuzz/tokens.json"
refresh_idle_days = 7
"#
        .to_string(),
    ];
    t.other = strings(&[
        "[api]\nkey = \"a\"\nkey_file = \"/nonexistent/seh-fuzz/key\"\n",
        "[budget]\nbilling_day = 31\n",
        "[api]\nbase_url = \"https://monitoringapi.solaredge.com/v1\"\n",
        "[oauth]\nclient_secret = \"x\"\n",
        "[sync]\nmax_window_hours = { FORTNIGHT = 1 }\n",
        "[typo]\n",
    ]);
    t.generate = Some(Box::new(config_text));
    let env_over = Env {
        api_key: Some("env0123456789abcdef".to_string()),
        base_url: Some("http://127.0.0.1:9/v2".to_string()),
        database: Some("/nonexistent/seh-fuzz/env.db".into()),
        ..Env::default()
    };
    t.run(&|text, aux| {
        // The loader reads the files `key_file` and `client_secret_file` name; a mutation
        // that points one at a device could block or read forever. Such inputs would test
        // the file system, not the parser, so only the generator's harmless paths are read.
        if !reads_only_harmless_files(text) {
            return false;
        }
        let env = if aux % 2 == 0 {
            &env_over
        } else {
            &Env::default()
        };
        let Ok(c) = config::load_text(text, Path::new("fuzz.toml"), env) else {
            return false;
        };
        // What validation promises.
        assert!(c.budget.per_minute >= 1);
        assert!((1..=28).contains(&c.budget.billing_day));
        assert!(c.budget.reserve < c.budget.monthly_credits);
        assert!(c.time_scale.is_finite() && c.time_scale > 0.0);
        assert!(c.timeout_secs >= 1 && c.initial_days >= 1);
        assert!(c.base_url.starts_with("http://") || c.base_url.starts_with("https://"));
        // No secret in the Debug output (unless it also is a public value, like a path).
        let shown = format!("{c:?}");
        let public = format!(
            "{} {} {} {:?} fuzz.toml",
            c.base_url,
            c.database.display(),
            c.token_store.display(),
            c.oauth
                .as_ref()
                .map(|o| (&o.client_id, &o.redirect_url, &o.authorize_url)),
        );
        let secrets = [
            c.api_key.as_ref().map(|k| k.expose()),
            c.account_key.as_ref().map(|k| k.expose()),
            c.oauth.as_ref().map(|o| o.client_secret.expose()),
        ];
        for secret in secrets.into_iter().flatten() {
            if secret.len() >= 8 && !public.contains(secret) {
                assert!(!shown.contains(secret), "secret in {shown}");
            }
        }
        true
    });
}
