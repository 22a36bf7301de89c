//! The `seh` binary: parse arguments, start logging, run the command, exit with its code.
//! Everything else lives in the library (`src/lib.rs`).

use argh::FromArgs;
use seh::cli::Args;
use seh::exit::Exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv = expand_short_repeats(std::env::args().collect());
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let args = match Args::from_args(&["seh"], strs.get(1..).unwrap_or(&[])) {
        Ok(a) => a,
        Err(early) => {
            // `--help` is a success; a usage error exits 2 like any configuration error.
            return if early.status.is_ok() {
                print!("{}", early.output);
                // The exit codes and the package's layout belong to seh as a whole, not to
                // a subcommand's help.
                if early.output.starts_with("Usage: seh [") {
                    println!("\n{}\n\n{}", seh::exit::TABLE, seh::cli::PACKAGE_HELP);
                }
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", early.output.trim_end());
                eprintln!("Run seh --help for usage.");
                ExitCode::from(Exit::Config.code())
            };
        }
    };
    if args.version {
        println!("seh {}", env!("CARGO_PKG_VERSION"));
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

#[cfg(test)]
mod tests {
    use super::expand_short_repeats;

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
