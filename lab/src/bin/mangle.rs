//! `mangle CASE RTMP_URL`: publishes one case of the corpus of nasty streams (ffmpeg's
//! live test pattern, rewritten) to `RTMP_URL`, until killed. `mangle --list` prints
//! the cases, one per line: name, a tab, what it does.

use std::process::ExitCode;

use flashless_lab::mangle::{self, CASES, Case};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [list] if list == "--list" => {
            for case in CASES {
                println!("{}\t{}", case.name, case.what);
            }
            ExitCode::SUCCESS
        }
        [name, url] => {
            let Some(case) = Case::find(name) else {
                eprintln!("mangle: no case `{name}` (see `mangle --list`)");
                return ExitCode::FAILURE;
            };
            match mangle::run(case, url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mangle {name}: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("usage: mangle CASE RTMP_URL | mangle --list");
            ExitCode::FAILURE
        }
    }
}
