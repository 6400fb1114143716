//! Command-line flags + contexts-file preferences + defaults -> the plain
//! settings every command runs with. A flag on the command line wins over
//! `preferences:`, which wins over the built-in default.

use crate::cli::{GlobalArgs, OutputFormat};
use crate::contexts::Config;
use crate::output::{Printer, use_color};
use crate::select::SelectArgs;
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_MAX_CONCURRENCY: usize = 256;

#[derive(Debug, Clone)]
pub struct Settings {
    pub printer: Printer,
    /// Per-context budget for a read command.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub max_concurrency: usize,
    pub verbose: u8,
    pub select: SelectArgs,
    /// Colour on stderr (plans, prompts).
    pub stderr_color: bool,
}

impl Settings {
    pub fn resolve(global: &GlobalArgs, config: &Config, default_format: OutputFormat) -> Settings {
        let prefs = &config.preferences;
        let format = global.output.unwrap_or(default_format);
        Settings {
            printer: Printer {
                format,
                color: use_color(global.color),
                no_headers: global.no_headers,
                quiet: global.quiet,
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
