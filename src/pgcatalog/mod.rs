//! `pg_catalog` and the PostgreSQL system functions clients call, fed by lakegate's catalog.
//!
//! datafusion-pg-catalog provides the tables (static snapshots of a real PostgreSQL plus
//! `pg_class`, `pg_namespace`, `pg_attribute`, … built from a [`CatalogInfo`]). We implement
//! `CatalogInfo` over catalog metadata so that listing tables never opens them, share one
//! provider between sessions so that OIDs agree across connections, and assign every table its
//! OID at start-up so RowDescription can name the table a column comes from.
//!
//! Metadata follows data (D10): each principal gets a `pg_catalog` built from their
//! [`Access`], so tables and columns that do not exist for them are absent from `pg_class`,
//! `pg_attribute` and the comment functions, and column numbers have no gaps where a hidden
//! column sits. Principals with the same access share one.

mod arrays;
mod compat;
mod conditional;
mod functions;
mod json;
mod patched;
mod regclass;
mod type_names;
mod udf;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, RwLock};

use async_trait::async_trait;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, SchemaRef};
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::TableType;
use datafusion::prelude::SessionContext;
use datafusion_pg_catalog::pg_catalog::catalog_info::CatalogInfo;
use datafusion_pg_catalog::pg_catalog::context::{PgCatalogContextProvider, Role};
use datafusion_pg_catalog::pg_catalog::{PgCatalogSchemaProvider, PgCatalogStaticTables};

use crate::auth::UserStore;
use crate::catalog::DATABASE_NAME;
use crate::policy::{Access, TableAccess};
pub use arrays::{EXPAND_ARRAY, OID_ARRAY, OID_LIST, VECTOR_ELEMENT};
pub use conditional::WHEN;
pub use functions::{register_functions, SessionFunctionsContext};

pub const PG_CATALOG_SCHEMA: &str = "pg_catalog";

/// The static tables decode ~1 MB of embedded Arrow data; do it once per process.
static STATIC_TABLES: LazyLock<Result<Arc<PgCatalogStaticTables>, String>> = LazyLock::new(|| {
    PgCatalogStaticTables::try_new()
        .map(Arc::new)
        .map_err(|e| e.to_string())
});

/// The static tables, shared by every `pg_catalog`.
pub fn static_tables() -> Result<Arc<PgCatalogStaticTables>, String> {
    STATIC_TABLES.clone()
}

/// Catalog metadata as datafusion-pg-catalog reads it: what exists for one principal.
#[derive(Debug, Clone)]
struct LakeCatalogInfo {
    access: Arc<Access>,
}

#[async_trait]
impl CatalogInfo for LakeCatalogInfo {
    async fn catalog_names(&self) -> Result<Vec<String>> {
        Ok(vec![DATABASE_NAME.to_owned()])
    }

    /// The lake's schemas plus `pg_catalog` (fixed OID 11, which `pg_type` and `pg_proc`
    /// rows reference, so type-introspection joins find it).
    async fn schema_names(&self, catalog: &str) -> Result<Option<Vec<String>>> {
        Ok((catalog == DATABASE_NAME).then(|| {
            let mut names = vec![PG_CATALOG_SCHEMA.to_owned()];
            names.extend(self.access.schema_names());
            names
        }))
    }

    async fn table_names(&self, catalog: &str, schema: &str) -> Result<Option<Vec<String>>> {
        Ok((catalog == DATABASE_NAME).then(|| self.access.table_names(schema)))
    }

    async fn table_schema(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<SchemaRef>> {
        Ok(self.entry(catalog, schema, table).map(|t| t.schema()))
    }

    async fn table_type(
        &self,
        catalog: &str,
        schema: &str,
        table: &str,
    ) -> Result<Option<TableType>> {
        Ok(self
            .entry(catalog, schema, table)
            .map(|t| match t.entry().glue.is_view() {
                true => TableType::View,
                false => TableType::Base,
            }))
    }
}

impl LakeCatalogInfo {
    fn entry(&self, catalog: &str, schema: &str, table: &str) -> Option<TableAccess> {
        (catalog == DATABASE_NAME)
            .then(|| self.access.table(schema, table))
            .flatten()
    }
}

/// Roles for `pg_roles`. A struct holding an `Arc`, never an `Arc<T>` itself: the crate's
/// blanket impl for `Arc<T>` calls itself forever.
#[derive(Debug, Clone)]
struct LakeRoles {
    users: Arc<UserStore>,
}

#[async_trait]
impl PgCatalogContextProvider for LakeRoles {
    async fn roles(&self) -> Vec<String> {
        self.users.current().names()
    }

    async fn role(&self, name: &str) -> Option<Role> {
        let users = self.users.current();
        let principal = users.principal(name)?;
        Some(Role {
            name: principal.user.clone(),
            is_superuser: principal.superuser,
            can_login: true,
            can_create_db: false,
            can_create_role: false,
            can_create_user: false,
            can_replication: false,
            grants: Vec::new(),
            inherited_roles: principal.groups.clone(),
        })
    }
}

/// One principal's `pg_catalog` schema plus the OIDs it gave each table.
#[derive(Debug)]
pub struct PgCatalog {
    schema: Arc<dyn SchemaProvider>,
    access: Arc<Access>,
    table_oids: TableOids,
    /// The catalog generation `table_oids` were read at.
    oids_generation: AtomicU64,
}

type TableOids = Arc<RwLock<HashMap<(String, String), i32>>>;

/// Each table the principal sees, with the OID `pg_class` gave it.
fn visible_tables(access: &Access, oids: &TableOids) -> Vec<(i32, TableAccess)> {
    let oids = oids.read().expect("oid lock");
    oids.iter()
        .filter_map(|((schema, table), oid)| Some((*oid, access.table(schema, table)?)))
        .collect()
}

/// The views that exist for the principal. A definition can name tables and columns hidden
/// from a reader (and hold literals), so only superusers and the view's creator see it (D10).
fn views(access: Arc<Access>, oids: TableOids) -> patched::Views {
    Arc::new(move || {
        visible_tables(&access, &oids)
            .into_iter()
            .map(|(_, table)| Arc::clone(table.entry()))
            .filter(|entry| entry.glue.is_view())
            .map(|entry| {
                let shown = access.is_unrestricted() || access.owns(&entry);
                let glue = &entry.glue;
                let owner = glue
                    .created_by()
                    .or(glue.owner.as_deref())
                    .unwrap_or_default();
                patched::ViewRow {
                    schema: glue.database_name.clone(),
                    name: glue.name.clone(),
                    owner: owner.to_owned(),
                    definition: glue.view_original_text.clone().filter(|_| shown),
                }
            })
            .collect()
    })
}

/// Type modifiers of the catalog's columns, keyed by (table OID, attnum).
fn type_modifiers(access: Arc<Access>, oids: TableOids) -> patched::TypeModifiers {
    Arc::new(move || {
        let mut modifiers = HashMap::new();
        for (oid, table) in visible_tables(&access, &oids) {
            for (index, field) in table.schema().fields().iter().enumerate() {
                let modifier = crate::session::type_modifier(field.data_type());
                if modifier >= 0 {
                    modifiers.insert((oid, index as i16 + 1), modifier);
                }
            }
        }
        modifiers
    })
}

/// The comments of the catalog's tables and of their visible columns.
fn comments(access: Arc<Access>, oids: TableOids) -> patched::Comments {
    Arc::new(move || {
        let mut comments = Vec::new();
        for (oid, table) in visible_tables(&access, &oids) {
            let entry = table.entry();
            if let Some(description) = &entry.glue.description {
                comments.push((oid, 0, description.clone()));
            }
            for (index, field) in table.schema().fields().iter().enumerate() {
                if let Some(comment) = entry.column_comments.get(field.name()) {
                    comments.push((oid, index as i32 + 1, comment.clone()));
                }
            }
        }
        comments
    })
}

impl PgCatalog {
    /// The `pg_catalog` of one principal; table OIDs are read on first use
    /// ([`Self::load_table_oids`]).
    pub fn new(access: Arc<Access>, users: Arc<UserStore>) -> Result<Self, String> {
        let info = LakeCatalogInfo {
            access: Arc::clone(&access),
        };
        let provider =
            PgCatalogSchemaProvider::try_new(info, static_tables()?, LakeRoles { users })
                .map_err(|e| e.to_string())?;
        let table_oids = TableOids::default();
        let lake = patched::LakeMetadata {
            type_modifiers: type_modifiers(Arc::clone(&access), Arc::clone(&table_oids)),
            comments: comments(Arc::clone(&access), Arc::clone(&table_oids)),
            views: views(Arc::clone(&access), Arc::clone(&table_oids)),
        };
        let schema = Arc::new(patched::PatchedPgCatalog::new(Arc::new(provider), lake));
        Ok(Self {
            schema,
            access,
            table_oids,
            oids_generation: AtomicU64::new(u64::MAX),
        })
    }

    pub fn schema(&self) -> Arc<dyn SchemaProvider> {
        Arc::clone(&self.schema)
    }

    /// Whether tables appeared or went since the OIDs were read.
    pub fn oids_outdated(&self) -> bool {
        self.oids_generation.load(Ordering::Relaxed) != self.access.lake().generation()
    }

    /// Reads every table's OID from `pg_class`, which assigns them in catalog order; the provider
    /// keeps them for its lifetime, so RowDescription and `pg_class` agree. Read again when the
    /// catalog's tables change.
    pub async fn load_table_oids(&self) -> Result<()> {
        let generation = self.access.lake().generation();
        let ctx = SessionContext::new();
        let schemas = Arc::new(MemoryCatalogProvider::new());
        schemas.register_schema(PG_CATALOG_SCHEMA, self.schema())?;
        ctx.register_catalog(DATABASE_NAME, schemas);
        let sql = "SELECT n.nspname, c.relname, CAST(c.oid AS BIGINT) \
                   FROM lake.pg_catalog.pg_class c JOIN lake.pg_catalog.pg_namespace n ON n.oid = c.relnamespace";
        let batches: Vec<RecordBatch> = ctx.sql(sql).await?.collect().await?;
        let mut oids = HashMap::new();
        for batch in &batches {
            let (schemas, tables) = (
                batch.column(0).as_string::<i32>(),
                batch.column(1).as_string::<i32>(),
            );
            let ids = batch.column(2).as_primitive::<Int64Type>();
            for row in 0..batch.num_rows() {
                let oid = i32::try_from(ids.value(row))
                    .map_err(|_| DataFusionError::Internal("table OID out of range".into()))?;
                oids.insert(
                    (schemas.value(row).to_owned(), tables.value(row).to_owned()),
                    oid,
                );
            }
        }
        *self.table_oids.write().expect("oid lock") = oids;
        self.oids_generation.store(generation, Ordering::Relaxed);
        Ok(())
    }

    pub fn table_oid(&self, schema: &str, table: &str) -> Option<i32> {
        let oids = self.table_oids.read().expect("oid lock");
        oids.get(&(schema.to_owned(), table.to_owned())).copied()
    }

    /// The table with this OID, for `obj_description` / `col_description`.
    pub fn table_by_oid(&self, oid: i64) -> Option<TableAccess> {
        let oids = self.table_oids.read().expect("oid lock");
        let ((schema, table), _) = oids.iter().find(|(_, o)| i64::from(**o) == oid)?;
        self.access.table(schema, table)
    }

    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }
}

/// Every principal's `pg_catalog` under the current policy, built on first use.
#[derive(Debug)]
pub struct PgCatalogs {
    users: Arc<UserStore>,
    built: std::sync::Mutex<Vec<Arc<PgCatalog>>>,
}

impl PgCatalogs {
    pub fn new(users: Arc<UserStore>) -> Self {
        Self {
            users,
            built: Default::default(),
        }
    }

    pub fn for_access(&self, access: &Arc<Access>) -> Result<Arc<PgCatalog>, String> {
        let mut built = self.built.lock().expect("pg_catalog cache");
        // Those of an older policy load go; sessions still using them hold their own reference.
        built.retain(|pg| pg.access.epoch >= access.epoch);
        if let Some(pg) = built.iter().find(|pg| Arc::ptr_eq(&pg.access, access)) {
            return Ok(Arc::clone(pg));
        }
        let pg = Arc::new(PgCatalog::new(Arc::clone(access), Arc::clone(&self.users))?);
        built.push(Arc::clone(&pg));
        Ok(pg)
    }
}
