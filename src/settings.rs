//! Command-line flags + contexts-file preferences + defaults -> the plain
//! settings every command runs with. A flag on the command line wins over
//! `preferences:`, which wins over the built-in default.

use crate::cli::{GlobalArgs, OutputFormat};
use crate::contexts::Config;
use crate::output::{Printer, use_color};
use crate::select::SelectArgs;
use std::time::Duration;

pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub(crate) const DEFAULT_MAX_CONCURRENCY: usize = 256;

/// A write verb's gate settings, resolved from its flags: the gate never
/// sees clap's types.
#[derive(Debug, Clone)]
pub(crate) struct WriteSettings {
    pub(crate) dry_run: bool,
    pub(crate) yes_i_typed: Option<String>,
    pub(crate) strategy: crate::cli::Strategy,
    pub(crate) max_parallel: Option<usize>,
    pub(crate) pause: Option<Duration>,
}

impl WriteSettings {
    pub(crate) fn resolve(w: &crate::cli::WriteArgs) -> WriteSettings {
        WriteSettings {
            dry_run: w.dry_run,
            yes_i_typed: w.yes_i_typed.clone(),
            strategy: w.strategy,
            max_parallel: w.max_parallel,
            pause: w.pause,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) printer: Printer,
    /// Per-context budget for a read command.
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_concurrency: usize,
    pub(crate) verbose: u8,
    pub(crate) select: SelectArgs,
    /// Colour on stderr (plans, prompts).
    pub(crate) stderr_color: bool,
}

impl Settings {
    pub(crate) fn resolve(
        global: &GlobalArgs,
        config: &Config,
        default_format: OutputFormat,
    ) -> Settings {
        let prefs = &config.preferences;
        let format = global.output.as_ref().map_or(default_format, |o| o.format);
        Settings {
            printer: Printer {
                format,
                color: use_color(global.color),
                no_headers: global.no_headers,
                quiet: global.quiet,
                columns: global.output.as_ref().and_then(|o| o.columns.clone()),
            },
            timeout: global.timeout.or(prefs.timeout).unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: global
                .connect_timeout
                .or(prefs.connect_timeout)
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            max_concurrency: global
                .max_concurrency
                .or(prefs.max_concurrency)
                .unwrap_or(DEFAULT_MAX_CONCURRENCY),
            verbose: global.verbose,
            stderr_color: crate::output::use_color_stderr(global.color),
            select: SelectArgs {
                contexts: global.context.clone(),
                selector: global.selector.clone(),
                all: global.all_contexts,
                env_context: std::env::var("QCTL_CONTEXT").ok(),
            },
        }
    }
}
