//! The `lakegate` binary: parse the command line and hand over to [`lakegate::cli`].

fn main() -> std::process::ExitCode {
    lakegate::cli::main()
}
