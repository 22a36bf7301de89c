//! `seh export FORMAT DATASET...`: checks the flags (every mistake is exit 2 before the
//! database is touched), opens the database read-only, and hands `export::run` either
//! stdout or a temporary file beside `-o FILE` that is renamed over it only when complete,
//! so a failed export leaves no partial file and an existing one is never replaced
//! without `--force`.

use std::io::IsTerminal;
use std::path::Path;

use super::{db_fatal, print_out, Fatal, Outcome, ReadLock};
use crate::cli::ExportArgs;
use crate::config::Config;
use crate::exit::Exit;
use crate::export::{self, datasets, Dialect, Format, Request, TimeMode};
use crate::model::Resolution;
use crate::store;
use chrono::NaiveDate;

/// `seh export --list`: every dataset with one line about it.
pub fn list(_: &ExportArgs) -> Outcome {
    let mut out = String::new();
    for d in datasets::DATASETS {
        outln!(out, "{:<19} {}", d.name, d.about);
    }
    print_out(&out);
    Ok(Exit::Ok)
}

pub fn run(config: &Config, args: &ExportArgs) -> Outcome {
    let req = request(args).map_err(|m| Fatal::new(Exit::Config, anyhow::anyhow!(m)))?;
    if req.format == Format::Xlsx && args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(usage(
            "xlsx is a binary file and stdout is a terminal; write it with -o FILE.xlsx \
             or redirect stdout to a file",
        ));
    }
    let path = &config.database;
    // The destination is checked before the database is opened, so a wrong path costs
    // nothing; the temporary file is removed when dropped (any failure below).
    let mut tmp = match &args.output {
        Some(dest) => Some(temp_beside(dest, args.force)?),
        None => None,
    };
    let (store, _lock) = open(path)?;
    let dest = args
        .output
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |d| d.display().to_string());
    let out: export::Out<'_> = match tmp.as_mut() {
        Some(t) => Box::new(t.as_file_mut()),
        None => Box::new(std::io::stdout()),
    };
    let summary = match export::run(&store, &req, out) {
        Ok(s) => s,
        Err(export::Error::Store(e)) => return Err(db_fatal(path, e)),
        // `seh export csv energy | head`: the reader had enough.
        Err(export::Error::Write(e))
            if tmp.is_none() && e.kind() == std::io::ErrorKind::BrokenPipe =>
        {
            return Ok(Exit::Ok)
        }
        Err(export::Error::Write(e)) => {
            return Err(usage(format!("cannot write {dest}: {e}")));
        }
        Err(e) => return Err(usage(format!("export to {dest}: {e}"))),
    };
    if let (Some(t), Some(dest)) = (tmp, &args.output) {
        persist(t, dest, args.force)?;
    }
    for (name, rows) in summary {
        log::info!("export: {rows} rows of {name} to {dest}");
    }
    Ok(Exit::Ok)
}

fn usage(message: impl Into<String>) -> Fatal {
    Fatal::new(Exit::Config, anyhow::anyhow!(message.into()))
}

/// The flags as a validated [`Request`], or the one line saying what is wrong.
fn request(a: &ExportArgs) -> Result<Request, String> {
    let formats = Format::ALL.map(|(n, _)| n).join(", ");
    let Some((name, names)) = a.what.split_first() else {
        return Err(format!(
            "no format given: seh export FORMAT DATASET..., FORMAT one of {formats} \
             (`seh export --list` names the datasets)"
        ));
    };
    let format = Format::parse(name)
        .ok_or_else(|| format!("unknown export format {name:?}; use one of {formats}"))?;
    if names.is_empty() {
        return Err(format!(
            "no dataset given; name one of {} (`seh export --list`)",
            datasets::names()
        ));
    }
    let mut chosen: Vec<&'static datasets::Dataset> = Vec::new();
    for d in names {
        let ds = datasets::find(d).ok_or_else(|| {
            format!(
                "unknown dataset {d:?}; use one of {} (`seh export --list`)",
                datasets::names()
            )
        })?;
        if !chosen.iter().any(|c| std::ptr::eq(*c, ds)) {
            chosen.push(ds);
        }
    }
    if chosen.len() > 1 && !format.takes_several() {
        return Err(format!(
            "{name} holds one dataset; export each to its own file, or use xlsx or sql \
             for several"
        ));
    }
    let date = |flag: &str, v: &Option<String>| -> Result<Option<NaiveDate>, String> {
        v.as_deref()
            .map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| format!("{flag} {s:?} is not a date; use YYYY-MM-DD"))
            })
            .transpose()
    };
    let (from, to) = (date("--from", &a.from)?, date("--to", &a.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            return Err(format!("--to {t} is before --from {f}"));
        }
    }
    let resolution = a
        .resolution
        .as_deref()
        .map(|r| {
            Resolution::parse(&r.to_ascii_uppercase().replace('-', "_")).ok_or_else(|| {
                format!(
                    "unknown resolution {r:?}; use quarter-hour, hour, day, week, month or year"
                )
            })
        })
        .transpose()?;
    let time = match a.time.as_deref() {
        None | Some("local") => TimeMode::Local,
        Some("utc") => TimeMode::Utc,
        Some(t) => return Err(format!("unknown --time {t:?}; use local or utc")),
    };
    if a.wide && !chosen.iter().any(|d| d.pivots()) {
        return Err(
            "--wide applies to inverter-telemetry, meter-telemetry and storage-telemetry".into(),
        );
    }
    let delimiter = match a.delimiter {
        None => b',',
        Some(_) if format != Format::Csv => {
            return Err("--delimiter applies to csv only".into());
        }
        Some(c) if c.is_ascii() && !matches!(c, '"' | '\n' | '\r') => c as u8,
        Some(c) => {
            return Err(format!(
                "--delimiter {c:?} cannot separate CSV fields; use one ASCII character \
                 other than a quote or newline, e.g. ';'"
            ))
        }
    };
    let dialect = match a.dialect.as_deref() {
        None => Dialect::Sqlite,
        Some(_) if format != Format::Sql => return Err("--dialect applies to sql only".into()),
        Some(d) => Dialect::parse(d)
            .ok_or_else(|| format!("unknown --dialect {d:?}; use sqlite, postgres or mysql"))?,
    };
    Ok(Request {
        format,
        datasets: chosen,
        sites: a.site.clone(),
        from,
        to,
        resolution,
        time,
        wide: a.wide,
        delimiter,
        dialect,
    })
}

/// A temporary file in the directory of `dest`, so the final rename never crosses file
/// systems. Refuses an existing `dest` without `force`, and says so before any work.
fn temp_beside(dest: &Path, force: bool) -> Result<tempfile::NamedTempFile, Fatal> {
    if dest.is_dir() {
        return Err(usage(format!(
            "{} is a directory; give -o a file name",
            dest.display()
        )));
    }
    if dest.exists() && !force {
        return Err(usage(format!(
            "{} exists; seh export replaces a file only with --force",
            dest.display()
        )));
    }
    let dir = dest
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tempfile::Builder::new()
        .prefix(".seh-export.")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| usage(format!("cannot write {}: {e}", dest.display())))
}

/// Makes the complete temporary file `dest`: on disk first, then renamed (without
/// `force`, never over a file that appeared meanwhile).
fn persist(tmp: tempfile::NamedTempFile, dest: &Path, force: bool) -> Result<(), Fatal> {
    let fail = |e: std::io::Error| usage(format!("cannot write {}: {e}", dest.display()));
    tmp.as_file().sync_all().map_err(fail)?;
    // An export is no secret: readable like any file the user writes (the temporary
    // file starts private). A file system without modes (a FAT USB stick) may refuse.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = tmp
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644));
    }
    let done = if force {
        tmp.persist(dest).map(drop)
    } else {
        tmp.persist_noclobber(dest).map(drop)
    };
    done.map_err(|e| fail(e.error))
}

/// Opens the database for reading only. A plain read-only connection reads a WAL database
/// under SQLite's locks while a sync writes, creating at most the `-shm` index beside it;
/// where even that is impossible (a read-only card, another user's directory), the
/// reading commands' way ([`super::open_existing`]) takes over.
fn open(path: &Path) -> Result<(store::Store, ReadLock), Fatal> {
    if !path.exists() {
        return Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "database {} does not exist yet; run `seh init` or `seh sync`",
                path.display()
            ),
        ));
    }
    match store::Store::open_read_only(path, store::ReadOnlyAccess::Shared) {
        Ok(s) => {
            s.require_current().map_err(|e| db_fatal(path, e))?;
            Ok((s, ReadLock { _file: None }))
        }
        Err(e @ (store::Error::TooNew { .. } | store::Error::Corrupt { .. })) => {
            Err(db_fatal(path, e))
        }
        Err(e) => {
            log::debug!(
                "database {}: plain read-only open failed: {e}",
                path.display()
            );
            super::open_existing(path, super::Schema::Current)
        }
    }
}
