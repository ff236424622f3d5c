//! Renames inside a transaction block are held until the next statement that is not a rename
//! (or COMMIT), then applied together as one catalog change; ROLLBACK discards them. dbt swaps
//! a model for its new version with two renames in one transaction (model → backup, new →
//! model): applied together, a crash between them cannot leave the model's name without a
//! table, and readers never miss it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use pgwire::messages::response::TransactionStatus;

use super::Session;
use crate::audit::StatementAudit;
use crate::error::LakegateError;
use crate::statement::Command;
use crate::write::WriteCommand;

/// Renames of this session's open transaction: (schema, from, to), in order.
#[derive(Debug, Default)]
pub struct HeldRenames(Mutex<Vec<(String, String, String)>>);

impl HeldRenames {
    fn take(&self) -> Vec<(String, String, String)> {
        std::mem::take(&mut *self.0.lock().expect("held renames"))
    }
}

impl Session {
    /// The tables of `schema` after the held renames: name now → name in the catalog.
    pub(super) fn names_after_renames(&self, schema: &str) -> BTreeMap<String, String> {
        let lake = std::sync::Arc::clone(self.view.load().access.lake());
        let mut names: BTreeMap<String, String> = lake
            .table_names(schema)
            .into_iter()
            .map(|n| (n.clone(), n))
            .collect();
        let held = self.held_renames.0.lock().expect("held renames");
        for (_, from, to) in held.iter().filter(|(s, _, _)| s == schema) {
            if let Some(original) = names.remove(from) {
                names.insert(to.clone(), original);
            }
        }
        names
    }

    pub(super) fn hold_rename(&self, schema: &str, from: &str, to: &str) {
        let mut held = self.held_renames.0.lock().expect("held renames");
        held.push((schema.to_owned(), from.to_owned(), to.to_owned()));
    }

    /// Applies or discards the held renames before `command` runs: a rename joins them; the end
    /// of a failed or rolled-back transaction discards them; anything else applies them first,
    /// so it sees the names they give.
    pub(super) async fn settle_renames(
        &self,
        command: &Command,
        status: TransactionStatus,
        audit: &mut StatementAudit,
    ) -> Result<(), LakegateError> {
        match command {
            Command::Write(write) if matches!(**write, WriteCommand::Rename { .. }) => Ok(()),
            Command::Rollback | Command::RollbackToSavepoint => {
                self.held_renames.take();
                Ok(())
            }
            Command::Commit if status == TransactionStatus::Error => {
                self.held_renames.take();
                Ok(())
            }
            _ => self.apply_renames(audit).await,
        }
    }

    /// Applies the held renames, one catalog change per schema.
    pub(super) async fn apply_renames(
        &self,
        audit: &mut StatementAudit,
    ) -> Result<(), LakegateError> {
        let held = self.held_renames.take();
        if held.is_empty() {
            return Ok(());
        }
        let mut by_schema: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for (schema, from, to) in held {
            audit.set_written(
                &format!("{schema}.{from}"),
                &format!("rename to {to}"),
                None,
            );
            match by_schema.iter_mut().find(|(s, _)| *s == schema) {
                Some((_, renames)) => renames.push((from, to)),
                None => by_schema.push((schema, vec![(from, to)])),
            }
        }
        let lake = std::sync::Arc::clone(self.view.load().access.lake());
        for (schema, renames) in by_schema {
            lake.rename_tables(&schema, &renames).await?;
        }
        Ok(())
    }
}
