//! One module per verb. Each takes resolved settings and the loaded
//! configuration, never clap types, and returns an exit code.

pub(crate) mod config;
