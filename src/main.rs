//! The `qctl` binary: run, and map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(qctl::run() as u8)
}
