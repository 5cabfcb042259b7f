//! `signer-agent` binary: parse, set up tracing, call the library, map the error to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = signer_agent::cli::Cli::parse();
    signer_agent::cli::init_tracing(cli.global.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("signer-agent: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(signer_agent::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                // Variants that already show their cause (an HSM error, an IO error) are not
                // followed by it again: every error is printed once.
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(": ");
                    msg.push_str(&text);
                }
                source = s.source();
            }
            eprintln!("signer-agent: {msg}");
            ExitCode::from(e.exit_code())
        }
    }
}
