//! `lakegate audit verify`: walks segments in chain order and reports the first record that
//! is cut short, modified, missing, out of order, or not linked to the one before (AD-05).
//! Statements with a decision but no terminal record are listed: the gateway stopped while
//! they ran (AD-03).

use std::path::{Path, PathBuf};

use super::chain::{Chain, LineError, Sealed, GENESIS};
use super::record::Event;
use super::segments::{file_name, written_part};

#[derive(Debug, Default)]
pub struct Report {
    pub records: u64,
    pub segments: usize,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub notes: Vec<String>,
    /// Query ids of decisions without a terminal record.
    pub incomplete: Vec<String>,
}

/// The first problem found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    pub file: String,
    pub line: usize,
    pub problem: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.problem)
    }
}

struct Walk {
    from_start: bool,
    chain: Chain,
    report: Report,
    /// Sequence number and hash of the last record seen.
    last: Option<(u64, String)>,
    /// The previous segment ended without its close record.
    previous_unclosed: Option<String>,
    previous_name: Option<String>,
}

/// Verifies `files` as one chain, in the order given. With `from_start` (a whole audit
/// directory) the chain must begin at its first record: nothing prunes segments, so a directory
/// that starts later has lost its oldest ones.
pub fn verify(files: &[PathBuf], key: Option<&[u8]>, from_start: bool) -> Result<Report, Broken> {
    let mut walk = Walk {
        from_start,
        chain: Chain::new(key),
        report: Report::default(),
        last: None,
        previous_unclosed: None,
        previous_name: None,
    };
    for file in files {
        walk.segment(file)?;
    }
    if let Some(name) = walk.previous_unclosed.take() {
        walk.report.notes.push(format!(
            "{name} is still open (the gateway is running) or ended without its close record"
        ));
    }
    Ok(walk.report)
}

impl Walk {
    fn segment(&mut self, path: &Path) -> Result<(), Broken> {
        let name = file_name(path);
        let broken = |line: usize, problem: String| Broken {
            file: name.clone(),
            line,
            problem,
        };
        let bytes =
            std::fs::read(path).map_err(|e| broken(0, format!("cannot read the file: {e}")))?;
        let text = std::str::from_utf8(written_part(&bytes))
            .map_err(|e| broken(0, format!("not text: {e}")))?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let mut last_event = None;
        for (i, line) in lines.iter().enumerate() {
            let number = i + 1;
            let Some(line) = line.strip_suffix('\n') else {
                return Err(broken(
                    number,
                    "the last record is cut short (truncated)".into(),
                ));
            };
            let sealed = self.chain.open(line).map_err(|e| {
                broken(number, match e {
                    LineError::Malformed => "not a whole record (cut short or altered)".into(),
                    LineError::Modified => "the record was modified: its hash does not match its content (or the chain key differs)".into(),
                })
            })?;
            self.link(&sealed)
                .map_err(|p| match (i, &self.previous_name) {
                    (0, Some(previous)) => broken(
                        number,
                        format!(
                            "{p}: the end of {previous} was cut, or a segment after it is missing"
                        ),
                    ),
                    _ => broken(number, p),
                })?;
            if i == 0 {
                self.opening(&sealed).map_err(|p| broken(number, p))?;
            }
            self.track(&sealed);
            last_event = Some(sealed.event);
        }
        self.report.segments += 1;
        self.previous_name = Some(name.clone());
        self.previous_unclosed = (last_event != Some(Event::SegmentClose)).then_some(name);
        Ok(())
    }

    /// A segment starts with its opening record; if the one before did not end with its close
    /// record, this one must say that the previous run stopped without closing it.
    fn opening(&mut self, sealed: &Sealed) -> Result<(), String> {
        if sealed.event != Event::SegmentOpen {
            return Err("the segment does not start with its opening record (records were cut from its start)".into());
        }
        if let Some(previous) = self.previous_unclosed.take() {
            let reason = sealed.details.get("reason").and_then(|r| r.as_str());
            let run_closed = sealed.details.get("previous_run_closed");
            // Rotations close first; a new run or a lost segment file says why it could not.
            let acknowledged = match reason {
                Some("start") => run_closed == Some(&serde_json::Value::Bool(false)),
                Some("replaced" | "recovery") => true,
                _ => false,
            };
            if !acknowledged {
                return Err(format!(
                    "{previous} ends without its close record: records were cut from its end"
                ));
            }
            self.report.notes.push(format!("{previous} ended without its close record (the gateway stopped or its sink failed)"));
        }
        Ok(())
    }

    fn link(&mut self, sealed: &Sealed) -> Result<(), String> {
        if sealed.v != super::record::FORMAT_VERSION {
            return Err(format!(
                "record format version {} is not one this lakegate reads",
                sealed.v
            ));
        }
        match &self.last {
            None if sealed.seq == 1 && sealed.prev != GENESIS => {
                return Err("the first record does not start the chain".into())
            }
            None if sealed.seq != 1 && self.from_start => {
                return Err(format!(
                    "the chain starts at record {}: the segments before it are missing",
                    sealed.seq
                ))
            }
            None if sealed.seq != 1 => self.report.notes.push(format!(
                "the chain is checked from record {} on (earlier segments were not given)",
                sealed.seq
            )),
            None => {}
            Some((seq, _)) if sealed.seq <= *seq => {
                return Err(format!(
                    "record {} comes after record {seq}: records are out of order or replayed",
                    sealed.seq
                ))
            }
            Some((seq, _)) if sealed.seq > seq + 1 => {
                return Err(format!(
                    "records {} to {} are missing or out of order",
                    seq + 1,
                    sealed.seq - 1
                ))
            }
            Some((_, hash)) if sealed.prev != *hash => {
                return Err(
                    "the record before this one was replaced or altered (the chain does not link)"
                        .into(),
                )
            }
            Some(_) => {}
        }
        self.last = Some((sealed.seq, sealed.hash.clone()));
        Ok(())
    }

    fn track(&mut self, sealed: &Sealed) {
        let report = &mut self.report;
        report.records += 1;
        report.first_seq.get_or_insert(sealed.seq);
        report.last_seq = Some(sealed.seq);
        match (sealed.event, &sealed.query_id) {
            (Event::Decision, Some(id)) => report.incomplete.push(id.clone()),
            (event, Some(id)) if event.is_terminal() => report.incomplete.retain(|o| o != id),
            _ => {}
        }
    }
}
