//! The `lakegate` binary: parse the command line and hand over to [`lakegate::cli`].

/// mimalloc rather than glibc's malloc: planning a statement clones DataFusion's session state
/// (hash maps of every function), and with many sessions glibc's allocator took a fifth of the
/// gateway's CPU in small-statement profiles (`benches/README.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    lakegate::cli::main()
}
