//! Learns that the open segment may have been removed, moved or replaced, without asking the
//! file system about the segment before every batch.
//!
//! Why not simply `stat` the segment's path per batch (as the writer did): since Linux 6.13,
//! ext4 gives a file whose times were read since its last change a fine-grained modification
//! time at its next write, so a `stat` before every write made every write change the inode,
//! and on this machine's ext4 (no journal) every `fdatasync` then also wrote the inode's block:
//! 138–160 µs and 71–76 µs of CPU per synced record instead of 106–111 µs and 48–49 µs
//! (`benches/fsync.py`, modes "stat" and "preallocated").
//!
//! inotify tells when the segment's link count changes (removed, or replaced by a rename over
//! its name), when it or the directory is moved, and when the directory goes; only then is the
//! path looked at. A moved parent of the directory sends no event here, so the path is also
//! looked at once per `FULL_CHECK` whatever the watch says.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// The longest the segment's path goes unchecked.
const FULL_CHECK: Duration = Duration::from_secs(1);

/// What can take the segment away from its name: unlinked or replaced (its link count
/// changes: `IN_ATTRIB`), moved, or deleted for good.
const SEGMENT_EVENTS: u32 = libc::IN_ATTRIB | libc::IN_MOVE_SELF | libc::IN_DELETE_SELF;

pub struct SegmentWatch {
    /// `None` when inotify is not available (no instances left): the path is checked each time.
    inotify: Option<OwnedFd>,
    last_full_check: Instant,
}

impl SegmentWatch {
    /// Watches `segment` and the directory holding it.
    pub fn new(segment: &Path) -> Self {
        let inotify = segment.parent().and_then(|dir| watch(&[segment, dir]));
        if inotify.is_none() {
            tracing::debug!("no inotify watch on the audit segment; its path is checked per batch");
        }
        Self {
            inotify,
            last_full_check: Instant::now(),
        }
    }

    /// Whether the segment's path must be looked at now: something happened to the segment or
    /// its directory, the watch is missing, or the last look is `FULL_CHECK` old.
    pub fn needs_check(&mut self) -> bool {
        let due = match &self.inotify {
            Some(fd) => has_events(fd) || self.last_full_check.elapsed() >= FULL_CHECK,
            None => true,
        };
        if due {
            self.last_full_check = Instant::now();
        }
        due
    }
}

/// One non-blocking inotify instance watching each path (directory events: the same mask).
fn watch(paths: &[&Path]) -> Option<OwnedFd> {
    // SAFETY: inotify_init1 takes flags only and returns a new descriptor or -1.
    let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if raw < 0 {
        return None;
    }
    // SAFETY: `raw` is a descriptor this function just opened and nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    for path in paths {
        let name = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        // SAFETY: `fd` is open and `name` is a NUL-terminated path that outlives the call.
        let added =
            unsafe { libc::inotify_add_watch(fd.as_raw_fd(), name.as_ptr(), SEGMENT_EVENTS) };
        if added < 0 {
            return None;
        }
    }
    Some(fd)
}

/// Reads every pending event; any event (or a read that fails for another reason than having
/// nothing to read) means "look at the path".
fn has_events(fd: &OwnedFd) -> bool {
    let mut buffer = [0u8; 4096];
    let mut any = false;
    loop {
        // SAFETY: reads into a buffer of the length given, on a descriptor `fd` keeps open.
        let read = unsafe { libc::read(fd.as_raw_fd(), buffer.as_mut_ptr().cast(), buffer.len()) };
        match read {
            n if n > 0 => any = true,
            _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock => {
                return any
            }
            _ => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn segment(name: &str) -> (std::path::PathBuf, std::fs::File) {
        let dir =
            std::env::temp_dir().join(format!("lakegate-watch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit-000000000001-x.jsonl");
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }

    #[test]
    fn writes_to_the_segment_need_no_check_but_removing_or_replacing_it_does() {
        let (path, mut file) = segment("events");
        let mut watch = SegmentWatch::new(&path);
        assert!(watch.inotify.is_some(), "inotify is available on Linux");
        file.write_all(b"{}\n").unwrap();
        file.sync_data().unwrap();
        assert!(
            !watch.needs_check(),
            "the gateway's own writes are no event"
        );

        let other = path.with_extension("new");
        std::fs::write(&other, b"forged\n").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert!(watch.needs_check(), "replaced by a rename over its name");
        assert!(!watch.needs_check(), "each event is reported once");

        let mut watch = SegmentWatch::new(&path);
        std::fs::remove_file(&path).unwrap();
        assert!(watch.needs_check(), "removed");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn moving_the_directory_needs_a_check() {
        let (path, _file) = segment("moved");
        let dir = path.parent().unwrap().to_owned();
        let mut watch = SegmentWatch::new(&path);
        let aside = dir.with_extension("aside");
        let _ = std::fs::remove_dir_all(&aside);
        std::fs::rename(&dir, &aside).unwrap();
        assert!(watch.needs_check());
        std::fs::remove_dir_all(&aside).unwrap();
    }

    #[test]
    fn without_events_the_path_is_still_checked_once_a_second() {
        let (path, _file) = segment("quiet");
        let mut watch = SegmentWatch::new(&path);
        assert!(!watch.needs_check());
        watch.last_full_check -= FULL_CHECK;
        assert!(watch.needs_check());
        assert!(!watch.needs_check());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
