//! Fault injection: which request gets which transport or gateway failure.
//!
//! A harvester must survive what the real gateway does on a bad day (§6:
//! 5xx that are HTML, not JSON; slow answers; dropped connections; bursts of
//! 429). Tests describe faults with a compact spec string, used by the
//! repeatable `--fault` CLI flag and by the JSON admin endpoint:
//!
//! ```text
//! PATTERN=KIND[,nth=N][,every=N][,p=0.25][,times=K]
//! ```
//!
//! - PATTERN: matched against the request path. With a `*` it is a glob over
//!   the whole path (`*` matches any run of characters, `/` included:
//!   `/v2/sites/*/power`); without one it is a substring (`/energy`). A lone
//!   `*` matches every path.
//! - KIND: `500`, `502`, `503` (or any other 4xx/5xx code: that status with
//!   the gateway's HTML page), `429` (a minute-limit burst), `slow:MS`,
//!   `timeout`, `truncate`, `empty`, `reset`, `content-type`.
//! - Triggers, all of which must hold: `nth=N` only the Nth matching call
//!   (1-based); `every=N` every Nth matching call; `p=P` with probability P
//!   from a seeded splitmix64 (deterministic per seed and per fault);
//!   `times=K` at most K firings. No trigger: every matching call.
//!
//! Each fault counts its own matching calls, so adding a fault never shifts
//! another's `nth`. The first fault (in insertion order) that fires wins.
//!
//! Probabilistic triggers draw from [`crate::rng::SplitMix64`]; this module must
//! not hold the PRNG itself (`http` and `oauth` use it too, and `faults` already
//! imports `http`).

use std::time::Duration;

use serde_json::{json, Value};

use crate::http::{Reply, Response};
use crate::rng::SplitMix64;

/// How long a `timeout` fault holds the connection before closing it.
pub const TIMEOUT_HANG: Duration = Duration::from_secs(120);

/// The body Cloudflare-style gateways send for 5xx: HTML, not JSON.
pub fn html_error_page(status: u16) -> Response {
    let reason = crate::http::reason_phrase(status);
    let body = format!("<html><body><h1>{status} {reason}</h1></body></html>");
    Response {
        status,
        headers: vec![(
            "content-type".to_string(),
            "text/html; charset=UTF-8".to_string(),
        )],
        body: body.into_bytes(),
    }
}

/// What the app should do instead of (or to) the normal answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// That status with the HTML gateway page ([`html_error_page`]).
    Status(u16),
    /// The normal answer after a real-time delay.
    Slow(Duration),
    /// Hold the connection [`TIMEOUT_HANG`] (or until the client goes), then close.
    Timeout,
    /// The normal answer cut in half (full Content-Length announced).
    Truncate,
    /// 200, `application/json`, empty body.
    Empty,
    /// Close the connection without answering.
    Reset,
    /// The normal body served as `text/html`.
    WrongContentType,
    /// A minute-limit 429 (`x-ratelimit-remaining-minute: 0`, `Retry-After`).
    Burst429,
}

impl FaultAction {
    fn parse(kind: &str) -> Result<FaultAction, String> {
        let kind = kind.trim();
        if let Some(ms) = kind.strip_prefix("slow:") {
            let ms: u64 = ms
                .parse()
                .map_err(|_| format!("slow:MS needs whole milliseconds, got `{ms}`"))?;
            return Ok(FaultAction::Slow(Duration::from_millis(ms)));
        }
        match kind {
            "timeout" => return Ok(FaultAction::Timeout),
            "truncate" => return Ok(FaultAction::Truncate),
            "empty" => return Ok(FaultAction::Empty),
            "reset" => return Ok(FaultAction::Reset),
            "content-type" => return Ok(FaultAction::WrongContentType),
            "429" => return Ok(FaultAction::Burst429),
            _ => {}
        }
        match kind.parse::<u16>() {
            Ok(code) if (400..=599).contains(&code) => Ok(FaultAction::Status(code)),
            _ => Err(format!(
                "unknown fault kind `{kind}` (expected one of 500, 502, 503 (any 4xx/5xx), \
                 429, slow:MS, timeout, truncate, empty, reset, content-type)"
            )),
        }
    }

    /// The spec form of this kind (inverse of parsing).
    pub fn spec(&self) -> String {
        match self {
            FaultAction::Status(code) => code.to_string(),
            FaultAction::Slow(d) => format!("slow:{}", d.as_millis()),
            FaultAction::Timeout => "timeout".into(),
            FaultAction::Truncate => "truncate".into(),
            FaultAction::Empty => "empty".into(),
            FaultAction::Reset => "reset".into(),
            FaultAction::WrongContentType => "content-type".into(),
            FaultAction::Burst429 => "429".into(),
        }
    }

    /// Maps the action to a reply. `normal` builds the answer the request
    /// would have had and is only called when the action needs it.
    /// [`FaultAction::Burst429`] needs the rate-limit state and the clock, so
    /// it returns `None` and the app builds that 429 itself.
    pub fn to_reply(&self, normal: impl FnOnce() -> Response) -> Option<Reply> {
        Some(match self {
            FaultAction::Status(code) => Reply::Normal(html_error_page(*code)),
            FaultAction::Slow(d) => Reply::Slow(*d, normal()),
            FaultAction::Timeout => Reply::Hang(TIMEOUT_HANG),
            FaultAction::Truncate => Reply::Truncated(normal()),
            FaultAction::Empty => Reply::Normal(Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: Vec::new(),
            }),
            FaultAction::Reset => Reply::Drop,
            FaultAction::WrongContentType => {
                Reply::Normal(normal().with_header("content-type", "text/html; charset=UTF-8"))
            }
            FaultAction::Burst429 => return None,
        })
    }
}

/// One parsed fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub pattern: String,
    pub action: FaultAction,
    pub nth: Option<u64>,
    pub every: Option<u64>,
    pub p: Option<f64>,
    pub times: Option<u64>,
}

const SPEC_SHAPE: &str = "PATTERN=KIND[,nth=N][,every=N][,p=0.25][,times=K]";

impl Fault {
    /// Parses `PATTERN=KIND[,nth=N][,every=N][,p=P][,times=K]`.
    pub fn parse(spec: &str) -> Result<Fault, String> {
        let err = |msg: String| format!("fault spec `{spec}`: {msg}");
        let (pattern, rest) = spec.split_once('=').ok_or_else(|| {
            err(format!(
                "missing `=` between pattern and kind (expected {SPEC_SHAPE})"
            ))
        })?;
        let pattern = pattern.trim();
        if pattern.is_empty() {
            return Err(err("empty pattern (use `*` for every path)".into()));
        }
        let mut parts = rest.split(',');
        let kind = parts.next().unwrap_or_default();
        let action = FaultAction::parse(kind).map_err(err)?;
        let mut fault = Fault {
            pattern: pattern.to_string(),
            action,
            nth: None,
            every: None,
            p: None,
            times: None,
        };
        for opt in parts {
            fault.apply_option(opt).map_err(err)?;
        }
        if fault.nth.is_some() && fault.every.is_some() {
            return Err(err("`nth` and `every` cannot be combined".into()));
        }
        Ok(fault)
    }

    fn apply_option(&mut self, opt: &str) -> Result<(), String> {
        let (key, value) = opt
            .split_once('=')
            .ok_or_else(|| format!("option `{opt}` is not KEY=VALUE"))?;
        let (key, value) = (key.trim(), value.trim());
        let slot_taken = match key {
            "nth" => self.nth.replace(positive(key, value)?).is_some(),
            "every" => self.every.replace(positive(key, value)?).is_some(),
            "times" => self.times.replace(positive(key, value)?).is_some(),
            "p" => self.p.replace(probability(value)?).is_some(),
            _ => {
                return Err(format!(
                    "unknown option `{key}` (expected nth, every, p or times)"
                ))
            }
        };
        if slot_taken {
            return Err(format!("option `{key}` given twice"));
        }
        Ok(())
    }

    /// Builds a fault from JSON: either a spec string or an object
    /// `{"pattern","kind","nth"?,"every"?,"p"?,"times"?}` (admin endpoint).
    pub fn from_json(v: &Value) -> Result<Fault, String> {
        if let Some(s) = v.as_str() {
            return Fault::parse(s);
        }
        let obj = v
            .as_object()
            .ok_or("a fault is a spec string or an object with pattern and kind")?;
        let text = |k: &str| obj.get(k).and_then(Value::as_str);
        let pattern = text("pattern").ok_or("fault object needs a string `pattern`")?;
        let kind = match obj.get("kind") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err("fault object needs `kind` (string or status number)".into()),
        };
        let mut spec = format!("{pattern}={kind}");
        for key in ["nth", "every", "p", "times"] {
            match obj.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::Number(n)) => spec.push_str(&format!(",{key}={n}")),
                Some(other) => return Err(format!("`{key}` must be a number, got {other}")),
            }
        }
        Fault::parse(&spec)
    }

    /// The canonical spec string.
    pub fn spec(&self) -> String {
        let mut s = format!("{}={}", self.pattern, self.action.spec());
        let opts = [
            ("nth", self.nth),
            ("every", self.every),
            ("times", self.times),
        ];
        for (k, v) in opts {
            if let Some(v) = v {
                s.push_str(&format!(",{k}={v}"));
            }
        }
        if let Some(p) = self.p {
            s.push_str(&format!(",p={p}"));
        }
        s
    }

    pub fn matches(&self, path: &str) -> bool {
        if self.pattern.contains('*') {
            glob_match(self.pattern.as_bytes(), path.as_bytes())
        } else {
            path.contains(&self.pattern)
        }
    }
}

fn positive(key: &str, value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{key}` must be a positive integer, got `{value}`")),
    }
}

fn probability(value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("`p` must be a number in [0, 1], got `{value}`")),
    }
}

/// Whole-string glob where `*` matches any run (including `/`). Iterative
/// with single backtrack point: linear-ish, no recursion blow-up.
fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pat.len() && pat[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A fault plus its counters.
#[derive(Debug)]
struct Rule {
    id: u64,
    fault: Fault,
    seen: u64,
    fired: u64,
    rng: SplitMix64,
}

impl Rule {
    /// Counts one matching call and says whether the fault fires on it.
    /// The PRNG is drawn on every matching call (when `p` is set) so the
    /// sequence depends only on the seed and the call count.
    fn observe(&mut self) -> bool {
        self.seen += 1;
        let f = &self.fault;
        let draw_ok = match f.p {
            Some(p) => self.rng.next_f64() < p,
            None => true,
        };
        let nth_ok = f.nth.is_none_or(|n| self.seen == n);
        let every_ok = f.every.is_none_or(|n| self.seen.is_multiple_of(n));
        let times_ok = f.times.is_none_or(|k| self.fired < k);
        draw_ok && nth_ok && every_ok && times_ok
    }

    fn exhausted(&self) -> bool {
        let nth_passed = self.fault.nth.is_some_and(|n| self.seen >= n);
        let times_used = self.fault.times.is_some_and(|k| self.fired >= k);
        nth_passed || times_used
    }
}

/// The active fault rules, in insertion order.
#[derive(Debug)]
pub struct FaultSet {
    seed: u64,
    next_id: u64,
    rules: Vec<Rule>,
}

impl FaultSet {
    pub fn new(seed: u64) -> FaultSet {
        FaultSet {
            seed,
            next_id: 1,
            rules: Vec::new(),
        }
    }

    /// Same as [`Fault::parse`].
    pub fn parse(spec: &str) -> Result<Fault, String> {
        Fault::parse(spec)
    }

    /// Adds a rule; returns its id (for [`FaultSet::remove`]).
    pub fn add(&mut self, fault: Fault) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        // Per-rule stream: independent of other rules and of traffic to
        // other paths, so a test's outcome depends only on seed and order.
        let rng = SplitMix64::new(self.seed ^ id.wrapping_mul(0xD1B5_4A32_D192_ED03));
        self.rules.push(Rule {
            id,
            fault,
            seen: 0,
            fired: 0,
            rng,
        });
        id
    }

    /// Parses and adds.
    pub fn add_spec(&mut self, spec: &str) -> Result<u64, String> {
        Ok(self.add(Fault::parse(spec)?))
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Rules with their counters, for the admin endpoint.
    pub fn list(&self) -> Value {
        Value::Array(
            self.rules
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "spec": r.fault.spec(),
                        "pattern": r.fault.pattern,
                        "kind": r.fault.action.spec(),
                        "nth": r.fault.nth,
                        "every": r.fault.every,
                        "p": r.fault.p,
                        "times": r.fault.times,
                        "matched": r.seen,
                        "fired": r.fired,
                        "exhausted": r.exhausted(),
                    })
                })
                .collect(),
        )
    }

    /// Records a request for `path` and returns the fault to apply, if any.
    /// Every matching rule counts the call; the first that fires wins.
    pub fn decide(&mut self, path: &str) -> Option<FaultAction> {
        let mut chosen = None;
        for rule in self.rules.iter_mut().filter(|r| r.fault.matches(path)) {
            if rule.observe() && chosen.is_none() {
                rule.fired += 1;
                chosen = Some(rule.fault.action.clone());
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(set: &mut FaultSet, path: &str, n: usize) -> Vec<bool> {
        (0..n).map(|_| set.decide(path).is_some()).collect()
    }

    #[test]
    fn parses_every_kind() {
        let cases = [
            ("/energy=500", FaultAction::Status(500)),
            ("/energy=502", FaultAction::Status(502)),
            ("*=503", FaultAction::Status(503)),
            (
                "/power=slow:1500",
                FaultAction::Slow(Duration::from_millis(1500)),
            ),
            ("/power=timeout", FaultAction::Timeout),
            ("/power=truncate", FaultAction::Truncate),
            ("/power=empty", FaultAction::Empty),
            ("/power=reset", FaultAction::Reset),
            ("/power=content-type", FaultAction::WrongContentType),
            ("/power=429", FaultAction::Burst429),
        ];
        for (spec, action) in cases {
            let f = Fault::parse(spec).unwrap();
            assert_eq!(f.action, action, "{spec}");
            assert_eq!(f.spec(), spec, "round trip");
        }
    }

    #[test]
    fn parses_options() {
        let f = Fault::parse("/v2/sites/*/power=502,every=3,p=0.25,times=2").unwrap();
        assert_eq!(f.pattern, "/v2/sites/*/power");
        assert_eq!(
            (f.every, f.p, f.times, f.nth),
            (Some(3), Some(0.25), Some(2), None)
        );
        assert_eq!(Fault::parse(&f.spec()).unwrap(), f);
    }

    #[test]
    fn bad_specs_say_why() {
        let cases = [
            ("/energy", "missing `=`"),
            ("=500", "empty pattern"),
            ("/e=600", "unknown fault kind `600`"),
            ("/e=boom", "unknown fault kind `boom`"),
            ("/e=slow:abc", "slow:MS needs whole milliseconds"),
            ("/e=500,nth=0", "`nth` must be a positive integer"),
            ("/e=500,every=x", "`every` must be a positive integer"),
            ("/e=500,p=1.5", "`p` must be a number in [0, 1]"),
            ("/e=500,times=-1", "`times` must be a positive integer"),
            ("/e=500,foo=1", "unknown option `foo`"),
            ("/e=500,nth", "is not KEY=VALUE"),
            ("/e=500,nth=1,nth=2", "given twice"),
            ("/e=500,nth=1,every=2", "cannot be combined"),
        ];
        for (spec, want) in cases {
            let e = Fault::parse(spec).unwrap_err();
            assert!(e.contains(want), "{spec}: {e}");
            assert!(e.contains(spec), "error names the spec: {e}");
        }
    }

    #[test]
    fn matching_substring_and_glob() {
        let sub = Fault::parse("/energy=500").unwrap();
        assert!(sub.matches("/v2/sites/1/energy"));
        assert!(!sub.matches("/v2/sites/1/power"));
        let glob = Fault::parse("/v2/sites/*/power=500").unwrap();
        assert!(glob.matches("/v2/sites/123/power"));
        assert!(!glob.matches("/v2/sites/123/power-flow"));
        assert!(!glob.matches("/v2/sites/123/energy"));
        let all = Fault::parse("*=500").unwrap();
        assert!(all.matches("/anything") && all.matches(""));
        assert!(glob_match(b"/a*b*c", b"/axxbyyc"));
        assert!(!glob_match(b"/a*b*c", b"/axxbyy"));
    }

    #[test]
    fn default_fires_on_every_matching_call() {
        let mut s = FaultSet::new(1);
        s.add_spec("/energy=503").unwrap();
        assert_eq!(fires(&mut s, "/v2/sites/1/energy", 3), vec![true; 3]);
        assert_eq!(s.decide("/v2/sites/1/power"), None);
    }

    #[test]
    fn nth_every_times() {
        let mut s = FaultSet::new(1);
        s.add_spec("/energy=500,nth=2").unwrap();
        assert_eq!(fires(&mut s, "/energy", 4), vec![false, true, false, false]);
        // Non-matching calls do not count.
        let mut s = FaultSet::new(1);
        s.add_spec("/energy=500,nth=2").unwrap();
        s.decide("/power");
        assert_eq!(fires(&mut s, "/energy", 2), vec![false, true]);

        let mut s = FaultSet::new(1);
        s.add_spec("/energy=500,every=3").unwrap();
        assert_eq!(
            fires(&mut s, "/energy", 7),
            vec![false, false, true, false, false, true, false]
        );

        let mut s = FaultSet::new(1);
        s.add_spec("/energy=reset,times=2").unwrap();
        assert_eq!(fires(&mut s, "/energy", 4), vec![true, true, false, false]);
        assert_eq!(s.list()[0]["exhausted"], true);
        assert_eq!(s.list()[0]["fired"], 2);
    }

    #[test]
    fn probability_is_deterministic_per_seed() {
        let run = |seed| {
            let mut s = FaultSet::new(seed);
            s.add_spec("*=500,p=0.25").unwrap();
            fires(&mut s, "/x", 2_000)
        };
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let hits = a.iter().filter(|&&b| b).count();
        assert!((400..600).contains(&hits), "{hits} of 2000 at p=0.25");
        // p=0 never fires, p=1 always.
        let mut s = FaultSet::new(7);
        s.add_spec("*=500,p=0").unwrap();
        s.add_spec("/y=502,p=1").unwrap();
        assert_eq!(s.decide("/x"), None);
        assert_eq!(s.decide("/y"), Some(FaultAction::Status(502)));
    }

    #[test]
    fn first_rule_wins_but_all_count() {
        let mut s = FaultSet::new(1);
        s.add_spec("/energy=500").unwrap();
        let second = s.add_spec("*=502,nth=2").unwrap();
        assert_eq!(s.decide("/energy"), Some(FaultAction::Status(500)));
        assert_eq!(s.decide("/power"), Some(FaultAction::Status(502)));
        assert_eq!(s.list()[1]["matched"], 2);
        assert!(s.remove(second));
        assert!(!s.remove(second));
        s.clear();
        assert!(s.is_empty());
        assert_eq!(s.decide("/energy"), None);
    }

    #[test]
    fn from_json_accepts_string_or_object() {
        let a = Fault::from_json(&json!("/energy=502,nth=1")).unwrap();
        let b = Fault::from_json(&json!({"pattern": "/energy", "kind": 502, "nth": 1})).unwrap();
        assert_eq!(a, b);
        assert!(Fault::from_json(&json!({"kind": "502"})).is_err());
        assert!(Fault::from_json(&json!({"pattern": "/e", "kind": "502", "nth": "1"})).is_err());
    }

    #[test]
    fn actions_map_to_replies() {
        let normal = || Response::json(200, &json!({"a": 1}));
        match FaultAction::Status(502).to_reply(normal) {
            Some(Reply::Normal(r)) => {
                assert_eq!(r.status, 502);
                assert_eq!(
                    r.body,
                    b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec()
                );
            }
            other => panic!("{other:?}"),
        }
        match FaultAction::WrongContentType.to_reply(normal) {
            Some(Reply::Normal(r)) => {
                assert_eq!(r.header("content-type"), Some("text/html; charset=UTF-8"));
                assert_eq!(r.body, br#"{"a":1}"#.to_vec());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            FaultAction::Reset.to_reply(normal),
            Some(Reply::Drop)
        ));
        assert!(matches!(
            FaultAction::Timeout.to_reply(normal),
            Some(Reply::Hang(d)) if d == TIMEOUT_HANG
        ));
        assert!(FaultAction::Burst429.to_reply(normal).is_none());
    }
}
