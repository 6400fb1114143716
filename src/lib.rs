//! qctl: kubectl for Redis-backed job queues.
//!
//! Data flows one way: `cli` -> `settings` -> `select` -> `fanout`
//! (`connect`, `inspect`) -> `output`. `main.rs` only calls [`run`].

pub(crate) mod actions;
pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod complete;
pub(crate) mod connect;
pub(crate) mod contexts;
pub(crate) mod demo;
pub mod error;
pub(crate) mod fanout;
pub(crate) mod host;
pub(crate) mod inspect;
pub(crate) mod limits;
pub(crate) mod man;
pub(crate) mod output;
pub(crate) mod params;
pub(crate) mod progress;
pub(crate) mod select;
pub(crate) mod settings;
pub(crate) mod systems;

use clap::FromArgMatches;
use cli::{Cli, Command, OutputFormat};
use error::{CliError, ExitCode};
use settings::Settings;
use std::io::Write;

/// Runs qctl with the process's arguments and returns the exit code.
pub fn run() -> ExitCode {
    // A shell asking for completions (`COMPLETE=bash qctl -- ...`): answered
    // before anything else can print.
    if let Some(code) = complete::from_env() {
        return code;
    }
    // Parsed with the decorated command (examples, hidden globals), as the
    // help shows it; an unknown verb gets a did-you-mean.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut cmd = cli::help::command();
    let parsed = cmd
        .try_get_matches_from_mut(&args)
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(unknown) = cli::help::unknown_command(&cmd, &args, &e) {
                return report(unknown);
            }
            let e = e.format(&mut cmd);
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Ok
            };
        }
    };
    // rustls needs one crypto provider per process, before the first TLS
    // connection (the redis crate selects none).
    let _ = rustls::crypto::ring::default_provider().install_default();
    match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => report(e),
    }
}

/// Prints a command-level error: one line, and a hint when there is one.
fn report(e: CliError) -> ExitCode {
    if e.code == ExitCode::Ok {
        // A closed pipe: exit quietly.
        return ExitCode::Ok;
    }
    eprintln!("error: {}", output::escape_controls(&e.message));
    if let Some(h) = &e.hint {
        eprintln!("  hint: {}", output::escape_controls(h));
    }
    e.code
}

fn dispatch(cli: &Cli) -> Result<ExitCode, CliError> {
    if let Command::Version = cli.command {
        let p = output::Printer {
            format: cli
                .global
                .output
                .as_ref()
                .map_or(OutputFormat::Table, |o| o.format),
            color: false,
            no_headers: false,
            quiet: false,
            columns: cli.global.output.as_ref().and_then(|o| o.columns.clone()),
        };
        let version = env!("CARGO_PKG_VERSION");
        if p.is_machine() {
            p.document(&serde_json::json!({
                "apiVersion": "qctl/v1",
                "kind": "Version",
                "name": "qctl",
                "version": version
            }))?;
        } else {
            p.stdout(&format!("qctl {version}\n"))?;
        }
        return Ok(ExitCode::Ok);
    }
    match &cli.command {
        Command::Completion { shell } => {
            let script = complete::registration(*shell)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&script)?;
            out.flush()?;
            return Ok(ExitCode::Ok);
        }
        Command::GenerateMan { dir } => {
            if dir.exists() && !dir.is_dir() {
                return Err(
                    CliError::usage(format!("{}: not a directory", dir.display()))
                        .with_hint("name the directory to write the pages into, e.g. man"),
                );
            }
            let pages = man::write_pages(dir).map_err(|e| {
                CliError::failure(format!("{}: cannot write man pages: {e}", dir.display()))
            })?;
            if !cli.global.quiet {
                eprintln!("wrote {} man pages to {}", pages.len(), dir.display());
            }
            return Ok(ExitCode::Ok);
        }
        Command::Demo(a) => {
            // Its own servers and contexts file: the user's is not read.
            return demo::run(a, cli.global.quiet);
        }
        _ => {}
    }
    let config = contexts::load(cli.global.config.as_deref())?;
    // Every verb from here on reads the contexts file: without one, say
    // which files were looked at rather than show an empty answer.
    if config.sources.is_empty() {
        return Err(contexts::no_contexts_file(config.location.as_ref()));
    }
    let settings = Settings::resolve(&cli.global, &config, OutputFormat::Table);
    match &cli.command {
        Command::Config(cmd) => commands::config::run(cmd, &config, &settings),
        Command::UseContext { name: Some(name) } => {
            commands::config::use_context(&config, &settings, name)
        }
        Command::UseContext { name: None } => {
            commands::config::get_contexts(&config, &settings, None)
        }
        Command::Get(cli::GetCommand::Contexts(a)) => {
            commands::config::get_contexts(&config, &settings, a.sort_by.as_ref())
        }
        Command::CurrentContext => commands::config::current_context(&config, &settings),
        Command::Get(cli::GetCommand::Clusters(a)) => inspect::clusters::run(&config, &settings, a),
        Command::Get(cli::GetCommand::Queues(a)) => inspect::queues::run(&config, &settings, a),
        Command::Get(cli::GetCommand::Workers(a)) => inspect::workers::run(&config, &settings, a),
        Command::Get(cli::GetCommand::Jobs(a)) => inspect::jobs::run(&config, &settings, a),
        Command::Get(cli::GetCommand::Job(a)) => {
            inspect::describe::locate::run(&config, &settings, a)
        }
        Command::Describe(cli::DescribeCommand::Cluster(a)) => {
            inspect::describe::cluster::run(&config, &settings, a)
        }
        Command::Describe(cli::DescribeCommand::Queue(a)) => {
            inspect::describe::queue::run(&config, &settings, a)
        }
        Command::Describe(cli::DescribeCommand::Worker(a)) => {
            inspect::describe::worker::run(&config, &settings, a)
        }
        Command::Describe(cli::DescribeCommand::Job(a)) => {
            inspect::describe::job::run(&config, &settings, a)
        }
        Command::Compare(a) => inspect::compare::run(&config, &settings, a),
        Command::Health(a) => inspect::health::run(&config, &settings, a),
        Command::Get(cli::GetCommand::Backups(a)) => inspect::backups::run(&config, &settings, a),
        Command::PurgeDlq(a) => actions::purge::run(&config, &settings, a),
        Command::RestoreDlq(a) => actions::restore::run(&config, &settings, a),
        Command::Requeue(a) => actions::requeue::run(&config, &settings, a),
        Command::Replicate(a) => actions::replicate::run(&config, &settings, a),
        Command::Bench(a) => actions::bench::run(&config, &settings, a),
        Command::Pause(a) => actions::pause::run(&config, &settings, a, false),
        Command::Resume(a) => actions::pause::run(&config, &settings, a, true),
        Command::Quiet(cli::QuietCommand::Workers(a)) => {
            actions::signal::run_quiet(&config, &settings, a)
        }
        Command::Stop(cli::StopCommand::Workers(a)) => {
            actions::signal::run_stop(&config, &settings, a)
        }
        Command::Version
        | Command::Demo(_)
        | Command::Completion { .. }
        | Command::GenerateMan { .. } => unreachable!("handled above"),
    }
}
