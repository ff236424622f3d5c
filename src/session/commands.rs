//! Commands the session answers itself: settings (SET/SHOW/RESET), transaction control,
//! DISCARD and DEALLOCATE. Queries are handed to [`super::execute`].

use std::fmt::Debug;
use std::sync::Arc;

use futures::Sink;
use pgwire::api::portal::Format;
use pgwire::api::results::{DataRowEncoder, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, Type};
use pgwire::error::PgWireError;
use pgwire::messages::response::TransactionStatus;
use pgwire::messages::startup::ParameterStatus;
use pgwire::messages::PgWireBackendMessage;

use super::Session;
use crate::audit::StatementAudit;
use crate::error::LakegateError;
use crate::statement::Command;

impl Session {
    /// Runs one command. `status` is the transaction status before it.
    pub async fn run<C>(
        &self,
        client: &mut C,
        command: Command,
        status: TransactionStatus,
        format: &Format,
        audit: &mut StatementAudit,
    ) -> Result<Response, LakegateError>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let ends_transaction = matches!(
            command,
            Command::Commit | Command::Rollback | Command::RollbackToSavepoint
        );
        let (class, tag) = command.audit_class();
        audit.classify(class, &tag);
        if status == TransactionStatus::Error && !ends_transaction {
            return Err(LakegateError::InFailedTransaction);
        }
        self.settle_renames(&command, status, audit).await?;
        // Queries decide once their scans are planned; other commands before they run.
        let planned_first = matches!(
            command,
            Command::Query(_)
                | Command::CopyOut { .. }
                | Command::Declare { .. }
                | Command::Write(_)
        );
        if !planned_first {
            audit.decide().await?;
        }
        Ok(match command.clone() {
            Command::Query(statement) => {
                let planned = self.plan(&statement).await?;
                self.execute(planned, format, None, audit).await?
            }
            Command::CopyOut {
                query,
                format: copy,
            } => {
                let planned = self.plan(&query).await?;
                self.execute(planned, &Format::UnifiedText, Some(copy), audit)
                    .await?
            }
            Command::Declare {
                name,
                query,
                hold,
                binary,
            } => {
                let planned = self.plan(&query).await?;
                self.declare(&name, planned, (hold, binary), status, audit)
                    .await?
            }
            Command::Fetch {
                name,
                count,
                discard,
            } => self.fetch(client, &name, count, discard).await?,
            Command::Close { name } => self.close(client, name.as_deref())?,
            Command::Write(write) => {
                let mut notices = Vec::new();
                let in_block = status != TransactionStatus::Idle;
                let result = self.write(*write, in_block, audit, &mut notices).await;
                for notice in notices {
                    send_notice(client, notice).await?;
                }
                result?
            }
            Command::Set { name, value } => {
                self.set(client, &name, value.as_deref()).await?;
                Response::Execution(Tag::new("SET"))
            }
            Command::Reset { name: Some(name) } => {
                self.set(client, &name, None).await?;
                Response::Execution(Tag::new("RESET"))
            }
            Command::Reset { name: None } => {
                self.reset_all(client).await?;
                Response::Execution(Tag::new("RESET"))
            }
            Command::Show { name } => self.show(&name, format)?,
            Command::ShowAll => self.show_all(format)?,
            Command::Ignored { tag } => Response::Execution(Tag::new(tag)),
            Command::Begin
            | Command::Commit
            | Command::Rollback
            | Command::Savepoint
            | Command::ReleaseSavepoint
            | Command::RollbackToSavepoint => {
                let response = transaction(&command, status)?;
                if matches!(response, Response::TransactionEnd(_)) {
                    self.cursors.end_transaction();
                }
                response
            }
            Command::DiscardAll => {
                self.reset_all(client).await?;
                self.close(client, None)?;
                self.deallocate(client, None).await?;
                Response::Execution(Tag::new("DISCARD ALL"))
            }
            Command::Deallocate { name } => {
                let tag = if name.is_some() {
                    "DEALLOCATE"
                } else {
                    "DEALLOCATE ALL"
                };
                self.deallocate(client, name).await?;
                Response::Execution(Tag::new(tag))
            }
        })
    }

    async fn set<C>(
        &self,
        client: &mut C,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), LakegateError>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (canonical, reported, current) = {
            let mut settings = self.settings.write().expect("settings lock");
            let (canonical, reported) = settings.set(name, value)?;
            (canonical, reported, settings.get(canonical)?.1.to_owned())
        };
        if canonical == "search_path" {
            self.apply_search_path();
        }
        if reported {
            let message = PgWireBackendMessage::ParameterStatus(ParameterStatus::new(
                canonical.to_owned(),
                current,
            ));
            futures::SinkExt::feed(client, message)
                .await
                .map_err(|e| LakegateError::Internal(format!("{e:?}")))?;
        }
        Ok(())
    }

    async fn reset_all<C>(&self, client: &mut C) -> Result<(), LakegateError>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let names: Vec<&'static str> = self
            .settings
            .read()
            .expect("settings lock")
            .all()
            .map(|(n, _)| n)
            .collect();
        for name in names {
            match self.set(client, name, None).await {
                Ok(()) | Err(LakegateError::ReadOnlySetting(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// DEALLOCATE: a protocol-level prepared statement, else a SQL-level one (PREPARE).
    async fn deallocate<C>(&self, client: &mut C, name: Option<String>) -> Result<(), LakegateError>
    where
        C: ClientInfo + ClientPortalStore,
        C::PortalStore: PortalStore,
    {
        let known = {
            let mut names = self.statement_names.lock().expect("statement names");
            match &name {
                None => std::mem::take(&mut *names).into_iter().collect(),
                Some(name) if names.remove(name) => vec![name.clone()],
                Some(_) => Vec::new(),
            }
        };
        known
            .iter()
            .for_each(|n| client.portal_store().rm_statement(n));
        let Some(name) = name.filter(|_| known.is_empty()) else {
            return Ok(());
        };
        let sql = format!("DEALLOCATE {}", quote_ident(&name));
        self.ctx
            .sql(&sql)
            .await
            .map_err(|_| LakegateError::UnknownPreparedStatement(name))?;
        Ok(())
    }

    /// Remembers a protocol-level prepared statement's name (for DEALLOCATE ALL).
    pub fn remember_statement(&self, name: &str) {
        self.statement_names
            .lock()
            .expect("statement names")
            .insert(name.to_owned());
    }

    fn show(&self, name: &str, format: &Format) -> Result<Response, LakegateError> {
        let settings = self.settings.read().expect("settings lock");
        let (canonical, value) = settings.get(name)?;
        text_rows(&[canonical], vec![vec![value.to_owned()]], format)
    }

    fn show_all(&self, format: &Format) -> Result<Response, LakegateError> {
        let settings = self.settings.read().expect("settings lock");
        let rows = settings
            .all()
            .map(|(n, v)| vec![n.to_owned(), v.to_owned(), String::new()])
            .collect();
        text_rows(&["name", "setting", "description"], rows, format)
    }
}

/// A NOTICE (IF EXISTS found nothing, IF NOT EXISTS found something), as PostgreSQL sends it.
async fn send_notice<C>(client: &mut C, message: String) -> Result<(), LakegateError>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
{
    let info = pgwire::error::ErrorInfo::new("NOTICE".to_owned(), "00000".to_owned(), message);
    let notice = PgWireBackendMessage::NoticeResponse(info.into());
    futures::SinkExt::feed(client, notice)
        .await
        .map_err(|e| LakegateError::Internal(format!("{e:?}")))
}

/// BEGIN/COMMIT/ROLLBACK/SAVEPOINT: accepted (the lake is read-only), with PostgreSQL's
/// responses and transaction states.
fn transaction(command: &Command, status: TransactionStatus) -> Result<Response, LakegateError> {
    let in_block = status != TransactionStatus::Idle;
    Ok(match command {
        Command::Begin if in_block => Response::Execution(Tag::new("BEGIN")),
        Command::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Command::Commit if status == TransactionStatus::Error => {
            Response::TransactionEnd(Tag::new("ROLLBACK"))
        }
        Command::Commit => Response::TransactionEnd(Tag::new("COMMIT")),
        Command::Rollback => Response::TransactionEnd(Tag::new("ROLLBACK")),
        Command::Savepoint | Command::ReleaseSavepoint | Command::RollbackToSavepoint
            if !in_block =>
        {
            return Err(LakegateError::NoTransaction)
        }
        Command::Savepoint => Response::Execution(Tag::new("SAVEPOINT")),
        Command::ReleaseSavepoint => Response::Execution(Tag::new("RELEASE")),
        Command::RollbackToSavepoint => Response::Execution(Tag::new("ROLLBACK")),
        other => {
            return Err(LakegateError::Internal(format!(
                "{other:?} is not transaction control"
            )))
        }
    })
}

/// A small result of text columns, built in memory (SHOW).
fn text_rows(
    columns: &[&str],
    rows: Vec<Vec<String>>,
    format: &Format,
) -> Result<Response, LakegateError> {
    let fields: Vec<FieldInfo> = columns
        .iter()
        .enumerate()
        .map(|(i, name)| {
            FieldInfo::new(
                (*name).to_owned(),
                None,
                None,
                Type::TEXT,
                format.format_for(i),
            )
        })
        .collect();
    let fields = Arc::new(fields);
    let encoded = rows
        .into_iter()
        .map(|row| {
            let mut encoder = DataRowEncoder::new(Arc::clone(&fields));
            row.iter()
                .try_for_each(|v| encoder.encode_field(&Some(v.as_str())))?;
            Ok(encoder.take_row())
        })
        .collect::<Vec<_>>();
    Ok(Response::Query(QueryResponse::new(
        fields,
        futures::stream::iter(encoded),
    )))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
