//! The browser half of a login: the consent URL with a random `state`/`external_id`, and
//! the redirect URL the browser lands on (`<redirect>?code=…&site_id=…[&external_id=…]
//! [&state=…]`, or `?error=…` when the owner declined). Pure except for the randomness.

use crate::api::{encode_component, Secret};
use crate::model::SiteId;
use std::fmt;

/// 128 random bits as 32 hex digits, from `/dev/urandom` (the clock and pid only when it is
/// unavailable, with a warning: `state` then still differs per login, just less unguessably).
pub fn random_state() -> String {
    use std::io::Read;
    let mut buf = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !ok {
        log::warn!("/dev/urandom is unavailable; the login state is derived from the clock");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mix = nanos ^ (u128::from(std::process::id()) << 64);
        buf = mix.to_le_bytes();
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The consent URL: client id, both scopes, 24 months, `state` and `external_id`.
pub fn authorize_url(authorize: &str, client_id: &str, state: &str) -> String {
    let query = [
        ("client_id", client_id.to_string()),
        ("scope", super::SCOPES.join(" ")),
        ("access_duration", super::ACCESS_MONTHS.to_string()),
        ("state", state.to_string()),
        ("external_id", state.to_string()),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={}", encode_component(v)))
    .collect::<Vec<_>>()
    .join("&");
    let sep = if authorize.contains('?') { '&' } else { '?' };
    format!("{authorize}{sep}{query}")
}

/// What the redirect URL carried. `Debug` shows `****` for the code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Callback {
    pub code: Option<Secret>,
    pub site_id: Option<String>,
    pub state: Option<String>,
    pub external_id: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a redirect URL is not accepted; never quotes the code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallbackError {
    /// Nothing that looks like a redirect URL.
    NotARedirect,
    /// The owner declined or Connect failed.
    Denied(String),
    NoCode,
    BadSite(String),
    /// `state` or `external_id` was echoed and is not one of ours.
    WrongState,
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::NotARedirect => f.write_str(
                "that is not the redirect URL (expected an address with ?code=…&site_id=…)",
            ),
            CallbackError::Denied(e) => write!(f, "SolarEdge Connect answered with an error: {e}"),
            CallbackError::NoCode => f.write_str("the redirect URL carries no code"),
            CallbackError::BadSite(s) => {
                write!(f, "the redirect URL carries no usable site_id ({s:?})")
            }
            CallbackError::WrongState => f.write_str(
                "refused: the redirect URL's state does not belong to a login started here \
                 (an old or foreign link); run `seh auth login` again and use the new link",
            ),
        }
    }
}

impl std::error::Error for CallbackError {}

/// Percent-decoding with `+` as space; invalid escapes are kept as they are.
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Callback {
    /// Reads a pasted address (whole URL, or just its query), tolerating quotes, angle
    /// brackets and surrounding whitespace.
    pub fn parse(text: &str) -> Result<Callback, CallbackError> {
        let t = text
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == '<' || c == '>')
            .trim();
        let t = t.split('#').next().unwrap_or("");
        let query = match t.split_once('?') {
            Some((_, q)) => q,
            None if t.contains('=') && !t.contains('/') => t,
            None => return Err(CallbackError::NotARedirect),
        };
        let mut cb = Callback::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v);
            match decode(k).as_str() {
                "code" if !v.is_empty() => cb.code = Some(Secret::new(v)),
                "site_id" => cb.site_id = Some(v),
                "state" => cb.state = Some(v),
                "external_id" => cb.external_id = Some(v),
                "error" => cb.error = Some(v),
                "error_description" => cb.error_description = Some(v),
                _ => {}
            }
        }
        if cb.code.is_none() && cb.error.is_none() && cb.site_id.is_none() {
            return Err(CallbackError::NotARedirect);
        }
        Ok(cb)
    }

    /// Accepts the callback when what it echoes (`state`, else `external_id`) is one of
    /// `expected`; a callback that echoes neither is accepted (Connect may echo neither;
    /// the code is single use and bound to our client). Returns the code and the site.
    pub fn check(&self, expected: &[&str]) -> Result<(Secret, SiteId), CallbackError> {
        if let Some(e) = &self.error {
            let d = self.error_description.as_deref().unwrap_or("");
            return Err(CallbackError::Denied(if d.is_empty() {
                e.clone()
            } else {
                format!("{e}: {d}")
            }));
        }
        let echoed = self.state.as_deref().or(self.external_id.as_deref());
        if let Some(s) = echoed {
            if !expected.contains(&s) {
                return Err(CallbackError::WrongState);
            }
        }
        let code = self.code.clone().ok_or(CallbackError::NoCode)?;
        let raw = self.site_id.clone().unwrap_or_default();
        let site = raw
            .trim()
            .parse::<SiteId>()
            .ok()
            .filter(|s| *s > 0)
            .ok_or(CallbackError::BadSite(raw))?;
        Ok((code, site))
    }

    /// Whether the callback echoed a `state` or `external_id`.
    pub fn echoes(&self) -> bool {
        self.state.is_some() || self.external_id.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_url_has_everything() {
        let u = authorize_url("https://connect.solaredge.com/authorize", "my id", "abc");
        assert_eq!(
            u,
            "https://connect.solaredge.com/authorize?client_id=my%20id&scope=SITE_DATA%20DEVICE_DATA&access_duration=24&state=abc&external_id=abc"
        );
        assert!(
            authorize_url("http://x/a?sim=1", "c", "s").starts_with("http://x/a?sim=1&client_id=c")
        );
        let s = random_state();
        assert_eq!(s.len(), 32);
        assert_ne!(s, random_state());
    }

    #[test]
    fn parse_and_check() {
        let url = "https://localhost/callback?code=CODE%2B1&site_id=42&external_id=st&state=st";
        let cb = Callback::parse(&format!("  '{url}'\n")).unwrap();
        assert!(!format!("{cb:?}").contains("CODE"));
        let (code, site) = cb.check(&["other", "st"]).unwrap();
        assert_eq!((code.expose(), site), ("CODE+1", 42));
        assert_eq!(cb.check(&["other"]), Err(CallbackError::WrongState));
        // Only external_id echoed; nothing echoed.
        let cb = Callback::parse("code=c&site_id=7&external_id=x").unwrap();
        assert_eq!(cb.check(&["y"]), Err(CallbackError::WrongState));
        assert_eq!(cb.check(&["x"]).unwrap().1, 7);
        let cb = Callback::parse("https://localhost/?code=c&site_id=7").unwrap();
        assert!(!cb.echoes());
        assert_eq!(cb.check(&[]).unwrap().1, 7);
        // Errors.
        let cb = Callback::parse("https://l/cb?error=access_denied&error_description=no+thanks")
            .unwrap();
        assert_eq!(
            cb.check(&[]),
            Err(CallbackError::Denied("access_denied: no thanks".into()))
        );
        assert_eq!(
            Callback::parse("hello").unwrap_err(),
            CallbackError::NotARedirect
        );
        assert_eq!(
            Callback::parse("https://l/cb?site_id=1")
                .unwrap()
                .check(&[]),
            Err(CallbackError::NoCode)
        );
        let e = Callback::parse("https://l/cb?code=SECRETCODE&site_id=x")
            .unwrap()
            .check(&[])
            .unwrap_err();
        assert!(!e.to_string().contains("SECRETCODE"), "{e}");
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%41%zz+b%"), "A%zz b%");
    }
}
