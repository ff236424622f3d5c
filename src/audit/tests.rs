//! The writer under load: a queue far smaller than the records sent makes writers wait, and
//! every record arrives, in one unbroken chain.

use std::sync::Arc;

use super::{AuditLog, AuditSettings, Event, Record};

/// The settings of a test's log: files in `dir`, nothing shipped to the lake.
fn in_dir(dir: &std::path::Path) -> AuditSettings {
    AuditSettings {
        dir: Some(dir.to_path_buf()),
        lake: false,
        ..AuditSettings::default()
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lakegate-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_makes_writers_wait_and_drops_nothing() {
    let dir = temp_dir("pressure");
    let settings = AuditSettings {
        queue_capacity: 16,
        ..in_dir(&dir)
    };
    let log = AuditLog::start(&settings, None).await.unwrap();
    let writers: Vec<_> = (0..400)
        .map(|i| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let record = Record::new(Event::SessionEnd).detail("n", i);
                log.write(&record, i % 2 == 0).await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }
    // The last one synced: everything queued before it is written too.
    log.write(&Record::new(Event::SessionEnd), true)
        .await
        .unwrap();
    let files = super::segments::segment_files(&dir).unwrap();
    let report = super::verify::verify(&files, None, true).unwrap();
    // segment.open + audit.start + 400 + the last.
    assert_eq!(report.records, 403);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_second_gateway_cannot_share_the_directory() {
    let dir = temp_dir("lock");
    let settings = in_dir(&dir);
    let _first = AuditLog::start(&settings, None).await.unwrap();
    let second = AuditLog::start(&settings, None).await.unwrap_err();
    assert!(
        second.contains("in use by another lakegate process"),
        "{second}"
    );
}

/// The open segment removed under the gateway: the next record opens a new segment at once
/// (the watch reports it; the path is not looked at before every batch).
#[tokio::test]
async fn a_removed_segment_is_replaced_by_the_next_record() {
    let dir = temp_dir("removed");
    let settings = in_dir(&dir);
    let log = AuditLog::start(&settings, None).await.unwrap();
    let first = super::segments::segment_files(&dir).unwrap();
    assert_eq!(first.len(), 1);
    std::fs::remove_file(&first[0]).unwrap();
    log.write(&Record::new(Event::SessionEnd), true)
        .await
        .unwrap();
    let now = super::segments::segment_files(&dir).unwrap();
    assert_eq!(now.len(), 1, "a new segment: {now:?}");
    let text = std::fs::read_to_string(&now[0]).unwrap();
    let opening = text.lines().next().unwrap();
    assert!(opening.contains("\"reason\":\"replaced\""), "{opening}");
    assert!(text.contains("session.end"), "the record is in it: {text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With decisions only written, a statement hears back before the sync, and the log says so
/// in its first record; the records are synced soon after (`LAZY_SYNC`) and chain as ever.
#[tokio::test]
async fn written_decisions_are_recorded_as_such_and_chain() {
    let dir = temp_dir("written");
    let settings = AuditSettings {
        durability: super::DecisionDurability::Written,
        ..in_dir(&dir)
    };
    let log = AuditLog::start(&settings, None).await.unwrap();
    for _ in 0..3 {
        log.write(&Record::new(Event::Decision), true)
            .await
            .unwrap();
    }
    let files = super::segments::segment_files(&dir).unwrap();
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let start = text.lines().find(|l| l.contains("audit.start")).unwrap();
    assert!(start.contains(r#""durability":"written""#), "{start}");
    let report = super::verify::verify(&files, None, true).unwrap();
    assert_eq!(
        report.records, 5,
        "segment.open, audit.start and three decisions"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
