//! Tidy: the invariants of ARCHITECTURE.md that a reading of the source can check, in the
//! manner of rust-analyzer's `xtask tidy`. Each failure names the rule and the file.
//!
//! Test code (`#[cfg(test)]` modules, `tests.rs`, `fuzz.rs`) and comments are exempt from
//! the layering rules: tests may reach anywhere, and a comment may name a crate.

use std::fs;
use std::path::{Path, PathBuf};

/// Longest a source file may grow before its `#[cfg(test)]` module; longer files are split
/// by job.
const MAX_LINES: usize = 800;

/// Files allowed past [`MAX_LINES`], each with its reason.
const LONG_FILES: &[(&str, &str)] = &[
    (
        "src/api/fuzz.rs",
        "test data: seed bodies and generators of every parser",
    ),
    (
        "src/api/tests.rs",
        "test data: one case per answer the client must classify",
    ),
    (
        "src/store/tests.rs",
        "test data: one case per table and rule of the store",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every `.rs` file of both packages' sources, as (path relative to the root, text).
fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("sim/src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root()).unwrap().display().to_string();
            (rel, fs::read_to_string(&p).unwrap())
        })
        .collect()
}

/// The lines before the file's inline test module (`#[cfg(test)]` then `mod … {`); a
/// `#[cfg(test)] mod tests;` declaration does not end them.
fn before_tests(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = (0..lines.len())
        .find(|&i| {
            lines[i].trim() == "#[cfg(test)]"
                && lines.get(i + 1).is_some_and(|n| {
                    n.trim_start().starts_with("mod ") && n.trim_end().ends_with('{')
                })
        })
        .unwrap_or(lines.len());
    lines[..end].to_vec()
}

/// The lines of non-test code, without comments.
fn code_lines(rel: &str, text: &str) -> Vec<String> {
    if rel.ends_with("/tests.rs") || rel.ends_with("/fuzz.rs") {
        return Vec::new();
    }
    before_tests(text)
        .into_iter()
        .map(str::trim)
        .filter(|l| !l.starts_with("//"))
        .map(String::from)
        .collect()
}

/// Fails with every line of `src/` outside `allowed` (path prefixes) that contains `what`.
fn only_in(what: &str, allowed: &[&str], rule: &str) {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        if !rel.starts_with("src/") || allowed.iter().any(|a| rel.starts_with(a)) {
            continue;
        }
        for line in code_lines(&rel, &text) {
            if line.contains(what) {
                bad.push(format!("{rel}: {line}"));
            }
        }
    }
    assert!(bad.is_empty(), "{rule}:\n{}", bad.join("\n"));
}

#[test]
fn every_source_file_says_what_it_owns() {
    let bad: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| !text.trim_start().starts_with("//!"))
        .map(|(rel, _)| rel)
        .collect();
    assert!(
        bad.is_empty(),
        "every source file opens with a //! paragraph: {bad:?}"
    );
}

#[test]
fn no_sql_outside_the_store() {
    only_in(
        "rusqlite",
        &["src/store/"],
        "rusqlite is used only in store (ARCHITECTURE: no SQL outside store)",
    );
}

#[test]
fn remote_databases_only_in_push() {
    for client in ["postgres::", "mysql::", "tokio_postgres"] {
        only_in(
            client,
            &["src/push/"],
            "the PostgreSQL and MySQL clients are used only in push (ARCHITECTURE: remote SQL \
             only in push)",
        );
    }
}

#[test]
fn no_http_outside_the_api_client() {
    // The one other HTTP caller: a notification's webhook POST, to a receiver the owner
    // configured; it must not go through the SolarEdge client's credit ledger and limiter.
    only_in(
        "ureq",
        &["src/api/", "src/notify/webhook.rs"],
        "ureq is used only in api and notify::webhook (ARCHITECTURE: no HTTP outside the \
         API client and the webhook)",
    );
}

#[test]
fn the_environment_is_read_only_by_config() {
    only_in(
        "env::var",
        &["src/config.rs"],
        "only config reads the process environment (ARCHITECTURE)",
    );
}

#[test]
fn api_and_store_never_import_each_other() {
    only_in(
        "crate::store",
        &[
            "src/commands/",
            "src/export/",
            "src/harvest/",
            "src/html_report/",
            "src/notify/",
            "src/push/",
            "src/status/",
            "src/store/",
            "src/main.rs",
        ],
        "api, model, clock, budget and display never import store",
    );
    for (rel, text) in sources() {
        let lines = code_lines(&rel, &text);
        if rel.starts_with("src/store/") {
            let bad: Vec<&String> = lines.iter().filter(|l| l.contains("crate::api")).collect();
            assert!(bad.is_empty(), "store never imports api: {rel}: {bad:?}");
        }
        if rel == "src/model.rs" {
            let bad: Vec<&String> = lines.iter().filter(|l| l.contains("crate::")).collect();
            assert!(bad.is_empty(), "model imports no other seh module: {bad:?}");
        }
    }
}

#[test]
fn files_stay_short() {
    let mut bad = Vec::new();
    for (rel, text) in sources() {
        let n = before_tests(&text).len();
        let excused = LONG_FILES.iter().any(|(f, _)| *f == rel);
        if n > MAX_LINES && !excused {
            bad.push(format!("{rel}: {n} lines"));
        }
        if excused && n <= MAX_LINES {
            bad.push(format!(
                "{rel}: {n} lines, no longer needs its LONG_FILES entry"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "files longer than {MAX_LINES} lines before their tests are split by job (or listed with a reason in \
         LONG_FILES):\n{}",
        bad.join("\n")
    );
}
