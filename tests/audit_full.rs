//! A full audit volume (security.md FI-08), in a test binary of its own: the file-size limit of
//! this process (RLIMIT_FSIZE) is lowered under the running gateway so that the next audit write
//! stops half-way with EFBIG, as on a full disk. The statement fails with 58030, the half-written
//! batch is cut off again (no torn record), and once the limit is lifted statements run and the
//! chain continues.

mod common;

use std::time::Duration;

use common::{audit_segments, connect_to, rows, sqlstate, start_gateway};

fn set_file_size_limit(bytes: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a local struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut limit), 0);
        limit.rlim_cur = bytes.min(limit.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[tokio::test]
async fn a_full_audit_volume_fails_statements_closed_and_leaves_no_torn_record() {
    // Past the limit the kernel sends SIGXFSZ, which would end the process; ignored, the write
    // fails with EFBIG instead.
    // SAFETY: setting a signal's disposition to SIG_IGN.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let gateway = start_gateway(|_| {});
    let client = connect_to(&gateway, "analyst").await;
    client.simple_query("SELECT 1").await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let segment = audit_segments(&gateway.audit_dir).pop().unwrap();
    // Its records, not the zero-filled space after them that the next records overwrite.
    let size = common::segment_text(&segment).len() as u64;

    set_file_size_limit(size + 100);
    let e = client
        .simple_query("SELECT order_id FROM sales.orders LIMIT 1")
        .await
        .unwrap_err();
    set_file_size_limit(u64::MAX);
    assert_eq!(sqlstate(&e), "58030");
    assert_eq!(
        std::fs::metadata(&segment).unwrap().len(),
        size,
        "the half-written batch was cut off (with the zero-filled space)"
    );

    let back = client.simple_query("SELECT 7 AS back").await.unwrap();
    assert_eq!(rows(&back), vec![vec![Some("7".to_owned())]]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let text = common::segment_text(&segment);
    assert!(
        text.contains("\"event\":\"audit.recovered\""),
        "the gap is on record"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lakegate"))
        .args(["audit", "verify"])
        .args(audit_segments(&gateway.audit_dir))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the chain is unbroken: {report}");
}
