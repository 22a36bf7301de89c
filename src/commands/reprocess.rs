//! `seh reprocess`: rebuild every data table from the raw archive with zero API calls.
//! Cursors, the call ledger and the run log are kept.

use super::{db_fatal, lock_run, open_store, Fatal, Outcome};
use crate::config::Config;
use crate::exit::Exit;
use crate::harvest::family::{self, Family};
use crate::store;

pub fn run(config: &Config) -> Outcome {
    let _lock = lock_run(&config.database)?;
    let mut store = open_store(&config.database)?;
    store
        .clear_derived_tables()
        .map_err(|e| db_fatal(&config.database, e))?;
    let mut rows = 0usize;
    let mut skipped = 0usize;
    let (mut recovered, mut still) = (0usize, 0usize);
    let visited = store.raw_responses_iter(|s, id, raw| -> Result<(), store::Error> {
        let Some(fam) = Family::parse(&raw.family) else {
            log::warn!(
                "raw response {id}: unknown family {:?}; skipped",
                raw.family
            );
            skipped += 1;
            return Ok(());
        };
        let body = String::from_utf8_lossy(&raw.body).into_owned();
        let was_unreadable = raw.unreadable.is_some();
        let result = s.transaction(|tx| -> Result<usize, family::ApplyError> {
            let n = family::apply(tx, fam, raw.site_id, &raw.query, &body, raw.fetched_at)?;
            if was_unreadable {
                tx.set_raw_unreadable(id, None)?;
            }
            Ok(n)
        });
        match result {
            Ok(n) => {
                rows += n;
                recovered += usize::from(was_unreadable);
            }
            Err(family::ApplyError::Store(e)) => return Err(e),
            // Rejected when it arrived and still: known, kept for a later seh.
            Err(e) if was_unreadable => {
                log::debug!("raw response {id} ({}): still unreadable: {e}", raw.path);
                still += 1;
            }
            Err(e) => {
                log::warn!("raw response {id} ({}): {e}; skipped", raw.path);
                let why = e.to_string();
                s.transaction(|tx| tx.set_raw_unreadable(id, Some(&why)))?;
                skipped += 1;
            }
        }
        Ok(())
    });
    let visited = visited.map_err(|e| db_fatal(&config.database, e))?;
    log::info!(
        "reprocess: {visited} archived responses, {rows} rows written, {skipped} skipped, 0 calls"
    );
    if recovered > 0 {
        log::info!("reprocess: {recovered} responses seh could not read before were read now");
    }
    if still > 0 {
        log::info!(
            "reprocess: {still} responses seh could not read when they arrived still cannot be \
             read; they stay archived for a later version"
        );
    }
    if skipped > 0 {
        return Err(Fatal::new(
            Exit::Partial,
            anyhow::anyhow!("{skipped} archived responses could not be reprocessed"),
        ));
    }
    Ok(Exit::Ok)
}
