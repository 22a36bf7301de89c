//! The `seh` binary: parse arguments, start logging, run the command, exit with its code.
//! Everything else lives in the library (`src/lib.rs`).

use argh::FromArgs;
use seh::cli::Args;
use seh::exit::Exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = hoist_global_flags(expand_short_repeats(std::env::args().collect()));
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = match Args::from_args(&["seh"], strs.get(1..).unwrap_or(&[])) {
        Ok(a) => a,
        Err(early) => {
            // `--help` is a success; a usage error exits 2 like any configuration error.
            return if early.status.is_ok() {
                // Through print_out: `seh --help | head` closes the pipe early, which must
                // not panic.
                let mut help = early.output.clone();
                // The exit codes and the package's layout belong to seh as a whole, not to
                // a subcommand's help.
                if early.output.starts_with("Usage: seh [") {
                    help += &format!("\n{}\n\n{}\n", seh::exit::TABLE, seh::cli::PACKAGE_HELP);
                }
                seh::commands::print_out(&seh::display::fit_help(&help));
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", early.output.trim_end());
                eprintln!("Run seh --help for usage.");
                ExitCode::from(Exit::Config.code())
            };
        }
    };
    if args.version {
        seh::commands::print_out(&format!("seh {}\n", env!("CARGO_PKG_VERSION")));
        return ExitCode::SUCCESS;
    }
    seh::logging::init(seh::logging::level(args.verbose, args.quiet));
    match seh::commands::run(args) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(fatal) => {
            // One line: the context chain joined with ": ".
            eprintln!("seh: {:#}", fatal.error);
            ExitCode::from(fatal.exit.code())
        }
    }
}

/// argh takes `-v -v` but not `-vv`; spell repeated `-v`/`-q` out so both work.
fn expand_short_repeats(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        let letters = a
            .strip_prefix('-')
            .filter(|r| r.len() > 1 && !r.starts_with('-'));
        match letters {
            Some(r) if r.chars().all(|c| c == 'v') || r.chars().all(|c| c == 'q') => {
                out.extend(r.chars().map(|c| format!("-{c}")));
            }
            _ => out.push(a),
        }
    }
    out
}

/// argh takes the global flags (`--config FILE`, `-v`, `-q`) only before the subcommand;
/// users type them after it too (`seh status --config FILE`, `seh sync -q`). Move them to
/// the front wherever they stand, up to a `--`.
fn hoist_global_flags(args: Vec<String>) -> Vec<String> {
    let mut iter = args.into_iter();
    let mut front: Vec<String> = iter.next().into_iter().collect();
    let mut rest = Vec::new();
    while let Some(a) = iter.next() {
        match a.as_str() {
            "--" => {
                rest.push(a);
                rest.extend(iter.by_ref());
            }
            "-v" | "-q" | "--verbose" | "--quiet" => front.push(a),
            "--config" => {
                front.push(a);
                front.extend(iter.next());
            }
            _ => rest.push(a),
        }
    }
    front.extend(rest);
    front
}

#[cfg(test)]
mod tests {
    use super::{expand_short_repeats, hoist_global_flags};

    #[test]
    fn global_flags_are_taken_on_either_side_of_the_subcommand() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            hoist_global_flags(v(&["seh", "status", "--config", "a.toml", "--json"])),
            v(&["seh", "--config", "a.toml", "status", "--json"])
        );
        assert_eq!(
            hoist_global_flags(v(&["seh", "sync", "-q", "--only", "energy", "-v"])),
            v(&["seh", "-q", "-v", "sync", "--only", "energy"])
        );
        assert_eq!(
            hoist_global_flags(v(&["seh", "-v", "auth", "login", "--listen", "x:1"])),
            v(&["seh", "-v", "auth", "login", "--listen", "x:1"])
        );
        // Nothing after `--` is a flag of seh's.
        assert_eq!(
            hoist_global_flags(v(&["seh", "sync", "--", "-v"])),
            v(&["seh", "sync", "--", "-v"])
        );
    }

    #[test]
    fn repeated_short_flags_are_spelled_out() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            expand_short_repeats(v(&["seh", "-vv", "sync"])),
            v(&["seh", "-v", "-v", "sync"])
        );
        assert_eq!(
            expand_short_repeats(v(&["seh", "-qq"])),
            v(&["seh", "-q", "-q"])
        );
        assert_eq!(
            expand_short_repeats(v(&["seh", "-v", "--full", "-vq"])),
            v(&["seh", "-v", "--full", "-vq"])
        );
    }
}
