//! `seh backup DEST`: a consistent copy of the database in a new private file, e.g. for a
//! USB stick. Copying `seh.db` with `cp` while a sync writes can catch it half-way (and
//! misses the `-wal` file); this copies inside one read transaction instead, so it is safe
//! at any moment and never blocks the sync.

use super::{print_out, Fatal, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use std::path::Path;

pub fn run(config: &Config, dest: &Path) -> Outcome {
    let path = &config.database;
    // Any schema: a copy is the way to rescue an older database from a read-only card.
    let (store, _lock) = super::open_existing(path, super::Schema::Any)?;
    // Created here, empty and 0600, so the copy is private from its first byte and an
    // existing file is refused rather than overwritten.
    if let Err(e) = super::create_private(dest) {
        let (exit, why) = if e.kind() == std::io::ErrorKind::AlreadyExists {
            let why = "it exists; seh backup never overwrites a file";
            (Exit::Config, why.to_string())
        } else {
            (Exit::Database, e.to_string())
        };
        return Err(Fatal::new(
            exit,
            anyhow::anyhow!("cannot create backup {}: {why}", dest.display()),
        ));
    }
    let verdict = match store.backup_to(dest) {
        Ok(v) => v,
        Err(e) => {
            // A partial copy is worse than none: it looks like a backup.
            let _ = std::fs::remove_file(dest);
            return Err(Fatal::new(
                Exit::Database,
                anyhow::anyhow!("backup {}: {e}", dest.display()),
            ));
        }
    };
    if verdict != "ok" {
        let _ = std::fs::remove_file(dest);
        return Err(Fatal::new(
            Exit::Database,
            anyhow::anyhow!(
                "backup {} failed its check ({verdict}); removed",
                dest.display()
            ),
        ));
    }
    let size = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    print_out(&format!(
        "backup: {} ({size} bytes, quick_check ok)\n",
        dest.display()
    ));
    Ok(Exit::Ok)
}
