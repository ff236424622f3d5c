use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::datasource::{MemTable, ViewTable};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::*;
use crate::policy::compile::TablePolicy;
use crate::policy::secure::SecureTable;
use crate::scan::listing::ListingCache;
use crate::scan::partitioned::{FileKind, SingleLocation};

const STAMP: Stamp = Stamp::EXAMPLE;
const AN_HOUR: Duration = Duration::from_secs(3600);

fn id_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]))
}

/// A lake table of Parquet files; planning never lists them.
fn lake_table() -> Arc<dyn TableProvider> {
    let nowhere = Arc::new(SingleLocation(Arc::new(Vec::new())));
    let listings = Arc::new(ListingCache::new(Duration::ZERO));
    let table = PartitionedTable::new(
        "sales.t".into(),
        id_schema(),
        Vec::new(),
        FileKind::Parquet,
        nowhere,
        listings,
    );
    Arc::new(table)
}

fn secured(inner: Arc<dyn TableProvider>) -> Arc<dyn TableProvider> {
    let policy = TablePolicy::reading_all("sales.x", &inner.schema());
    Arc::new(SecureTable::new(inner, Arc::new(policy)).unwrap())
}

async fn view(ctx: &SessionContext, sql: &str) -> Arc<dyn TableProvider> {
    let plan = ctx.state().create_logical_plan(sql).await.unwrap();
    Arc::new(ViewTable::new(plan, Some(sql.to_owned())))
}

/// Lake table `t`, memory table `m` (as pg_catalog and temporary tables are), and views and
/// secured tables over each.
async fn context() -> SessionContext {
    let ctx = SessionContext::new_with_config(
        datafusion::prelude::SessionConfig::new().with_information_schema(true),
    );
    let memory = MemTable::try_new(id_schema(), vec![Vec::new()]).unwrap();
    ctx.register_table("t", lake_table()).unwrap();
    ctx.register_table("m", Arc::new(memory)).unwrap();
    let tables = [
        ("secured_t", secured(lake_table())),
        ("view_t", view(&ctx, "SELECT id FROM t").await),
        (
            "secured_view_t",
            secured(view(&ctx, "SELECT id FROM t").await),
        ),
        ("secured_m", secured(ctx.table_provider("m").await.unwrap())),
        ("view_m", view(&ctx, "SELECT id FROM m").await),
        (
            "secured_clock",
            secured(view(&ctx, "SELECT now() AS at").await),
        ),
    ];
    for (name, table) in tables {
        ctx.register_table(name, table).unwrap();
    }
    ctx
}

fn statement(sql: &str) -> Statement {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .unwrap()
        .remove(0)
}

async fn planned(ctx: &SessionContext, sql: &str) -> (Statement, PlannedQuery) {
    let statement = statement(sql);
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(statement.clone())))
        .await
        .unwrap();
    let planned = PlannedQuery {
        wire_schema: Arc::new(plan.schema().as_arrow().clone()),
        plan,
        names: Vec::new(),
        origins: Vec::new(),
        policy_epoch: STAMP.policy_epoch,
        catalog_version: STAMP.catalog_version,
    };
    (statement, planned)
}

fn kept_plan(queries: &PlannedQueries, sql: &str) -> Option<LogicalPlan> {
    let kept = queries.get(&statement(sql), &STAMP, AN_HOUR);
    kept.map(|planned| planned.plan)
}

#[tokio::test]
async fn a_repeated_statement_gets_the_plan_it_was_planned_to() {
    let ctx = context().await;
    let queries = PlannedQueries::default();
    let sql = "SELECT id FROM t WHERE id > 1";
    let (statement, first) = planned(&ctx, sql).await;
    queries.put(&statement, &first, STAMP, AN_HOUR);
    assert_eq!(kept_plan(&queries, sql), Some(first.plan.clone()));
    // The same text parsed again is the same key; another literal is another statement.
    assert_eq!(
        kept_plan(&queries, "select  id from t where id > 1"),
        Some(first.plan)
    );
    assert_eq!(kept_plan(&queries, "SELECT id FROM t WHERE id > 2"), None);
}

#[tokio::test]
async fn a_changed_stamp_or_an_old_plan_over_tables_plans_again() {
    let ctx = context().await;
    let queries = PlannedQueries::default();
    let (statement, planned) = planned(&ctx, "SELECT id FROM t").await;
    for changed in STAMP.each_field_changed() {
        queries.put(&statement, &planned, STAMP, AN_HOUR);
        assert!(queries.get(&statement, &changed, AN_HOUR).is_none());
        assert!(
            queries.get(&statement, &STAMP, AN_HOUR).is_none(),
            "dropped"
        );
    }
    queries.put(&statement, &planned, STAMP, AN_HOUR);
    std::thread::sleep(Duration::from_millis(5));
    let limit = Duration::from_millis(1);
    assert!(queries.get(&statement, &STAMP, limit).is_none());
    queries.put(&statement, &planned, STAMP, Duration::ZERO);
    assert!(queries.get(&statement, &STAMP, AN_HOUR).is_none());

    let (constant, planned) = self::planned(&ctx, "SELECT 1 + 1").await;
    queries.put(&constant, &planned, STAMP, Duration::ZERO);
    assert!(queries.get(&constant, &STAMP, Duration::ZERO).is_some());
}

#[tokio::test]
async fn only_plans_over_lake_tables_and_views_of_them_are_kept() {
    let ctx = context().await;
    let kept = [
        "SELECT id FROM t",
        "SELECT id FROM secured_t",
        "SELECT id FROM view_t",
        "SELECT id FROM secured_view_t",
        "SELECT id FROM t WHERE id IN (SELECT id FROM secured_t)",
        "SELECT 1",
    ];
    let planned_each_time = [
        "SELECT id FROM m",
        "SELECT id FROM secured_m",
        "SELECT id FROM view_m",
        "SELECT id FROM t WHERE id IN (SELECT id FROM m)",
        "SELECT table_name FROM information_schema.tables",
        "SELECT * FROM generate_series(1, 3)",
        "SELECT now()",
        "SELECT at FROM secured_clock",
        "EXPLAIN SELECT id FROM t",
        "PREPARE lookup(bigint) AS SELECT id FROM t WHERE id = $1",
    ];
    for (sql, expected) in kept
        .iter()
        .map(|sql| (sql, true))
        .chain(planned_each_time.iter().map(|sql| (sql, false)))
    {
        let queries = PlannedQueries::default();
        let (statement, planned) = planned(&ctx, sql).await;
        queries.put(&statement, &planned, STAMP, AN_HOUR);
        assert_eq!(kept_plan(&queries, sql).is_some(), expected, "{sql}");
    }
}

#[tokio::test]
async fn long_statements_are_not_kept_and_past_the_bound_the_kept_ones_start_over() {
    let ctx = context().await;
    let queries = PlannedQueries::default();
    let long = format!("SELECT 1 AS \"{}\"", "x".repeat(MAX_STATEMENT_BYTES));
    let (statement, planned) = planned(&ctx, &long).await;
    queries.put(&statement, &planned, STAMP, AN_HOUR);
    assert!(kept_plan(&queries, &long).is_none());
    for i in 0..=MAX_STATEMENTS {
        let (statement, planned) = self::planned(&ctx, &format!("SELECT {i}")).await;
        queries.put(&statement, &planned, STAMP, AN_HOUR);
    }
    assert_eq!(queries.queries.lock().unwrap().len(), 1);
}
