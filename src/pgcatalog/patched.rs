//! `pg_catalog` as datafusion-pg-catalog builds it, with the corrections clients need:
//! - `pg_attribute.atttypmod` carries the type modifier (`numeric(12,2)`, D13); the crate
//!   always reports -1, so `\d` would show a bare `numeric`;
//! - `pg_class` gains `reloptions` and `relacl` (always NULL here), which psql's `\d+` and `\dp`
//!   select.
//!
//! The catalog tables are small, so a patched table collects the crate's rows and serves the
//! corrected copy from memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int32Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int16Type, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{collect, ExecutionPlan};

type Patch = Arc<dyn Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync>;

/// (table OID, attnum) → type modifier, for the columns that have one.
pub type TypeModifiers = Arc<dyn Fn() -> HashMap<(i32, i16), i32> + Send + Sync>;

/// The crate's `pg_catalog` schema with the patched tables swapped in.
#[derive(Debug)]
pub struct PatchedPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    type_modifiers: TypeModifiersDebug,
}

struct TypeModifiersDebug(TypeModifiers);

impl std::fmt::Debug for TypeModifiersDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TypeModifiers")
    }
}

impl PatchedPgCatalog {
    pub fn new(inner: Arc<dyn SchemaProvider>, type_modifiers: TypeModifiers) -> Self {
        Self {
            inner,
            type_modifiers: TypeModifiersDebug(type_modifiers),
        }
    }
}

#[async_trait]
impl SchemaProvider for PatchedPgCatalog {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let Some(table) = self.inner.table(name).await? else {
            return Ok(None);
        };
        Ok(Some(match name {
            "pg_attribute" => {
                let modifiers = Arc::clone(&self.type_modifiers.0);
                PatchedTable::wrap(
                    table,
                    Arc::new(move |batch| with_type_modifiers(batch, &modifiers())),
                )
            }
            "pg_class" => {
                let extra = ["reloptions", "relacl"];
                let list = DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)));
                let schema = with_null_columns(&table.schema(), &extra, &list);
                PatchedTable::with_schema(
                    table,
                    Arc::clone(&schema),
                    Arc::new(move |b| append_nulls(b, &schema)),
                )
            }
            _ => table,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Clone)]
struct PatchedTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    patch: Patch,
}

impl std::fmt::Debug for PatchedTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchedTable")
            .field("schema", &self.schema)
            .finish()
    }
}

impl PatchedTable {
    fn wrap(inner: Arc<dyn TableProvider>, patch: Patch) -> Arc<dyn TableProvider> {
        let schema = inner.schema();
        Self::with_schema(inner, schema, patch)
    }

    fn with_schema(
        inner: Arc<dyn TableProvider>,
        schema: SchemaRef,
        patch: Patch,
    ) -> Arc<dyn TableProvider> {
        Arc::new(Self {
            inner,
            schema,
            patch,
        })
    }
}

#[async_trait]
impl TableProvider for PatchedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.scan(state, None, &[], None).await?;
        let batches = collect(plan, state.task_ctx()).await?;
        let patched = batches
            .into_iter()
            .map(|b| (self.patch)(b))
            .collect::<Result<Vec<_>>>()?;
        let table = MemTable::try_new(Arc::clone(&self.schema), vec![patched])?;
        table.scan(state, projection, filters, limit).await
    }
}

fn with_type_modifiers(
    batch: RecordBatch,
    modifiers: &HashMap<(i32, i16), i32>,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let (relid, attnum, typmod) = (
        schema.index_of("attrelid")?,
        schema.index_of("attnum")?,
        schema.index_of("atttypmod")?,
    );
    let relids = batch.column(relid).as_primitive::<Int32Type>();
    let attnums = batch.column(attnum).as_primitive::<Int16Type>();
    let current = batch.column(typmod).as_primitive::<Int32Type>();
    let patched: Int32Array = (0..batch.num_rows())
        .map(|row| {
            let key = (relids.value(row), attnums.value(row));
            Some(
                modifiers
                    .get(&key)
                    .copied()
                    .unwrap_or_else(|| current.value(row)),
            )
        })
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns[typmod] = Arc::new(patched);
    Ok(RecordBatch::try_new(schema, columns)?)
}

fn with_null_columns(schema: &SchemaRef, names: &[&str], data_type: &DataType) -> SchemaRef {
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.extend(
        names
            .iter()
            .map(|n| Field::new(*n, data_type.clone(), true)),
    );
    Arc::new(Schema::new(fields))
}

fn append_nulls(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for field in &schema.fields()[columns.len()..] {
        columns.push(new_null_array(field.data_type(), batch.num_rows()));
    }
    debug_assert!(columns.iter().all(|c| c.len() == batch.num_rows()));
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
