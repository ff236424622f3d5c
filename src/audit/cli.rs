//! `lakegate audit …` commands.

use std::path::PathBuf;
use std::process::ExitCode;

use super::segments::segment_files;
use super::verify::verify;

/// Verifies the given segment files (or every segment of the audit directory) as one chain.
pub fn verify_command(
    files: &[PathBuf],
    dir: Option<PathBuf>,
    key_file: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let from_start = files.is_empty();
    let files = match files.is_empty() {
        false => files.to_vec(),
        true => {
            let dir = match dir {
                Some(dir) => dir,
                None => super::AuditSettings::default().directory()?,
            };
            let files = segment_files(&dir).map_err(|e| {
                format!(
                    "cannot list audit directory {}: {e} (pass --dir or files)",
                    dir.display()
                )
            })?;
            if files.is_empty() {
                return Err(format!(
                    "no audit segments in {} (pass --dir or files)",
                    dir.display()
                ));
            }
            files
        }
    };
    let key = key_file
        .map(|path| {
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        })
        .transpose()?;
    match verify(&files, key.as_deref(), from_start) {
        Ok(report) => {
            println!(
                "ok: {} records in {} segments, records {} to {}, chain intact",
                report.records,
                report.segments,
                report.first_seq.unwrap_or(0),
                report.last_seq.unwrap_or(0)
            );
            for note in &report.notes {
                println!("note: {note}");
            }
            for id in &report.incomplete {
                println!("incomplete: statement {id} has a decision record but no terminal record");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(broken) => {
            println!("BROKEN: {broken}");
            Ok(ExitCode::from(1))
        }
    }
}
