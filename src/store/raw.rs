//! The raw response archive (`seh_raw_responses`): every body the API returned, gzip
//! compressed, with the request that produced it.
//!
//! The archive is the source of truth from which `reprocess` rebuilds every data table
//! without an API call, so a body is stored byte for byte and checked against its length
//! on the way out. Nothing here parses JSON; that is `api`'s job.

use std::io::{Read, Write};

use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::params;

use super::{fmt_ts, parse_ts, Context, Error, Store, Tx};
use crate::model::SiteId;

/// One archived response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResponse {
    /// When the response arrived (stored to the second).
    pub fetched_at: DateTime<Utc>,
    /// Request path below the base URL, e.g. `/sites/123/energy`.
    pub path: String,
    /// Query string in canonical form, see [`canonical_query`].
    pub query: String,
    /// HTTP status.
    pub status: u16,
    /// The site the request was about; `None` for fleet-level requests.
    pub site_id: Option<SiteId>,
    /// The harvest family name (`energy`, `devices`, ...), so `reprocess` knows the parser.
    pub family: String,
    /// The body exactly as received.
    pub body: Vec<u8>,
    /// Why the parser rejected this 2xx body; `None` when its rows are stored.
    pub unreadable: Option<String>,
}

/// Canonical query text: `k=v` pairs joined with `&`, sorted by key, repeated keys kept in
/// the order given, nothing percent-encoded. Two requests asking the same thing produce
/// the same text.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut sorted = pairs.to_vec();
    // Stable: repeated keys (`types=A&types=B`) keep their order.
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn compress(body: &[u8]) -> Result<Vec<u8>, Error> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(body.len() / 4 + 64),
        Compression::default(),
    );
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .map_err(|source| Error::Io {
            what: "compress raw response",
            source,
        })
}

fn decompress(gz: &[u8], len: usize) -> Result<Vec<u8>, Error> {
    let what = "decompress raw response";
    let mut body = Vec::with_capacity(len);
    GzDecoder::new(gz)
        .read_to_end(&mut body)
        .map_err(|source| Error::Io { what, source })?;
    if body.len() != len {
        return Err(bad_archive("archived body length does not match"));
    }
    Ok(body)
}

/// A row of the archive that cannot be what `archive_raw` wrote.
fn bad_archive(detail: &'static str) -> Error {
    Error::Io {
        what: "read raw responses",
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, detail),
    }
}

impl Tx<'_> {
    /// Archives a response; returns its id. Part of the caller's transaction, so the raw
    /// body, its rows and the cursor commit or vanish together.
    pub fn archive_raw(&mut self, raw: &RawResponse) -> Result<i64, Error> {
        let query = "archive raw response";
        let gz = compress(&raw.body)?;
        self.tx
            .prepare_cached(
                "INSERT INTO seh_raw_responses \
                 (fetched_at, path, query, status, site_id, family, body_gz, body_len, \
                 unreadable) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .ctx(query)?
            .execute(params![
                fmt_ts(&raw.fetched_at),
                raw.path,
                raw.query,
                raw.status,
                raw.site_id,
                raw.family,
                gz,
                raw.body.len() as i64,
                raw.unreadable,
            ])
            .ctx(query)?;
        Ok(self.tx.last_insert_rowid())
    }

    /// Marks an archived response unreadable (`why`), or readable again (`None`).
    pub fn set_raw_unreadable(&mut self, id: i64, why: Option<&str>) -> Result<(), Error> {
        self.tx
            .execute(
                "UPDATE seh_raw_responses SET unreadable = ?2 WHERE id = ?1",
                params![id, why],
            )
            .ctx("mark raw response")?;
        Ok(())
    }
}

/// How many archived responses `raw_responses_iter` holds in memory at once.
const PAGE: usize = 64;

impl Store {
    /// How many archived 2xx bodies seh could not parse, and the newest one's reason.
    pub fn unreadable_responses(&self) -> Result<(i64, Option<String>), Error> {
        self.conn
            .query_row(
                "SELECT COUNT(*), (SELECT path || ': ' || unreadable FROM seh_raw_responses \
                 WHERE unreadable IS NOT NULL ORDER BY id DESC LIMIT 1) \
                 FROM seh_raw_responses WHERE unreadable IS NOT NULL",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("count unreadable responses")
    }

    /// Calls `f` with every archived response in archive order (id ascending),
    /// decompressed. Returns how many were visited.
    ///
    /// Responses are read in small pages and no statement is open while `f` runs, so `f`
    /// gets the store back and can write (for `reprocess`: one transaction per response).
    /// An error from `f` stops the walk.
    pub fn raw_responses_iter<E>(
        &mut self,
        mut f: impl FnMut(&mut Store, i64, RawResponse) -> Result<(), E>,
    ) -> Result<usize, E>
    where
        E: From<Error>,
    {
        let mut after = 0i64;
        let mut visited = 0;
        loop {
            let page = self.raw_page(after)?;
            let Some(&(last, _)) = page.last() else {
                return Ok(visited);
            };
            after = last;
            for (id, raw) in page {
                f(self, id, raw)?;
                visited += 1;
            }
        }
    }

    fn raw_page(&self, after: i64) -> Result<Vec<(i64, RawResponse)>, Error> {
        let query = "read raw responses";
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, fetched_at, path, query, status, site_id, family, body_gz, body_len, \
                 unreadable FROM seh_raw_responses WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .ctx(query)?;
        let rows = stmt
            .query_map(params![after, PAGE as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, u16>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .ctx(query)?;
        let mut page = Vec::with_capacity(PAGE);
        for row in rows {
            let (id, fetched_at, path, query_text, status, site_id, family, gz, len, unreadable) =
                row.ctx(query)?;
            let fetched_at = parse_ts(&fetched_at)
                .ok_or_else(|| bad_archive("archived fetched_at is not an instant"))?;
            let len = usize::try_from(len)
                .map_err(|_| bad_archive("archived body length is negative"))?;
            let body = decompress(&gz, len)?;
            page.push((
                id,
                RawResponse {
                    fetched_at,
                    path,
                    query: query_text,
                    status,
                    site_id,
                    family,
                    body,
                    unreadable,
                },
            ));
        }
        Ok(page)
    }
}
