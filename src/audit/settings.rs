//! `[audit]` in lakegate.toml: where records go, what happens when they cannot be written, and
//! how segments rotate and reach the lake.

use std::path::PathBuf;

use serde::Deserialize;

/// Where records are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSink {
    /// Segment files in `audit.dir` (synced, hash-chained, rotated).
    #[default]
    File,
    /// One JSON line per record on standard output (for a log collector); flushed, not synced.
    Stdout,
    /// No audit log at all. Only for measuring the audit's cost; logged at start.
    Off,
}

/// What a statement does when its audit record cannot be made durable (D9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The statement fails with 58030 and no rows are sent.
    #[default]
    Fail,
    /// The statement runs; the lost record is counted and reported when the sink recovers.
    Continue,
}

/// What a record that a session waits for (a statement's decision before its first row, a
/// login before the session starts, the log's start) must be before the session goes on (D9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecisionDurability {
    /// Written and synced (group commit): the record survives a power loss.
    #[default]
    Synced,
    /// Written to the segment (in the page cache: it survives the gateway being killed) and
    /// synced within `LAZY_SYNC` (10 ms), like PostgreSQL's `synchronous_commit = off`. A
    /// failed write still fails the statement; a failed sync fails the statements after it.
    Written,
}

impl DecisionDurability {
    pub fn name(self) -> &'static str {
        match self {
            DecisionDurability::Synced => "synced",
            DecisionDurability::Written => "written",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    pub sink: AuditSink,
    /// Segment directory. Default: `lakegate/audit` in the per-user data directory.
    pub dir: Option<PathBuf>,
    pub on_failure: OnFailure,
    pub durability: DecisionDurability,
    /// Replace literals in recorded statement text with `$n` placeholders.
    pub redact_literals: bool,
    /// A segment is closed once it holds this many bytes.
    pub rotate_bytes: u64,
    /// A segment is closed once it is this many seconds old (checked at each write).
    pub rotate_seconds: u64,
    /// Statement text longer than this is cut, with a marker saying how much was cut.
    pub max_statement_bytes: usize,
    /// Records waiting for the writer; a full queue makes statements wait (back-pressure).
    pub queue_capacity: usize,
    /// Microseconds a sync waits for the decisions of statements still being planned (group
    /// commit, as PostgreSQL's `commit_delay`); 0 syncs at once.
    pub group_commit_wait_us: u64,
    /// A key file: records are chained with HMAC-SHA-256 under it instead of plain SHA-256, so
    /// the chain cannot be recomputed by someone who can edit the files but not read the key.
    pub chain_key_file: Option<PathBuf>,
    /// Ship closed segments to the lake and serve them as `audit.queries` and `audit.logins`.
    pub lake: bool,
    /// Where in the object store the audit zone is: a path or `s3://bucket/prefix`.
    /// Default: `audit` under the lake root.
    pub lake_location: Option<String>,
}

impl std::str::FromStr for AuditSink {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "file" => Ok(AuditSink::File),
            "stdout" => Ok(AuditSink::Stdout),
            "off" => Ok(AuditSink::Off),
            _ => Err("expected \"file\", \"stdout\" or \"off\"".to_owned()),
        }
    }
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            sink: AuditSink::File,
            dir: None,
            on_failure: OnFailure::Fail,
            durability: DecisionDurability::Synced,
            redact_literals: false,
            rotate_bytes: 64 * 1024 * 1024,
            rotate_seconds: 3600,
            max_statement_bytes: 16 * 1024,
            queue_capacity: 10_000,
            group_commit_wait_us: 250,
            chain_key_file: None,
            lake: true,
            lake_location: None,
        }
    }
}

impl AuditSettings {
    /// The segment directory in force.
    pub fn directory(&self) -> Result<PathBuf, String> {
        if let Some(dir) = &self.dir {
            return Ok(dir.clone());
        }
        dirs::data_dir()
            .map(|d| d.join("lakegate").join("audit"))
            .ok_or_else(|| "no per-user data directory here; set audit.dir".to_owned())
    }

    /// The chain key, if one is configured.
    pub fn chain_key(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(path) = &self.chain_key_file else {
            return Ok(None);
        };
        let key = std::fs::read(path)
            .map_err(|e| format!("cannot read audit.chain_key_file {}: {e}", path.display()))?;
        if key.len() < 32 {
            return Err(format!(
                "audit.chain_key_file {} holds {} bytes; use at least 32 random bytes (head -c 32 /dev/urandom > FILE)",
                path.display(),
                key.len()
            ));
        }
        Ok(Some(key))
    }
}
