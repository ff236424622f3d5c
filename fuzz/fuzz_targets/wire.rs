//! Fuzzes lakegate's protocol handling end to end: each input is one client connection to a
//! gateway serving the demo lake in this process, over loopback TCP, through the same accept
//! loop, negotiation, framing limits, startup and SCRAM handlers, and statement handlers as
//! `lakegate serve`. A panic anywhere in the server, or a connection it never closes, is a
//! finding; libFuzzer's RSS limit catches memory that grows per bad client.
//!
//! Gateway and client share one current-thread runtime, so an input runs the same way each time.
//! libfuzzer-sys's panic hook aborts the process, so a panic in a connection task (which tokio
//! would otherwise catch) is a crash too.
#![no_main]

use std::net::SocketAddr;
use std::sync::{mpsc, Mutex, OnceLock};

use lakegate::audit::AuditSink;
use lakegate::config::Config;
use lakegate_fuzz::{frame_messages, send_and_drain, sign_in, Plan};
use libfuzzer_sys::fuzz_target;
use tokio::net::{TcpListener, TcpStream};

/// The thread that serves and drives connections: a 2 MiB stack, as the gateway's tokio
/// workers have, so deep recursion overflows here as it would in `lakegate serve`.
struct Harness {
    inputs: Mutex<mpsc::Sender<Job>>,
}

/// One input, and where to say it has been run.
type Job = (Vec<u8>, mpsc::SyncSender<()>);

const WORKER_STACK: usize = 2 * 1024 * 1024;

fuzz_target!(|input: &[u8]| {
    let (done, finished) = mpsc::sync_channel(1);
    harness()
        .inputs
        .lock()
        .expect("harness lock")
        .send((input.to_vec(), done))
        .expect("the harness thread runs");
    finished
        .recv()
        .expect("the harness thread finishes each input");
});

/// One client connection carrying the input (see [`Plan`]).
async fn connect_and_send(address: SocketAddr, input: &[u8]) {
    let Some(plan) = Plan::of(input) else { return };
    let mut stream = TcpStream::connect(address)
        .await
        .expect("the gateway accepts connections");
    let bytes = match plan {
        Plan::Raw(bytes) => bytes.to_vec(),
        Plan::SignedIn { user, bytes } => {
            signed_in(&mut stream, user).await;
            bytes.to_vec()
        }
        Plan::Framed { user, bytes } => {
            signed_in(&mut stream, user).await;
            frame_messages(bytes)
        }
    };
    send_and_drain(stream, &bytes).await;
}

/// A demo user that cannot sign in means the gateway broke earlier: a finding too.
async fn signed_in(stream: &mut TcpStream, user: &str) {
    if let Err(e) = sign_in(stream, user).await {
        panic!("signing in as {user} failed: {e}");
    }
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // libFuzzer's own main runs instead of Rust's, which would have ignored SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let (inputs, jobs) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("lakegate".into())
            .stack_size(WORKER_STACK)
            .spawn(move || serve_inputs(jobs))
            .expect("the harness thread starts");
        Harness {
            inputs: Mutex::new(inputs),
        }
    })
}

/// Generates a small demo lake in a fresh directory, serves it on a loopback port, and runs
/// each input against it, on one current-thread runtime.
fn serve_inputs(jobs: mpsc::Receiver<Job>) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let root = std::env::temp_dir().join(format!("lakegate-fuzz-{}", std::process::id()));
    let config = config(&root);
    let address = runtime.block_on(async {
        lakegate::demo::generate(&root, 0.01, false)
            .await
            .expect("generate the demo lake");
        let gateway = lakegate::server::Gateway::build(&config)
            .await
            .expect("build the gateway");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let address = listener.local_addr().expect("its address");
        tokio::spawn(lakegate::server::serve(listener, gateway));
        address
    });
    for (input, done) in jobs {
        runtime.block_on(connect_and_send(address, &input));
        let _ = done.send(());
    }
}

/// Defaults, but for what would make inputs depend on each other or on the disk: failed logins
/// are not throttled (the raw inputs fail thousands), and audit records go to standard output
/// (still built and serialised for every statement, but not accumulated in files).
fn config(root: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.lake.root = Some(root.to_path_buf());
    config.audit.sink = AuditSink::Stdout;
    config.auth.throttle.max_failures_per_user = u32::MAX;
    config.auth.throttle.max_failures_per_address = u32::MAX;
    config.engine.memory_limit_mb = 512;
    config.limits.startup_timeout_ms = 2_000;
    config
}
