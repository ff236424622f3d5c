//! The AWS Glue Data Catalog through `aws-sdk-glue`: region and credentials from the usual AWS
//! chain, the endpoint from `AWS_ENDPOINT_URL_GLUE` or the config (moto, LocalStack, a VPC
//! endpoint), every listing paginated, and each call bounded by a timeout so a slow catalog
//! becomes an error instead of a hung statement.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types as glue;
use aws_sdk_glue::Client;

use super::{CatalogBackend, CatalogError};
use crate::catalog::glue_model::{
    Column, Database, Partition, SerDeInfo, StorageDescriptor, Table,
};

/// How to reach Glue; unset fields come from the AWS environment.
#[derive(Debug, Clone, Default)]
pub struct GlueSettings {
    pub region: Option<String>,
    pub endpoint: Option<String>,
    /// The AWS account id of the catalog, for catalogs shared across accounts.
    pub catalog_id: Option<String>,
    /// Upper bound for one Glue call, retries included.
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct GlueBackend {
    client: Client,
    catalog_id: Option<String>,
}

impl GlueBackend {
    pub async fn connect(settings: &GlueSettings) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.timeout.min(Duration::from_secs(3)))
            .operation_attempt_timeout(settings.timeout / 2)
            .operation_timeout(settings.timeout)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(3));
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint);
        }
        let config = loader.load().await;
        Self {
            client: Client::new(&config),
            catalog_id: settings.catalog_id.clone(),
        }
    }
}

impl GlueBackend {
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn catalog_id(&self) -> Option<String> {
        self.catalog_id.clone()
    }
}

#[async_trait]
impl CatalogBackend for GlueBackend {
    fn kind(&self) -> &'static str {
        "Glue"
    }

    async fn databases(&self) -> Result<Vec<Database>, CatalogError> {
        let pages = self
            .client
            .get_databases()
            .set_catalog_id(self.catalog_id.clone())
            .into_paginator()
            .send();
        let mut databases = Vec::new();
        for page in pages.try_collect().await.map_err(unavailable)? {
            databases.extend(page.database_list().iter().map(database));
        }
        Ok(databases)
    }

    async fn tables(&self, database: &str) -> Result<Vec<Table>, CatalogError> {
        let pages = self
            .client
            .get_tables()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(database)
            .into_paginator()
            .send();
        let mut tables = Vec::new();
        match pages.try_collect().await {
            Ok(pages) => {
                for page in pages {
                    tables.extend(page.table_list().iter().map(|t| table(database, t)));
                }
            }
            // Dropped between GetDatabases and GetTables: it has no tables now.
            Err(e) if e.code() == Some("EntityNotFoundException") => {}
            Err(e) => return Err(unavailable(e)),
        }
        Ok(tables)
    }

    async fn partitions(
        &self,
        database: &str,
        table: &str,
        expression: Option<&str>,
    ) -> Result<Vec<Partition>, CatalogError> {
        let pages = self
            .client
            .get_partitions()
            .set_catalog_id(self.catalog_id.clone())
            .database_name(database)
            .table_name(table)
            .set_expression(expression.map(str::to_owned))
            // The partitions' column lists repeat the table's; leave them out of the response.
            .exclude_column_schema(true)
            .into_paginator()
            .send();
        let mut partitions = Vec::new();
        for page in pages.try_collect().await.map_err(unavailable)? {
            partitions.extend(page.partitions().iter().map(partition));
        }
        Ok(partitions)
    }

    fn evaluates_expressions(&self) -> bool {
        true
    }

    /// GetConnection with `HidePassword`: a password kept in Glue is not even fetched (the
    /// federation refuses such connections; credentials come from secrets).
    async fn connection(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::HashMap<String, String>>, CatalogError> {
        let answer = self
            .client
            .get_connection()
            .set_catalog_id(self.catalog_id.clone())
            .name(name)
            .hide_password(true)
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(e) if e.code() == Some("EntityNotFoundException") => return Ok(None),
            Err(e) => return Err(unavailable(e)),
        };
        let properties = output
            .connection()
            .and_then(|c| c.connection_properties())
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(properties))
    }

    fn writer(&self) -> Option<&dyn super::CatalogWriter> {
        Some(self)
    }
}

/// A short, safe summary for the client; the whole error for the log.
pub(super) fn unavailable<E, R>(error: SdkError<E, R>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let summary = match &error {
        SdkError::TimeoutError(_) => "no answer within the catalog timeout".to_owned(),
        SdkError::DispatchFailure(_) => "cannot connect".to_owned(),
        SdkError::ServiceError(e) => e
            .err()
            .code()
            .map_or_else(|| "service error".to_owned(), str::to_owned),
        SdkError::ResponseError(_) => "invalid response".to_owned(),
        _ => "request failed".to_owned(),
    };
    let detail = format!("{}", aws_sdk_glue::error::DisplayErrorContext(&error));
    CatalogError::Unavailable {
        backend: "Glue",
        summary,
        detail,
    }
}

fn database(db: &glue::Database) -> Database {
    Database {
        name: db.name().to_owned(),
        description: db.description().map(str::to_owned),
        location_uri: db.location_uri().map(str::to_owned),
        parameters: db.parameters().cloned().unwrap_or_default(),
    }
}

fn table(database: &str, t: &glue::Table) -> Table {
    Table {
        name: t.name().to_owned(),
        database_name: database.to_owned(),
        description: t.description().map(str::to_owned),
        table_type: t.table_type().map(str::to_owned),
        parameters: t.parameters().cloned().unwrap_or_default(),
        storage_descriptor: t
            .storage_descriptor()
            .map(storage_descriptor)
            .unwrap_or_default(),
        partition_keys: t.partition_keys().iter().map(column).collect(),
        owner: t.owner().map(str::to_owned),
        view_original_text: t.view_original_text().map(str::to_owned),
        view_expanded_text: t.view_expanded_text().map(str::to_owned),
    }
}

fn partition(p: &glue::Partition) -> Partition {
    Partition {
        values: p.values().to_vec(),
        storage_descriptor: p
            .storage_descriptor()
            .map(storage_descriptor)
            .unwrap_or_default(),
    }
}

fn storage_descriptor(sd: &glue::StorageDescriptor) -> StorageDescriptor {
    StorageDescriptor {
        columns: sd.columns().iter().map(column).collect(),
        location: sd.location().map(str::to_owned),
        input_format: sd.input_format().map(str::to_owned),
        output_format: sd.output_format().map(str::to_owned),
        serde_info: sd.serde_info().map(|s| SerDeInfo {
            serialization_library: s.serialization_library().map(str::to_owned),
            parameters: s.parameters().cloned().unwrap_or_else(HashMap::new),
        }),
    }
}

fn column(c: &glue::Column) -> Column {
    Column {
        name: c.name().to_owned(),
        type_name: c.r#type().unwrap_or_default().to_owned(),
        comment: c.comment().map(str::to_owned),
        parameters: c.parameters().cloned().unwrap_or_default(),
    }
}
