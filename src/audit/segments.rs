//! Segment files in the audit directory: `audit-<first seq>-<UTC time>.jsonl`, so names sort in
//! chain order. One process owns the directory (a lock file), appends whole batches and syncs
//! them, and cuts back a batch that failed halfway so no torn record stays behind.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::chain::GENESIS;
use super::record::Event;

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

struct Segment {
    path: PathBuf,
    file: File,
    /// Bytes known to be written and synced.
    len: u64,
    opened: Instant,
    identity: (u64, u64),
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
    pub fn needs_new(&self) -> Option<&'static str> {
        let Some(segment) = &self.current else {
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
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)?;
        let meta = file.metadata()?;
        File::open(&self.dir)?.sync_all()?;
        self.current = Some(Segment {
            path,
            file,
            len: 0,
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
        let written = segment.file.write_all(bytes).and_then(|()| match sync {
            true => segment.file.sync_data(),
            false => Ok(()),
        });
        match written {
            Ok(()) => {
                segment.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                let cut = segment
                    .file
                    .set_len(segment.len)
                    .and_then(|()| segment.file.sync_data());
                segment.broken = cut.is_err();
                Err(e)
            }
        }
    }

    /// Makes what was appended without a sync durable.
    pub fn sync(&mut self) -> io::Result<()> {
        match &self.current {
            Some(segment) => segment.file.sync_data(),
            None => Ok(()),
        }
    }

    /// Stops writing to the current segment; returns its path.
    pub fn finish(&mut self) -> Option<PathBuf> {
        self.current.take().map(|s| s.path)
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
    let mut reader = BufReader::new(File::open(path)?);
    let (mut whole_lines_len, mut offset) = (0u64, 0u64);
    let mut head = None;
    let mut last_event = None;
    let mut open: Vec<String> = Vec::new();
    // Bytes, not text: a torn write can end inside a character.
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        offset += read as u64;
        if read == 0 || line.last() != Some(&b'\n') {
            break;
        }
        whole_lines_len = offset;
        // A line that does not parse is left for `audit verify` to report.
        let Ok(fields) = serde_json::from_slice::<Fields>(&line) else {
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
    // Only a last line without its newline is a torn write; whole lines stay as they are.
    let cut_bytes = offset - whole_lines_len;
    if cut_bytes > 0 {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(whole_lines_len)?;
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
