//! Man pages, rendered from the clap command by clap_mangen: `qctl.1`, and
//! one page per subcommand, nested ones included, named after the whole
//! command (`qctl-get-clusters.1`, `qctl-config-use-context.1`).
//!
//! Nothing in a page depends on the machine or the day: no date, and the
//! version is the crate's, so the pages checked in under `man/` stay equal
//! to what the binary generates (`tests/it/generated.rs` checks that).

use crate::cli::Cli;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// Writes every page into `dir` (created if missing) and returns their paths,
/// `qctl.1` first.
pub(crate) fn write_pages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_tree(&cmd, dir, &mut written)?;
    Ok(written)
}

fn write_tree(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // The footer names the program and its version on every page (the
    // default would name the subcommand: "clusters 0.1.0").
    let man =
        clap_mangen::Man::new(cmd.clone()).source(format!("qctl {}", env!("CARGO_PKG_VERSION")));
    written.push(man.generate_to(dir)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, dir, written)?;
    }
    Ok(())
}
