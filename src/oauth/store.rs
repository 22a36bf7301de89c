//! The token store: every OAuth grant in one JSON file.
//!
//! Durability rules (a refresh token lost between the server's answer and the disk means
//! the homeowner must consent again):
//! - the file is only ever replaced, never rewritten in place: a temporary file in the same
//!   directory (mode 0600) is written and fsynced, renamed over the store, and the
//!   directory is fsynced, so after a crash or `kill -9` the store is the old or the new
//!   version, complete either way;
//! - writers hold an exclusive lock on the sibling `<store>.lock` ([`TokenStore::lock`]);
//!   [`TokenStore::save`] takes the guard as proof. Stale temporary files of killed writers
//!   are removed under the lock;
//! - a refresh first reserves the disk space of the next version ([`TokenStore::reserve`]),
//!   so a full disk stops it before the server rotates the refresh token, not after;
//! - readers need no lock (rename is atomic).
//!
//! Times are RFC 3339 UTC on the server-clock estimate of the run that wrote them.

use crate::api::Secret;
use crate::model::SiteId;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the file format.
const VERSION: u32 = 1;

/// One site's grant.
#[derive(Clone, PartialEq)]
pub struct Grant {
    pub site_id: SiteId,
    pub client_id: String,
    /// What was asked for at consent (the token response does not say).
    pub scopes: Vec<String>,
    pub external_id: Option<String>,
    pub access_token: Secret,
    pub access_expires: DateTime<Utc>,
    pub refresh_token: Secret,
    /// When the current refresh token was issued: its 30-day idle limit runs from here.
    pub refreshed_at: DateTime<Utc>,
    pub granted_at: DateTime<Utc>,
    /// `granted_at` plus the requested access duration (an estimate: Connect does not say).
    pub grant_ends: DateTime<Utc>,
    /// Successful refreshes since consent.
    pub refreshes: u64,
    /// Set when the server refused the refresh token for good.
    pub dead: Option<Dead>,
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // By hand, so a new token field cannot slip into a log line by derive.
        f.debug_struct("Grant")
            .field("site_id", &self.site_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("access_expires", &self.access_expires)
            .field("refreshed_at", &self.refreshed_at)
            .field("grant_ends", &self.grant_ends)
            .field("refreshes", &self.refreshes)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

/// Why and when a grant died.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dead {
    pub at: DateTime<Utc>,
    /// The server's OAuth error, e.g. `invalid_grant: invalid refresh_token: …`.
    pub reason: String,
}

/// A login that printed its consent URL and waits for the redirect (the `state` it sent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub state: String,
    pub created: DateTime<Utc>,
}

/// The whole store.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tokens {
    pub grants: Vec<Grant>,
    pub pending: Vec<Pending>,
}

impl Tokens {
    pub fn grant(&self, site: SiteId) -> Option<&Grant> {
        self.grants.iter().find(|g| g.site_id == site)
    }

    pub fn grant_mut(&mut self, site: SiteId) -> Option<&mut Grant> {
        self.grants.iter_mut().find(|g| g.site_id == site)
    }

    /// Adds or replaces the grant of its site.
    pub fn upsert(&mut self, grant: Grant) {
        self.grants.retain(|g| g.site_id != grant.site_id);
        self.grants.push(grant);
        self.grants.sort_by_key(|g| g.site_id);
    }
}

/// A store problem; never quotes the file's content.
#[derive(Debug)]
pub enum StoreError {
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    Corrupt {
        path: PathBuf,
        what: String,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { op, path, source } => {
                write!(f, "token store: cannot {op} {}: {source}", path.display())
            }
            StoreError::Corrupt { path, what } => {
                write!(f, "token store {} is unreadable: {what}", path.display())
            }
        }
    }
}

impl std::error::Error for StoreError {}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.to_path_buf();
    move |source| StoreError::Io { op, path, source }
}

/// Held while writing; dropping it (or the process dying) releases the lock.
pub struct StoreLock {
    _file: File,
}

/// The store file and its lock file.
#[derive(Clone, Debug)]
pub struct TokenStore {
    path: PathBuf,
}

impl TokenStore {
    pub fn new(path: impl Into<PathBuf>) -> TokenStore {
        TokenStore { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    fn sibling(&self, suffix: &str) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Prefix of the temporary files of this store (hidden, in the same directory).
    fn temp_prefix(&self) -> String {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "seh-tokens".into(), |n| n.to_string_lossy().into_owned());
        format!(".{name}.tmp.")
    }

    /// Reads the store; a missing file is an empty store.
    pub fn load(&self) -> Result<Tokens, StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Tokens::default()),
            Err(e) => return Err(io("read", &self.path)(e)),
        };
        decode(&text).map_err(|what| StoreError::Corrupt {
            path: self.path.clone(),
            what,
        })
    }

    /// Takes the exclusive writer lock, waiting for another process that holds it.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let path = self.sibling(".lock");
        let dir = self.dir();
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(io("create directory", &dir))?;
        }
        let file = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io("open lock file", &path))?;
        file.lock().map_err(io("lock", &path))?;
        Ok(StoreLock { _file: file })
    }

    /// Replaces the store atomically and durably (see the module doc).
    pub fn save(&self, tokens: &Tokens, lock: &StoreLock) -> Result<(), StoreError> {
        let r = self.reserve(tokens, lock)?;
        self.commit(r, tokens)
    }

    /// Claims the disk space of the next version before anything changes: a temporary file
    /// (mode 0600, in the store's directory) filled to well above the size `tokens` encode
    /// to, and fsynced. A refresh reserves before it asks the server to rotate the refresh
    /// token, so a full disk is found out while the old token still works, instead of after
    /// the server has replaced it (which would cost a new consent).
    pub fn reserve(&self, tokens: &Tokens, _lock: &StoreLock) -> Result<Reservation, StoreError> {
        let dir = self.dir();
        let prefix = self.temp_prefix();
        // Under the lock every temporary file is a leftover of a writer that died.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let tmp = dir.join(format!("{prefix}{}", std::process::id()));
        // The next version differs by a few token strings; twice the size plus 4 KiB is
        // ample, and overwriting blocks already written needs no new ones.
        let room = encode(tokens).len() * 2 + 4096;
        let file = private_options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        let mut r = Reservation {
            file: Some(file),
            tmp,
            room,
            committed: false,
        };
        let f = r.file.as_mut().expect("just opened");
        f.write_all(&vec![b' '; room])
            .and_then(|()| f.sync_all())
            .map_err(io("reserve disk space for the next version at", &r.tmp))?;
        Ok(r)
    }

    /// Writes `tokens` into the reserved file, then renames it over the store and fsyncs
    /// the directory.
    pub fn commit(&self, mut r: Reservation, tokens: &Tokens) -> Result<(), StoreError> {
        use std::io::{Seek, SeekFrom};
        let text = encode(tokens);
        if text.len() > r.room {
            log::debug!("token store: the new version outgrew its reservation");
        }
        let mut f = r.file.take().expect("a reservation is committed once");
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.write_all(text.as_bytes()))
            .and_then(|()| f.set_len(text.len() as u64))
            .and_then(|()| f.sync_all())
            .map_err(io("write", &r.tmp))?;
        drop(f);
        std::fs::rename(&r.tmp, &self.path).map_err(io("rename onto", &self.path))?;
        r.committed = true;
        // The rename itself must survive a power cut too (POSIX: fsync the directory).
        let dir = self.dir();
        #[cfg(unix)]
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io("fsync directory", &dir))?;
        Ok(())
    }
}

/// Disk space claimed for the next version of the store ([`TokenStore::reserve`]); dropped
/// without [`TokenStore::commit`], its temporary file is removed and the store is unchanged.
pub struct Reservation {
    file: Option<File>,
    tmp: PathBuf,
    room: usize,
    committed: bool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(unix)]
fn private_options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

#[cfg(not(unix))]
fn private_options() -> OpenOptions {
    OpenOptions::new()
}

// ----- the file format (private wire types; no Debug: they hold raw tokens) ---------------

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFile {
    version: u32,
    #[serde(default)]
    grants: Vec<WireGrant>,
    #[serde(default)]
    pending: Vec<WirePending>,
}

#[derive(Serialize, Deserialize)]
struct WireGrant {
    site_id: i64,
    client_id: String,
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    external_id: Option<String>,
    access_token: String,
    access_expires: String,
    refresh_token: String,
    refreshed_at: String,
    granted_at: String,
    grant_ends: String,
    refreshes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dead: Option<WireDead>,
}

#[derive(Serialize, Deserialize)]
struct WireDead {
    at: String,
    reason: String,
}

#[derive(Serialize, Deserialize)]
struct WirePending {
    state: String,
    created: String,
}

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn encode(t: &Tokens) -> String {
    let file = WireFile {
        version: VERSION,
        grants: t
            .grants
            .iter()
            .map(|g| WireGrant {
                site_id: g.site_id,
                client_id: g.client_id.clone(),
                scopes: g.scopes.clone(),
                external_id: g.external_id.clone(),
                access_token: g.access_token.expose().to_string(),
                access_expires: ts(&g.access_expires),
                refresh_token: g.refresh_token.expose().to_string(),
                refreshed_at: ts(&g.refreshed_at),
                granted_at: ts(&g.granted_at),
                grant_ends: ts(&g.grant_ends),
                refreshes: g.refreshes,
                dead: g.dead.as_ref().map(|d| WireDead {
                    at: ts(&d.at),
                    reason: d.reason.clone(),
                }),
            })
            .collect(),
        pending: t
            .pending
            .iter()
            .map(|p| WirePending {
                state: p.state.clone(),
                created: ts(&p.created),
            })
            .collect(),
    };
    let mut s = serde_json::to_string_pretty(&file).expect("plain data serialises");
    s.push('\n');
    s
}

/// Never quotes the text: serde's messages can contain a value, and values are tokens.
fn decode(text: &str) -> Result<Tokens, String> {
    let file: WireFile = serde_json::from_str(text).map_err(|e| {
        format!(
            "{} at line {} column {}",
            match e.classify() {
                serde_json::error::Category::Io => "i/o error",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "unexpected content",
                serde_json::error::Category::Eof => "truncated",
            },
            e.line(),
            e.column()
        )
    })?;
    if file.version != VERSION {
        return Err(format!(
            "format version {} (this seh reads {VERSION})",
            file.version
        ));
    }
    let time = |site: i64, field: &str, s: &str| {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("grant of site {site}: {field} is not an RFC 3339 time"))
    };
    let mut grants = Vec::new();
    for g in file.grants {
        if g.access_token.is_empty() || g.refresh_token.is_empty() {
            return Err(format!("grant of site {}: empty token", g.site_id));
        }
        grants.push(Grant {
            site_id: g.site_id,
            access_expires: time(g.site_id, "access_expires", &g.access_expires)?,
            refreshed_at: time(g.site_id, "refreshed_at", &g.refreshed_at)?,
            granted_at: time(g.site_id, "granted_at", &g.granted_at)?,
            grant_ends: time(g.site_id, "grant_ends", &g.grant_ends)?,
            dead: match g.dead {
                None => None,
                Some(d) => Some(Dead {
                    at: time(g.site_id, "dead.at", &d.at)?,
                    reason: d.reason,
                }),
            },
            client_id: g.client_id,
            scopes: g.scopes,
            external_id: g.external_id,
            access_token: Secret::new(g.access_token),
            refresh_token: Secret::new(g.refresh_token),
            refreshes: g.refreshes,
        });
    }
    let pending = file
        .pending
        .into_iter()
        .filter_map(|p| {
            Some(Pending {
                created: DateTime::parse_from_rfc3339(&p.created)
                    .ok()?
                    .with_timezone(&Utc),
                state: p.state,
            })
        })
        .collect();
    Ok(Tokens { grants, pending })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, h, 0, 0).unwrap()
    }

    pub(crate) fn grant(site: SiteId) -> Grant {
        Grant {
            site_id: site,
            client_id: "cid".into(),
            scopes: vec!["SITE_DATA".into(), "DEVICE_DATA".into()],
            external_id: Some("ext".into()),
            access_token: Secret::new("ACCESS-TOKEN-1"),
            access_expires: t(14),
            refresh_token: Secret::new("REFRESH-TOKEN-1"),
            refreshed_at: t(12),
            granted_at: t(12),
            grant_ends: t(12) + chrono::Months::new(24),
            refreshes: 0,
            dead: None,
        }
    }

    #[test]
    fn a_reservation_claims_space_and_leaves_the_store_alone_until_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("seh-tokens.json"));
        let mut tokens = Tokens::default();
        tokens.upsert(grant(1));
        let lock = store.lock().unwrap();
        store.save(&tokens, &lock).unwrap();
        let before = std::fs::read(store.path()).unwrap();
        let temps = || -> Vec<u64> {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(Result::unwrap)
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
                .map(|e| e.metadata().unwrap().len())
                .collect()
        };
        // Dropped: the space is given back, the store untouched.
        let r = store.reserve(&tokens, &lock).unwrap();
        let room = temps();
        assert_eq!(room.len(), 1);
        assert!(
            room[0] as usize > 2 * before.len(),
            "{room:?} vs {}",
            before.len()
        );
        drop(r);
        assert!(temps().is_empty());
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
        // Committed: exactly the new version, no padding left.
        let r = store.reserve(&tokens, &lock).unwrap();
        tokens.grants[0].refreshes += 1;
        store.commit(r, &tokens).unwrap();
        assert_eq!(store.load().unwrap(), tokens);
        assert_eq!(
            std::fs::read(store.path()).unwrap().len(),
            encode(&tokens).len()
        );
        assert!(temps().is_empty());
    }

    #[test]
    fn round_trip_private_and_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("seh-tokens.json"));
        assert_eq!(store.load().unwrap(), Tokens::default());
        let mut tokens = Tokens::default();
        tokens.upsert(grant(2));
        tokens.upsert(grant(1));
        tokens.grants[0].dead = Some(Dead {
            at: t(13),
            reason: "invalid_grant".into(),
        });
        tokens.pending.push(Pending {
            state: "abc".into(),
            created: t(12),
        });
        // A leftover of a killed writer is cleaned up.
        std::fs::write(dir.path().join(".seh-tokens.json.tmp.99999"), "{").unwrap();
        let lock = store.lock().unwrap();
        store.save(&tokens, &lock).unwrap();
        drop(lock);
        assert_eq!(store.load().unwrap(), tokens);
        assert_eq!(tokens.grants[0].site_id, 1, "sorted by site");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".tmp.")), "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn errors_and_debug_never_show_tokens() {
        let g = grant(7);
        let dbg = format!("{g:?}");
        assert!(!dbg.contains("TOKEN"), "{dbg}");
        let mut tokens = Tokens::default();
        tokens.upsert(g);
        let text = encode(&tokens);
        assert!(text.contains("REFRESH-TOKEN-1"));
        // Truncated, wrong types, wrong version: messages without content.
        let cut = &text[..text.len() / 2];
        let typed = text.replace("\"refreshes\": 0", "\"refreshes\": \"REFRESH-TOKEN-1\"");
        let version = text.replace("\"version\": 1", "\"version\": 9");
        for bad in [cut, &typed, &version, "", "[]"] {
            let e = decode(bad).unwrap_err();
            assert!(!e.contains("TOKEN"), "{e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("t.json"));
        std::fs::write(store.path(), cut).unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("unreadable") && !e.contains("TOKEN"), "{e}");
    }

    #[test]
    fn lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("sub/t.json"));
        let first = store.lock().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let s2 = store.clone();
        let h = std::thread::spawn(move || {
            let _second = s2.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx
            .recv_timeout(std::time::Duration::from_millis(200))
            .is_err());
        drop(first);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        h.join().unwrap();
    }
}
