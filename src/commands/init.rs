//! `seh init`: write a fully commented example configuration if none exists, then create or
//! migrate the database it names.

use super::{open_store, print_out, Fatal, Outcome};
use crate::config::{self, Env};
use crate::exit::Exit;
use std::path::{Path, PathBuf};

pub fn run(cli: Option<&Path>, env: &Env) -> Outcome {
    let path: PathBuf = cli
        .map(Path::to_path_buf)
        .or_else(|| env.config.clone())
        .unwrap_or_else(|| PathBuf::from("seh.toml"));
    if path.exists() {
        print_out(&format!(
            "config {} exists; leaving it as it is\n",
            path.display()
        ));
    } else {
        write_private(&path, config::EXAMPLE).map_err(|e| {
            Fatal::new(
                Exit::Config,
                anyhow::anyhow!("cannot write {}: {e}", path.display()),
            )
        })?;
        print_out(&format!(
            "wrote {} (edit it: set [api] key)\n",
            path.display()
        ));
    }
    let cfg = config::load(Some(&path), env).map_err(|e| Fatal::new(Exit::Config, e))?;
    let store = open_store(&cfg.database)?;
    let version = store
        .schema_version()
        .map_err(|e| super::db_fatal(&cfg.database, e))?;
    print_out(&format!(
        "database {} is ready (schema version {version})\n",
        cfg.database.display()
    ));
    Ok(Exit::Ok)
}

/// The example holds no secret yet, but will once edited: create it 0600.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
