//! The `[[push]]` entries of `seh.toml`, validated into [`PushConfig`]: which server
//! (a URL or host/port/user/database), the password (URL, `password_file` or the
//! environment), TLS, which tables. `config` calls [`build`]; the environment arrives
//! already read, through `config::Env`.
//!
//! The password is a [`Secret`]; [`PushConfig::display_url`] is the only way a target is
//! shown, and it never contains the password.

use crate::api::Secret;
use crate::store::catalogue::{Table, DATA_TABLES};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// One `[[push]]` entry as written in the file.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePush {
    name: Option<String>,
    kind: Option<String>,
    url: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    database: Option<String>,
    schema: Option<String>,
    password_file: Option<PathBuf>,
    tls: Option<String>,
    ca_file: Option<PathBuf>,
    tables: Option<Vec<String>>,
    enabled: Option<bool>,
    after_sync: Option<bool>,
}

impl fmt::Debug for FilePush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand: a URL may carry a password.
        f.debug_struct("FilePush")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &self.url.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

/// Which server protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    Mysql,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Postgres => "postgres",
            Kind::Mysql => "mysql",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Kind::Postgres => 5432,
            Kind::Mysql => 3306,
        }
    }
}

/// TLS mode, with libpq's meanings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it (certificate not verified), else plain.
    Prefer,
    /// TLS or fail (certificate not verified).
    Require,
    /// TLS with the certificate verified against `ca_file` (or the public roots) and the
    /// host name.
    VerifyFull,
}

/// One validated pusher.
#[derive(Clone)]
pub struct PushConfig {
    pub name: String,
    pub kind: Kind,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
    /// PostgreSQL schema the tables live in (created if missing); ignored by MySQL.
    pub schema: String,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    /// The tables to push, in catalogue order.
    pub tables: Vec<&'static Table>,
    /// False: never runs (neither `seh push` nor after `sync`).
    pub enabled: bool,
    /// False: only `seh push` runs it, not the end of `seh sync`.
    pub after_sync: bool,
}

impl PushConfig {
    /// `kind://user@host:port/database`: what messages and `status` show. No password.
    pub fn display_url(&self) -> String {
        format!(
            "{}://{}@{}:{}/{}",
            self.kind.name(),
            self.user,
            self.host,
            self.port,
            self.database
        )
    }
}

impl fmt::Debug for PushConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushConfig")
            .field("name", &self.name)
            .field("target", &self.display_url())
            .field("password", &self.password.as_ref().map(|_| "****"))
            .field("schema", &self.schema)
            .field("tls", &self.tls)
            .field("tables", &self.tables.len())
            .field("enabled", &self.enabled)
            .field("after_sync", &self.after_sync)
            .finish()
    }
}

/// A URL with any password replaced by `****` (for messages about the file's text).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match auth.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:****@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The parts of `scheme://user:password@host:port/database`.
#[derive(Default)]
struct UrlParts {
    scheme: String,
    user: Option<String>,
    password: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    database: Option<String>,
}

fn parse_url(url: &str) -> Result<UrlParts, &'static str> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("is not a URL (kind://user@host:port/database)")?;
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, ""),
    };
    let mut parts = UrlParts {
        scheme: scheme.to_ascii_lowercase(),
        ..UrlParts::default()
    };
    let hostport = match auth.rsplit_once('@') {
        Some((userinfo, hostport)) => {
            match userinfo.split_once(':') {
                Some((u, p)) => {
                    parts.user = Some(percent_decode(u)?);
                    parts.password = Some(percent_decode(p)?);
                }
                None => parts.user = Some(percent_decode(userinfo)?),
            }
            hostport
        }
        None => auth,
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
            (h, Some(p.parse::<u16>().map_err(|_| "has a bad port")?))
        }
        _ => (hostport, None),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    parts.host = (!host.is_empty()).then(|| host.to_string());
    parts.port = port;
    parts.database = (!path.is_empty())
        .then(|| percent_decode(path))
        .transpose()?;
    Ok(parts)
}

fn percent_decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or("has a bad %-escape")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "has a bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "has a %-escape that is not UTF-8")
}

/// The environment variable that overrides the password of pusher `name`:
/// `SEH_PUSH_<NAME>_PASSWORD`, the name upper-cased with every other character as `_`.
pub fn password_variable(name: &str) -> String {
    let name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SEH_PUSH_{name}_PASSWORD")
}

/// Validates the `[[push]]` entries. `key_err(key, message)` words an error naming the
/// file; `env_password(variable)` is the environment's value of a password variable.
pub fn build(
    entries: Vec<FilePush>,
    key_err: &dyn Fn(&str, &str) -> crate::config::ConfigError,
    env_password: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PushConfig>, crate::config::ConfigError> {
    let mut out: Vec<PushConfig> = Vec::new();
    for (i, e) in entries.into_iter().enumerate() {
        let name = e.name.clone().unwrap_or_default();
        let at = |key: &str| {
            if name.is_empty() {
                format!("push[{i}].{key}")
            } else {
                format!("push.{name}.{key}")
            }
        };
        if name.is_empty() {
            return Err(key_err(
                &at("name"),
                "is missing (each [[push]] needs a name)",
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(key_err(&at("name"), "use letters, digits, - and _ only"));
        }
        if out.iter().any(|p| p.name == name) {
            return Err(key_err(&at("name"), "is used by two [[push]] entries"));
        }
        let kind = match e.kind.as_deref() {
            Some("postgres") | Some("postgresql") => Kind::Postgres,
            Some("mysql") | Some("mariadb") => Kind::Mysql,
            Some(other) => {
                return Err(key_err(
                    &at("kind"),
                    &format!("must be \"postgres\" or \"mysql\", not {other:?}"),
                ))
            }
            None => {
                return Err(key_err(
                    &at("kind"),
                    "is missing (\"postgres\" or \"mysql\")",
                ))
            }
        };
        let url = match &e.url {
            Some(u) => parse_url(u).map_err(|m| key_err(&at("url"), m))?,
            None => UrlParts::default(),
        };
        if e.url.is_some() {
            let ok = match kind {
                Kind::Postgres => matches!(url.scheme.as_str(), "postgres" | "postgresql"),
                Kind::Mysql => matches!(url.scheme.as_str(), "mysql" | "mariadb"),
            };
            if !ok {
                return Err(key_err(
                    &at("url"),
                    &format!(
                        "must start with {}:// for kind {}",
                        kind.name(),
                        kind.name()
                    ),
                ));
            }
        }
        let host = e
            .host
            .or(url.host)
            .ok_or_else(|| key_err(&at("host"), "is missing (set url or host)"))?;
        let user = e
            .user
            .or(url.user)
            .ok_or_else(|| key_err(&at("user"), "is missing (set url or user)"))?;
        let database = e
            .database
            .or(url.database)
            .ok_or_else(|| key_err(&at("database"), "is missing (set url or database)"))?;
        let password = match (env_password(&password_variable(&name)), &e.password_file) {
            (Some(p), _) => Some(p),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f).map_err(|err| {
                    key_err(
                        &at("password_file"),
                        &format!("cannot read {}: {err}", f.display()),
                    )
                })?;
                Some(text.trim_end_matches(['\n', '\r']).to_string())
            }
            (None, None) => url.password,
        };
        let tls = match e.tls.as_deref() {
            None | Some("prefer") => Tls::Prefer,
            Some("disable") => Tls::Disable,
            Some("require") => Tls::Require,
            Some("verify-full") => Tls::VerifyFull,
            Some(other) => {
                return Err(key_err(
                    &at("tls"),
                    &format!(
                        "must be \"disable\", \"prefer\", \"require\" or \"verify-full\", not {other:?}"
                    ),
                ))
            }
        };
        if e.ca_file.is_some() && tls != Tls::VerifyFull {
            return Err(key_err(
                &at("ca_file"),
                "is only used with tls = \"verify-full\"",
            ));
        }
        let tables = match &e.tables {
            None => DATA_TABLES.to_vec(),
            Some(names) => {
                let mut tables = Vec::new();
                for n in names {
                    let t = DATA_TABLES
                        .iter()
                        .find(|t| t.name == n || t.name.strip_prefix("seh_") == Some(n))
                        .ok_or_else(|| {
                            key_err(
                                &at("tables"),
                                &format!("{n:?} is not a data table (see docs/SCHEMA.md)"),
                            )
                        })?;
                    tables.push(*t);
                }
                // Catalogue order, so sites and devices go before the series that use them.
                DATA_TABLES
                    .iter()
                    .copied()
                    .filter(|t| tables.contains(t))
                    .collect()
            }
        };
        out.push(PushConfig {
            port: e.port.or(url.port).unwrap_or(kind.default_port()),
            schema: e.schema.unwrap_or_else(|| "public".to_string()),
            name,
            kind,
            host,
            user,
            password: password.map(Secret::new),
            database,
            tls,
            ca_file: e.ca_file,
            tables,
            enabled: e.enabled.unwrap_or(true),
            after_sync: e.after_sync.unwrap_or(true),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_and_redacted() {
        let u = parse_url("postgres://seh:p%40ss@db.example:6543/solar?sslmode=require").unwrap();
        assert_eq!(u.user.as_deref(), Some("seh"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.host.as_deref(), Some("db.example"));
        assert_eq!(u.port, Some(6543));
        assert_eq!(u.database.as_deref(), Some("solar"));
        assert_eq!(
            redact_url("mysql://root:hunter2@h/db"),
            "mysql://root:****@h/db"
        );
        assert_eq!(redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert!(parse_url("nothing").is_err());
    }

    fn load(text: &str, env: &crate::config::Env) -> Result<Vec<PushConfig>, String> {
        crate::config::load_text(text, std::path::Path::new("seh.toml"), env)
            .map(|c| c.push)
            .map_err(|e| e.to_string())
    }

    /// The commented `[[push]]` of the shipped example parses once uncommented.
    #[test]
    fn the_example_push_entry_parses() {
        let section = crate::config::EXAMPLE
            .split("# [[push]]")
            .nth(1)
            .expect("a [[push]] example")
            .split("\n[")
            .next()
            .unwrap();
        let lines: Vec<&str> = section
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = ") && !l.starts_with("ca_file"))
            .collect();
        let text =
            format!("[[push]]\n{}\n", lines.join("\n")).replace("password_file", "# password_file");
        let p = &load(&text, &crate::config::Env::default()).unwrap()[0];
        assert_eq!(p.name, "central");
        assert_eq!(p.kind, Kind::Postgres);
        assert_eq!(p.display_url(), "postgres://seh@db.example.org:5432/solar");
        assert_eq!(p.tables.len(), 2);
        assert_eq!(p.tls, Tls::Prefer);
    }

    #[test]
    fn passwords_come_from_url_file_or_environment_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "FILEPW\n").unwrap();
        let url = "[[push]]\nname = \"c\"\nkind = \"mysql\"\nurl = \"mysql://u:URLPW@h/d\"\n";
        let env = crate::config::Env::default();
        let p = &load(url, &env).unwrap()[0];
        assert_eq!(p.password.as_ref().unwrap().expose(), "URLPW");
        let with_file = format!("{url}password_file = {:?}\n", file.display().to_string());
        let p = &load(&with_file, &env).unwrap()[0];
        assert_eq!(p.password.as_ref().unwrap().expose(), "FILEPW");
        let env = crate::config::Env {
            push_passwords: vec![("SEH_PUSH_C_PASSWORD".into(), Secret::new("ENVPW"))],
            ..Default::default()
        };
        let cfg = crate::config::load_text(&with_file, std::path::Path::new("s"), &env).unwrap();
        assert_eq!(cfg.push[0].password.as_ref().unwrap().expose(), "ENVPW");
        let shown = format!("{cfg:?} {:?} {env:?}", cfg.push[0].display_url());
        for pw in ["URLPW", "FILEPW", "ENVPW"] {
            assert!(!shown.contains(pw), "{shown}");
        }
    }

    #[test]
    fn bad_entries_name_the_key() {
        let env = crate::config::Env::default();
        for (text, key) in [
            ("[[push]]\nname = \"a\"\nkind = \"oracle\"\n", "push.a.kind"),
            ("[[push]]\nkind = \"mysql\"\n", "push[0].name"),
            ("[[push]]\nname = \"a\"\nkind = \"mysql\"\nurl = \"postgres://u@h/d\"\n", "push.a.url"),
            ("[[push]]\nname = \"a\"\nkind = \"mysql\"\nhost = \"h\"\nuser = \"u\"\n", "push.a.database"),
            ("[[push]]\nname = \"a\"\nkind = \"mysql\"\nurl = \"mysql://u@h/d\"\ntls = \"on\"\n", "push.a.tls"),
            ("[[push]]\nname = \"a\"\nkind = \"mysql\"\nurl = \"mysql://u@h/d\"\ntables = [\"x\"]\n", "push.a.tables"),
            ("[[push]]\nname = \"a\"\nkind = \"mysql\"\nurl = \"mysql://u:SECRETPW@h/d\"\nbogus = 1\n", "bogus"),
        ] {
            let e = load(text, &env).unwrap_err();
            assert!(e.contains(key), "{key}: {e}");
            assert!(!e.contains("SECRETPW"), "{e}");
        }
    }

    #[test]
    fn password_variable_names() {
        assert_eq!(password_variable("home-pg"), "SEH_PUSH_HOME_PG_PASSWORD");
    }
}
