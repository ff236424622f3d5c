use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{create_udf, ColumnarValue, Volatility};
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionContext;

use super::LakeQueryPlanner;

/// A statement that reads its CTE twice: once for the rows, once for their maximum.
const TOP_GROUPS: &str = "WITH totals AS (SELECT g, sum(counted(v)) AS total FROM t GROUP BY g) \
     SELECT g, total FROM totals WHERE total = (SELECT max(total) FROM totals) ORDER BY g";

/// A context over `t(g, v)`, with or without shared subqueries, whose `counted(v)` counts
/// the batches it is called on.
fn context(shared: bool, calls: &Arc<AtomicUsize>) -> SessionContext {
    let mut state = SessionStateBuilder::new().with_default_features();
    if shared {
        state = state.with_query_planner(Arc::new(LakeQueryPlanner));
    }
    let ctx = SessionContext::new_with_state(state.build());
    let counter = Arc::clone(calls);
    let counted = create_udf(
        "counted",
        vec![DataType::Int64],
        DataType::Int64,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(args[0].clone())
        }),
    );
    ctx.register_udf(counted);
    let column = |values: Vec<i64>| Arc::new(Int64Array::from(values)) as ArrayRef;
    let rows = RecordBatch::try_from_iter([
        ("g", column(vec![1, 1, 2, 2, 3])),
        ("v", column(vec![5, 5, 4, 6, 1])),
    ])
    .unwrap();
    ctx.register_batch("t", rows).unwrap();
    ctx
}

async fn run(ctx: &SessionContext, sql: &str) -> datafusion::error::Result<String> {
    let batches = ctx.sql(sql).await?.collect().await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

async fn shared_nodes(sql: &str) -> usize {
    let ctx = context(true, &Arc::default());
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let text = displayable(plan.as_ref()).indent(true).to_string();
    text.matches("SharedSubqueryExec").count()
}

/// The same statement's rows with and without shared subqueries.
async fn same_rows(sql: &str) -> String {
    let plain = run(&context(false, &Arc::default()), sql).await.unwrap();
    let shared = run(&context(true, &Arc::default()), sql).await.unwrap();
    assert_eq!(shared, plain, "{sql}");
    shared
}

#[tokio::test]
async fn a_cte_read_twice_is_computed_once_with_the_same_rows() {
    let (plain_calls, shared_calls) = (Arc::default(), Arc::default());
    let plain = run(&context(false, &plain_calls), TOP_GROUPS)
        .await
        .unwrap();
    let shared = run(&context(true, &shared_calls), TOP_GROUPS)
        .await
        .unwrap();
    assert_eq!(shared, plain);
    assert!(
        plain.contains("| 1 | 10    |") && plain.contains("| 2 | 10    |"),
        "{plain}"
    );
    let (plain_calls, shared_calls) = (
        plain_calls.load(Ordering::SeqCst),
        shared_calls.load(Ordering::SeqCst),
    );
    assert!(
        plain_calls >= 2,
        "DataFusion computes the CTE per reference: {plain_calls}"
    );
    assert_eq!(shared_calls * 2, plain_calls, "computed once");
}

#[tokio::test]
async fn only_repeated_deterministic_aggregates_are_shared() {
    let self_join = |total: &str| {
        format!(
            "WITH totals AS (SELECT g, {total} AS total FROM t GROUP BY g) \
             SELECT * FROM totals a JOIN totals b ON a.g = b.g"
        )
    };
    assert_eq!(shared_nodes(&self_join("sum(v)")).await, 2);
    assert_eq!(
        shared_nodes(&self_join("sum(v * random())")).await,
        0,
        "volatile"
    );
    // Above the aggregate, `random()` is drawn per row of each occurrence as ever.
    assert_eq!(shared_nodes(&self_join("sum(v) + random()")).await, 2);
    let once = "WITH totals AS (SELECT g, sum(v) AS total FROM t GROUP BY g) SELECT * FROM totals";
    assert_eq!(shared_nodes(once).await, 0, "read once");
    let rows = "WITH r AS (SELECT g, v FROM t WHERE v > 1) SELECT * FROM r a JOIN r b ON a.g = b.g";
    assert_eq!(shared_nodes(rows).await, 0, "not an aggregate");
    let distinct = "WITH d AS (SELECT DISTINCT g FROM t) SELECT * FROM d a JOIN d b ON a.g = b.g";
    assert_eq!(shared_nodes(distinct).await, 0, "no aggregate function");
}

/// Calls of one table function with different arguments plan to scans that compare equal.
#[tokio::test]
async fn aggregates_over_different_table_function_calls_are_not_shared() {
    let sql = "SELECT s FROM (SELECT sum(value) AS s FROM generate_series(1, 10)) x \
               UNION ALL SELECT s FROM (SELECT sum(value) AS s FROM generate_series(1, 1000)) x ORDER BY s";
    assert_eq!(shared_nodes(sql).await, 0);
    let rows = same_rows(sql).await;
    assert!(
        rows.contains("| 55 ") && rows.contains("| 500500 "),
        "{rows}"
    );
}

/// A filter that names no column is pushed into one occurrence only; sharing runs after the
/// optimizer, so each occurrence keeps its own rows.
#[tokio::test]
async fn a_filter_on_one_occurrence_stays_with_it() {
    let sql = "WITH c AS (SELECT g, sum(v) AS s FROM t GROUP BY g) \
               SELECT g, s FROM c WHERE (SELECT count(*) FROM t) > 100 \
               UNION ALL SELECT g, s FROM c ORDER BY g";
    let rows = same_rows(sql).await;
    let lines = rows.lines().filter(|line| line.starts_with("| ")).count();
    assert_eq!(lines, 4, "a header and the three groups once: {rows}");
}

#[tokio::test]
async fn an_error_in_a_shared_subquery_fails_the_statement() {
    let sql = "WITH totals AS (SELECT g, sum(v) / (min(v) - min(v)) AS total FROM t GROUP BY g) \
               SELECT g FROM totals WHERE total = (SELECT max(total) FROM totals)";
    let error = run(&context(true, &Arc::default()), sql).await.unwrap_err();
    assert!(error.to_string().contains("Divide by zero"), "{error}");
}

/// A join's dynamic filter and a TopK limit above one occurrence must not reach into its input:
/// whichever occurrence runs first gives its rows to the other.
#[tokio::test]
async fn filters_and_limits_from_above_stay_above_it() {
    let joined = "WITH c AS (SELECT g, sum(v) AS s FROM t GROUP BY g) \
                  SELECT c.g, c.s FROM c JOIN (SELECT 1 AS g) one ON c.g = one.g \
                  UNION ALL SELECT g, s FROM c ORDER BY g, s";
    let rows = same_rows(joined).await;
    let lines = rows.lines().filter(|line| line.starts_with("| ")).count();
    assert_eq!(lines, 5, "a header, group 1 twice, groups 2 and 3: {rows}");
    let top = "WITH c AS (SELECT g, sum(v) AS s FROM t GROUP BY g) \
               SELECT * FROM (SELECT g, s FROM c ORDER BY s DESC, g LIMIT 1) \
               UNION ALL SELECT g, s FROM c ORDER BY g, s";
    let rows = same_rows(top).await;
    let lines = rows.lines().filter(|line| line.starts_with("| ")).count();
    assert_eq!(
        lines, 5,
        "a header, the top group twice, the other two: {rows}"
    );
    assert_eq!(shared_nodes(joined).await + shared_nodes(top).await, 4);
}
