//! Packaging (issue 6) against the code: the config the .deb ships loads with seh's own
//! loader and names the package's database, and the exit codes seh.service treats as success
//! are the ones `exit::Exit` defines. The package itself is checked by scripts/pkgtest-quick
//! (contents, units) and scripts/pkgtest (install, systemd, ARM).

use seh::config::{self, Env};
use seh::exit::Exit;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo_file(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// What scripts/package does to packaging/seh.toml to make /etc/seh/seh.toml.
fn packaged_config(template: &str) -> String {
    let line = "# path = \"seh.db\"";
    assert_eq!(
        template.lines().filter(|l| *l == line).count(),
        1,
        "packaging/seh.toml must keep exactly one line `{line}`: scripts/package uncomments it"
    );
    template
        .lines()
        .map(|l| {
            if l == line {
                "path = \"/var/lib/seh/seh.db\""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn packaged_config_loads_and_names_the_state_directory() {
    let text = packaged_config(&repo_file("packaging/seh.toml"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seh.toml");
    std::fs::write(&path, text).unwrap();
    let cfg = config::load(Some(&path), &Env::default()).expect("the packaged config loads");
    assert_eq!(cfg.database, PathBuf::from("/var/lib/seh/seh.db"));
}

fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .collect()
}

#[test]
fn service_success_codes_are_busy_credits_and_interrupted() {
    let unit = repo_file("packaging/systemd/seh.service");
    let codes: BTreeSet<u8> = unit_values(&unit, "SuccessExitStatus")
        .iter()
        .flat_map(|v| v.split_whitespace().map(|c| c.parse::<u8>().expect(c)))
        .collect();
    let expected: BTreeSet<u8> = [Exit::Busy, Exit::Credits, Exit::Interrupted]
        .iter()
        .map(|e| e.code())
        .collect();
    assert_eq!(codes, expected, "update README and packaging/README.md too");
}

#[test]
fn service_runs_the_packaged_binary_on_the_packaged_paths() {
    let unit = repo_file("packaging/systemd/seh.service");
    assert_eq!(
        unit_values(&unit, "ExecStart"),
        ["/usr/bin/seh --config /etc/seh/seh.toml sync"]
    );
    assert_eq!(unit_values(&unit, "StateDirectory"), ["seh"]);
    assert_eq!(unit_values(&unit, "User"), ["seh"]);
    assert_eq!(unit_values(&unit, "Type"), ["oneshot"]);
}
