//! Reloading files that change while the server runs (users, TLS certificates): a poll of the
//! files' contents, so editors that replace files and mounted secrets that swap symlinks are
//! both seen, without a platform file-watch API.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A hash of the files' contents; `None` while one of them cannot be read.
pub fn fingerprint(paths: &[PathBuf]) -> Option<u64> {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in paths {
        std::fs::read(path).ok()?.hash(&mut hasher);
    }
    Some(hasher.finish())
}

/// Calls `apply` each time `path` changes, until `owner` is dropped.
pub fn watch_file<T: Send + Sync + 'static>(
    owner: Weak<T>,
    path: PathBuf,
    every: Duration,
    apply: impl Fn(&T, &std::path::Path) + Send + 'static,
) {
    watch_files(owner, vec![path.clone()], every, move |owner| {
        apply(owner, &path)
    });
}

/// Calls `apply` each time any of `paths` changes (after a short settle, so a half-written
/// file is not read), until `owner` is dropped.
pub fn watch_files<T: Send + Sync + 'static>(
    owner: Weak<T>,
    paths: Vec<PathBuf>,
    every: Duration,
    apply: impl Fn(&T) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut seen = fingerprint(&paths);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if owner.strong_count() == 0 {
                return;
            }
            let now = fingerprint(&paths);
            if now.is_none() || now == seen {
                continue;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if fingerprint(&paths) != now {
                continue;
            }
            let Some(owner) = owner.upgrade() else { return };
            seen = now;
            apply(&owner);
            drop::<Arc<T>>(owner);
        }
    });
}
