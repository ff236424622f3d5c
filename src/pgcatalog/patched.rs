//! `pg_catalog` as datafusion-pg-catalog builds it, with the corrections clients need:
//! - `pg_attribute.atttypmod` carries the type modifier (`numeric(12,2)`, D13); the crate
//!   always reports -1, so `\d` would show a bare `numeric`;
//! - `pg_class` gains `reloptions` and `relacl` (always NULL here), which psql's `\d+` and `\dp`
//!   select;
//! - `pg_description` holds the lake's table and column comments (pgjdbc's REMARKS and
//!   SQLAlchemy's comments join it), next to the built-in objects' descriptions.
//!
//! The catalog tables are small, so a patched table collects the crate's rows and serves the
//! corrected copy from memory.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Int16Type, Int32Type, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, Session, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::{collect, ExecutionPlan};

type Patch = Arc<dyn Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync>;

/// (table OID, attnum) → type modifier, for the columns that have one.
pub type TypeModifiers = Arc<dyn Fn() -> HashMap<(i32, i16), i32> + Send + Sync>;

/// (object OID, sub-id, comment) of the lake's tables (sub-id 0) and columns (attnum).
pub type Comments = Arc<dyn Fn() -> Vec<(i32, i32, String)> + Send + Sync>;

/// One row of `pg_views`.
pub struct ViewRow {
    pub schema: String,
    pub name: String,
    pub owner: String,
    /// `None` where the principal may not see it.
    pub definition: Option<String>,
}

/// The lake's views that exist for the principal.
pub type Views = Arc<dyn Fn() -> Vec<ViewRow> + Send + Sync>;

/// `pg_class`'s OID, the class of table and column comments in `pg_description`.
const PG_CLASS_OID: i32 = 1259;

/// The crate's `pg_catalog` schema with the patched tables swapped in.
#[derive(Debug)]
pub struct PatchedPgCatalog {
    inner: Arc<dyn SchemaProvider>,
    lake: LakeMetadata,
}

/// What the patches read from the lake's catalog.
pub struct LakeMetadata {
    pub type_modifiers: TypeModifiers,
    pub comments: Comments,
    pub views: Views,
}

impl std::fmt::Debug for LakeMetadata {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LakeMetadata")
    }
}

impl PatchedPgCatalog {
    pub fn new(inner: Arc<dyn SchemaProvider>, lake: LakeMetadata) -> Self {
        Self { inner, lake }
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
                let modifiers = Arc::clone(&self.lake.type_modifiers);
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
            "pg_constraint" => {
                let schema = with_array_columns(&table.schema(), &CONSTRAINT_KEYS);
                PatchedTable::with_schema(
                    table,
                    Arc::clone(&schema),
                    Arc::new(move |b| as_arrays(b, &schema, &CONSTRAINT_KEYS)),
                )
            }
            "pg_settings" => PatchedTable::with_extra_rows(
                table,
                Arc::new(|schema: &SchemaRef| setting_rows(schema)),
            ),
            "pg_description" => {
                let comments = Arc::clone(&self.lake.comments);
                PatchedTable::with_extra_rows(
                    table,
                    Arc::new(move |schema: &SchemaRef| comment_rows(schema, &comments())),
                )
            }
            // The crate lists every relation in pg_tables and none in pg_views; dbt tells
            // tables from views by which of the two lists a relation.
            "pg_tables" => {
                let views = Arc::clone(&self.lake.views);
                PatchedTable::wrap(table, Arc::new(move |batch| without_views(batch, &views())))
            }
            "pg_views" => {
                let views = Arc::clone(&self.lake.views);
                PatchedTable::with_extra_rows(
                    table,
                    Arc::new(move |schema: &SchemaRef| view_rows(schema, &views())),
                )
            }
            _ => table,
        }))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

type ExtraRows = Arc<dyn Fn(&SchemaRef) -> Result<RecordBatch> + Send + Sync>;

#[derive(Clone)]
struct PatchedTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    patch: Patch,
    /// Rows added after the crate's.
    extra: Option<ExtraRows>,
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
            extra: None,
        })
    }

    fn with_extra_rows(inner: Arc<dyn TableProvider>, extra: ExtraRows) -> Arc<dyn TableProvider> {
        Arc::new(Self {
            schema: inner.schema(),
            inner,
            patch: Arc::new(Ok),
            extra: Some(extra),
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
        let mut patched = batches
            .into_iter()
            .map(|b| (self.patch)(b))
            .collect::<Result<Vec<_>>>()?;
        if let Some(extra) = &self.extra {
            patched.push(extra(&self.schema)?);
        }
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

/// `int2[]` columns of `pg_constraint`, stored as text by the static tables; clients index
/// them (`conkey[i]`) and take their bounds (`array_upper(conkey, 1)`), as pgjdbc and
/// psqlODBC do for foreign keys.
const CONSTRAINT_KEYS: [&str; 2] = ["conkey", "confkey"];

fn int2_array() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true)))
}

fn with_array_columns(schema: &SchemaRef, names: &[&str]) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match names.contains(&f.name().as_str()) {
            true => Field::new(f.name(), int2_array(), true),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}

fn as_arrays(batch: RecordBatch, schema: &SchemaRef, names: &[&str]) -> Result<RecordBatch> {
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for name in names {
        let index = batch.schema().index_of(name)?;
        let list = super::arrays::int_vectors(&columns[index])?;
        columns[index] = cast(&list, &int2_array())?;
    }
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// Server limits clients read from `pg_settings` (pgjdbc's DatabaseMetaData fails without
/// `max_index_keys`); session settings are read with SHOW and `current_setting`.
const SERVER_SETTINGS: &[(&str, &str)] = &[
    ("max_index_keys", "32"),
    ("max_identifier_length", "63"),
    ("max_function_args", "100"),
    ("block_size", "8192"),
    ("server_encoding", "UTF8"),
    ("integer_datetimes", "on"),
];

fn setting_rows(schema: &SchemaRef) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let values = |pick: fn(&(&'static str, &'static str)) -> &'static str| -> ArrayRef {
                Arc::new(StringArray::from_iter_values(
                    SERVER_SETTINGS.iter().map(pick),
                ))
            };
            let column = match field.name().as_str() {
                "name" => values(|s| s.0),
                "setting" | "reset_val" | "boot_val" => values(|s| s.1),
                "context" => values(|_| "internal"),
                _ => new_null_array(field.data_type(), SERVER_SETTINGS.len()),
            };
            Ok(cast(&column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// `pg_description` rows for the lake's comments, in the table's own column order.
fn comment_rows(schema: &SchemaRef, comments: &[(i32, i32, String)]) -> Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef> {
            let column: ArrayRef = match field.name().as_str() {
                "objoid" => Arc::new(Int32Array::from_iter_values(comments.iter().map(|c| c.0))),
                "classoid" => Arc::new(Int32Array::from(vec![PG_CLASS_OID; comments.len()])),
                "objsubid" => Arc::new(Int32Array::from_iter_values(comments.iter().map(|c| c.1))),
                "description" => Arc::new(StringArray::from_iter_values(
                    comments.iter().map(|c| c.2.as_str()),
                )),
                _ => new_null_array(field.data_type(), comments.len()),
            };
            Ok(cast(&column, field.data_type())?)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
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

/// pg_tables without the rows of views.
fn without_views(batch: RecordBatch, views: &[ViewRow]) -> Result<RecordBatch> {
    let column = |name: &str| -> Result<Vec<Option<String>>> {
        let array = cast(
            batch.column(batch.schema().index_of(name)?),
            &DataType::Utf8,
        )?;
        Ok(array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_owned))
            .collect())
    };
    let (schemas, names) = (column("schemaname")?, column("tablename")?);
    let is_view = |s: &Option<String>, t: &Option<String>| {
        views
            .iter()
            .any(|v| s.as_deref() == Some(&v.schema) && t.as_deref() == Some(&v.name))
    };
    let keep: datafusion::arrow::array::BooleanArray = schemas
        .iter()
        .zip(&names)
        .map(|(s, t)| Some(!is_view(s, t)))
        .collect();
    Ok(datafusion::arrow::compute::filter_record_batch(
        &batch, &keep,
    )?)
}

/// pg_views' rows: schemaname, viewname, viewowner, definition.
fn view_rows(schema: &SchemaRef, views: &[ViewRow]) -> Result<RecordBatch> {
    let text = |values: Vec<Option<&str>>| -> ArrayRef { Arc::new(StringArray::from(values)) };
    let columns = [
        text(views.iter().map(|v| Some(v.schema.as_str())).collect()),
        text(views.iter().map(|v| Some(v.name.as_str())).collect()),
        text(views.iter().map(|v| Some(v.owner.as_str())).collect()),
        text(views.iter().map(|v| v.definition.as_deref()).collect()),
    ];
    let columns = columns
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
