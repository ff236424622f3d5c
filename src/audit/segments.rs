//! Segment files in the audit directory: `audit-<first seq>-<UTC time>.jsonl`, so names sort in
//! chain order. One process owns the directory (a lock file), appends whole batches and syncs
//! them, and cuts back a batch that failed halfway so no torn record stays behind.
//!
//! The open segment is zero-filled ahead of its records (`PREALLOCATE` at a time, as
//! PostgreSQL does with its WAL): a sync then only flushes data blocks the file already has,
//! with no size change for the file system to journal, which made a synced record 3–5× faster
//! here (`benches/fsync.py`). A record never holds a NUL byte (JSON escapes it), so the first
//! NUL ends what was written; readers go through [`written_part`], and a closed segment is cut
//! to its records.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::chain::GENESIS;
use super::record::Event;
use super::watch::SegmentWatch;

/// Where the chain stands: the last record's sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

impl ChainHead {
    pub fn genesis() -> Self {
        Self {
            seq: 0,
            hash: GENESIS.to_owned(),
        }
    }
}

/// What the previous run left behind.
#[derive(Debug, Clone)]
pub struct Resumed {
    pub head: ChainHead,
    pub last_segment: Option<String>,
    /// The last segment ends without a close record: that run did not stop cleanly.
    pub closed: bool,
    /// Bytes of a half-written last record that were cut off.
    pub cut_bytes: u64,
    /// Decisions of the last segment that have no terminal record.
    pub incomplete: Vec<String>,
}

/// How far ahead of its records the open segment is zero-filled.
const PREALLOCATE: u64 = 1 << 20;

struct Segment {
    path: PathBuf,
    file: File,
    /// Bytes known to be written and synced.
    len: u64,
    /// Bytes of the file that exist, zero-filled past `len`.
    allocated: u64,
    opened: Instant,
    identity: (u64, u64),
    /// Says when the path must be looked at again (a `stat` per batch would slow every sync).
    watch: SegmentWatch,
    /// Set when a failed write could not be cut back: the next batch starts a new segment.
    broken: bool,
}

pub struct SegmentDir {
    dir: PathBuf,
    _lock: File,
    current: Option<Segment>,
    rotate_bytes: u64,
    rotate_after: Duration,
}

pub fn is_segment_name(name: &str) -> bool {
    name.starts_with("audit-") && name.ends_with(".jsonl")
}

/// The segment files of a directory, in chain order.
pub fn segment_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if is_segment_name(&name) {
            names.insert(name);
        }
    }
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl SegmentDir {
    /// Takes the directory (creating it) and reads where the previous run stopped.
    pub fn open(
        dir: &Path,
        rotate_bytes: u64,
        rotate_after: Duration,
    ) -> Result<(Self, Resumed), String> {
        let problem =
            |what: &str, e: io::Error| format!("audit directory {}: {what}: {e}", dir.display());
        std::fs::create_dir_all(dir).map_err(|e| problem("cannot create it", e))?;
        let lock = File::create(dir.join(".lock"))
            .map_err(|e| problem("cannot create its lock file", e))?;
        if !try_lock(&lock) {
            return Err(format!(
                "audit directory {} is in use by another lakegate process; give each gateway its own audit.dir",
                dir.display()
            ));
        }
        let files = segment_files(dir).map_err(|e| problem("cannot list it", e))?;
        let mut resumed = None;
        // The newest segment with a whole record: a file left without one (a crash right
        // after it was created) holds nothing to continue from.
        for file in files.iter().rev() {
            resumed = resume(file).map_err(|e| problem("cannot read its last segment", e))?;
            if resumed.is_some() {
                break;
            }
        }
        let resumed = resumed.unwrap_or(Resumed {
            head: ChainHead::genesis(),
            last_segment: None,
            closed: true,
            cut_bytes: 0,
            incomplete: Vec::new(),
        });
        let segments = Self {
            dir: dir.to_owned(),
            _lock: lock,
            current: None,
            rotate_bytes: rotate_bytes.max(4096),
            rotate_after: rotate_after.max(Duration::from_secs(1)),
        };
        Ok((segments, resumed))
    }

    /// Why the current segment must be closed before the next write, if it must.
    pub fn needs_new(&mut self) -> Option<&'static str> {
        let Some(segment) = &mut self.current else {
            return Some("start");
        };
        if segment.broken {
            return Some("recovery");
        }
        if segment.len >= self.rotate_bytes {
            return Some("size");
        }
        if segment.opened.elapsed() >= self.rotate_after {
            return Some("time");
        }
        // Removed, moved or replaced under us: writing on would go to a file nobody reads.
        if !segment.watch.needs_check() {
            return None;
        }
        match std::fs::metadata(&segment.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == segment.identity => None,
            _ => Some("replaced"),
        }
    }

    pub fn current_path(&self) -> Option<PathBuf> {
        self.current.as_ref().map(|s| s.path.clone())
    }

    pub fn current_name(&self) -> Option<String> {
        self.current.as_ref().map(|s| file_name(&s.path))
    }

    /// Whether the current segment holds more than its opening record.
    pub fn current_has_records(&self, opening_len: u64) -> bool {
        self.current.as_ref().is_some_and(|s| s.len > opening_len)
    }

    pub fn current_len(&self) -> u64 {
        self.current.as_ref().map_or(0, |s| s.len)
    }

    /// Creates the segment whose first record is `first_seq`; it becomes current.
    pub fn create(&mut self, first_seq: u64) -> io::Result<String> {
        let time = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let name = format!("audit-{first_seq:012}-{time}.jsonl");
        let path = self.dir.join(&name);
        // Not O_APPEND: records overwrite the zero-filled space at `len`.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        let meta = file.metadata()?;
        File::open(&self.dir)?.sync_all()?;
        let watch = SegmentWatch::new(&path);
        self.current = Some(Segment {
            watch,
            path,
            file,
            len: 0,
            allocated: 0,
            opened: Instant::now(),
            identity: (meta.dev(), meta.ino()),
            broken: false,
        });
        Ok(name)
    }

    /// Appends, and syncs when `sync` (otherwise a later sync makes it durable); on failure
    /// the partial write is cut off again.
    pub fn append(&mut self, bytes: &[u8], sync: bool) -> io::Result<()> {
        let segment = self
            .current
            .as_mut()
            .ok_or_else(|| io::Error::other("no open segment"))?;
        let end = segment.len + bytes.len() as u64;
        let mut sync_failed = false;
        let written = segment
            .zero_fill_to(end)
            .and_then(|()| segment.file.write_all_at(bytes, segment.len))
            .and_then(|()| match sync {
                true => segment.file.sync_data().inspect_err(|_| sync_failed = true),
                false => Ok(()),
            });
        match written {
            Ok(()) => {
                segment.len = end;
                Ok(())
            }
            Err(e) => {
                // Cut to the last whole batch (the zero-filled space goes too; it comes back
                // with the next write).
                let cut = segment
                    .file
                    .set_len(segment.len)
                    .and_then(|()| segment.file.sync_data());
                segment.allocated = segment.len;
                // After a failed sync the kernel may have dropped the segment's unsynced pages,
                // and a later sync would not bring them back: records go on in a new segment.
                segment.broken = cut.is_err() || sync_failed;
                Err(e)
            }
        }
    }

    /// Makes what was appended without a sync durable. A failed sync breaks the segment (as
    /// in `append`): the next record opens a new one. A broken segment is not synced again: on
    /// Linux a failed sync is reported once, so a second one would claim records it may have
    /// lost (the writer then counts them as lost).
    pub fn sync(&mut self) -> io::Result<()> {
        let Some(segment) = &mut self.current else {
            return Ok(());
        };
        if segment.broken {
            return Err(io::Error::other(
                "the audit segment broke in an earlier failure",
            ));
        }
        let synced = segment.file.sync_data();
        segment.broken |= synced.is_err();
        synced
    }

    /// Stops writing to the current segment, cut to its records; returns its path.
    pub fn finish(&mut self) -> Option<PathBuf> {
        let segment = self.current.take()?;
        let cut = segment
            .file
            .set_len(segment.len)
            .and_then(|()| segment.file.sync_data());
        if let Err(e) = cut {
            // Readers stop at the zero-filled tail anyway.
            tracing::warn!(error = %e, "a closed audit segment keeps its zero-filled tail");
        }
        Some(segment.path)
    }

    /// Removes a segment that never got its opening record (so nothing sorts after the chain's
    /// real end, and nothing empty is shipped).
    pub fn discard(&mut self) {
        if let Some(segment) = self.current.take() {
            let _ = std::fs::remove_file(&segment.path);
            let _ = File::open(&self.dir).and_then(|d| d.sync_all());
        }
    }
}

impl Segment {
    /// Makes sure the file has (zero-filled) space up to `end`, growing it a chunk at a time.
    /// The next sync makes the new size durable with the records written into it.
    fn zero_fill_to(&mut self, end: u64) -> io::Result<()> {
        static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
        if end <= self.allocated {
            return Ok(());
        }
        let target = end.div_ceil(PREALLOCATE) * PREALLOCATE;
        while self.allocated < target {
            let chunk = (target - self.allocated).min(ZEROS.len() as u64) as usize;
            self.file.write_all_at(&ZEROS[..chunk], self.allocated)?;
            self.allocated += chunk as u64;
        }
        Ok(())
    }
}

/// What was written of a segment: its bytes up to the zero-filled tail of a segment still open
/// (or left open by a crash).
pub fn written_part(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => &bytes[..end],
        None => bytes,
    }
}

/// An exclusive lock on the whole file, held until the file is closed (the process ends).
fn try_lock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor this function borrows; no memory is shared.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

#[derive(Deserialize)]
struct Fields {
    seq: u64,
    hash: String,
    event: Event,
    #[serde(default)]
    query_id: Option<String>,
}

/// Reads the last segment: the chain head, whether it was closed, decisions left open, and a
/// torn last record (cut off, so the chain continues from the last whole record).
fn resume(path: &Path) -> io::Result<Option<Resumed>> {
    // Bytes, not text: a torn write can end inside a character.
    let file_bytes = std::fs::read(path)?;
    let written = written_part(&file_bytes);
    let mut whole_lines_len = 0;
    let mut head = None;
    let mut last_event = None;
    let mut open: Vec<String> = Vec::new();
    for line in written.split_inclusive(|&b| b == b'\n') {
        if line.last() != Some(&b'\n') {
            break;
        }
        whole_lines_len += line.len();
        // A line that does not parse is left for `audit verify` to report.
        let Ok(fields) = serde_json::from_slice::<Fields>(line) else {
            continue;
        };
        match (fields.event, fields.query_id) {
            (Event::Decision, Some(id)) => open.push(id),
            (event, Some(id)) if event.is_terminal() => open.retain(|o| *o != id),
            _ => {}
        }
        last_event = Some(fields.event);
        head = Some(ChainHead {
            seq: fields.seq,
            hash: fields.hash,
        });
    }
    // Only a last line without its newline is a torn write; whole lines stay as they are, and
    // the zero-filled tail goes.
    let cut_bytes = (written.len() - whole_lines_len) as u64;
    if file_bytes.len() > whole_lines_len {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(whole_lines_len as u64)?;
        file.sync_all()?;
    }
    Ok(head.map(|head| Resumed {
        head,
        last_segment: Some(file_name(path)),
        closed: last_event == Some(Event::SegmentClose),
        cut_bytes,
        incomplete: open,
    }))
}
