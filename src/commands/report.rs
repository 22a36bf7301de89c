//! `seh report -o FILE.html`: the one-file HTML report (`crate::html_report`). Reads the
//! database in one read transaction and never writes it; the page goes to a temporary
//! file beside FILE and is renamed onto it, so a reader never sees half a page and an
//! existing FILE is replaced only with `--force`.

use super::{db_fatal, print_out, Fatal, Outcome};
use crate::cli::ReportArgs;
use crate::config::Config;
use crate::exit::Exit;
use crate::html_report::{self, page, Options};
use chrono::{NaiveDate, Utc};
use std::io::Write as _;
use std::path::Path;

pub fn run(config: &Config, args: &ReportArgs) -> Outcome {
    let from = date("--from", args.from.as_deref())?;
    let to = date("--to", args.to.as_deref())?;
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(usage(format!("--from {f} is after --to {t}; swap them")));
        }
    }
    let dest = &args.output;
    if dest.is_dir() {
        return Err(usage(format!(
            "-o {} is a directory; name a file in it, e.g. {}",
            dest.display(),
            dest.join("seh-report.html").display()
        )));
    }
    if dest.exists() && !args.force {
        return Err(exists(dest));
    }
    let path = &config.database;
    let (store, _lock) = super::open_existing(path, super::Schema::Current)?;
    let known: Vec<i64> = store
        .site_rows()
        .map_err(|e| db_fatal(path, e))?
        .iter()
        .map(|s| s.site_id)
        .collect();
    if let Some(unknown) = args.site.iter().find(|id| !known.contains(id)) {
        return Err(usage(format!(
            "--site {unknown}: no such site in {} (stored: {}); `seh status` lists them",
            path.display(),
            list(&known)
        )));
    }
    let opts = Options {
        sites: args.site.clone(),
        from,
        to,
    };
    let report = html_report::gather(&store, &opts, Utc::now()).map_err(|e| db_fatal(path, e))?;
    let html = page::render(&report);
    write_page(dest, html.as_bytes(), args.force)?;
    print_out(&format!(
        "report: {} ({} sites, {} KB)\n",
        dest.display(),
        report.sites.len(),
        html.len().div_ceil(1024)
    ));
    Ok(Exit::Ok)
}

fn usage(message: String) -> Fatal {
    Fatal::new(Exit::Config, anyhow::anyhow!(message))
}

fn exists(dest: &Path) -> Fatal {
    usage(format!(
        "{} exists; seh report replaces a file only with --force",
        dest.display()
    ))
}

fn list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return "none".into();
    }
    ids.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `YYYY-MM-DD`, or a usage error naming the flag.
fn date(flag: &str, text: Option<&str>) -> Result<Option<NaiveDate>, Fatal> {
    let Some(text) = text else { return Ok(None) };
    text.parse::<NaiveDate>()
        .map(Some)
        .map_err(|_| usage(format!("{flag} {text:?} is not a date; write YYYY-MM-DD")))
}

/// Writes `bytes` to a temporary file in `dest`'s directory, flushes it to disk and
/// renames it onto `dest` (only onto an existing file with `force`).
fn write_page(dest: &Path, bytes: &[u8], force: bool) -> Result<(), Fatal> {
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let cannot = |e: &dyn std::fmt::Display| {
        Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "cannot write report {}: {e}; choose a writable directory with -o",
                dest.display()
            ),
        )
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".seh-report")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| cannot(&e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| cannot(&e))?;
    let persisted = if force {
        tmp.persist(dest).map(drop)
    } else {
        tmp.persist_noclobber(dest).map(drop)
    };
    match persisted {
        Ok(()) => Ok(()),
        // Another process created it since the check at the start.
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(dest)),
        Err(e) => Err(cannot(&e.error)),
    }
}
