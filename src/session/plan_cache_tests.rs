use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use datafusion::physical_expr::expressions::col;
use datafusion::physical_plan::collect;
use datafusion::prelude::{ParquetReadOptions, SessionContext};

use super::*;
use crate::policy::barrier::SecureScan;
use crate::policy::compile::TablePolicy;

const STAMP: Stamp = Stamp::EXAMPLE;
const AN_HOUR: Duration = Duration::from_secs(3600);

/// A session with table `t` (id, name): three rows in one Parquet file.
async fn context_with_table(name: &str) -> SessionContext {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("lakegate-plan-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("t.parquet");
    let ctx = SessionContext::new();
    let copy = format!(
        "COPY (SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (3, 'c')) AS v(id, name)) \
         TO '{}' STORED AS PARQUET",
        file.display()
    );
    ctx.sql(&copy).await.unwrap().collect().await.unwrap();
    let options = ParquetReadOptions::default();
    ctx.register_parquet("t", file.to_str().unwrap(), options)
        .await
        .unwrap();
    ctx
}

async fn planned(ctx: &SessionContext, sql: &str) -> (LogicalPlan, PhysicalQuery) {
    let state = ctx.state();
    let logical = state.create_logical_plan(sql).await.unwrap();
    let plan = state.create_physical_plan(&logical).await.unwrap();
    let report = Arc::new(ScanReport::default());
    (logical, PhysicalQuery { plan, report })
}

async fn row_count(ctx: &SessionContext, query: PhysicalQuery) -> usize {
    let batches = collect(query.plan, ctx.task_ctx()).await.unwrap();
    batches.iter().map(|b| b.num_rows()).sum()
}

/// Keeps `query`, then runs it as a session does (as it is first, then reset copies of the
/// kept plan), checking each run's row count.
async fn assert_every_run_counts(
    ctx: &SessionContext,
    logical: &LogicalPlan,
    query: PhysicalQuery,
    rows: usize,
) {
    let cache = PlanCache::default();
    cache.put(logical, &query, STAMP, AN_HOUR);
    assert_eq!(row_count(ctx, query).await, rows);
    for _ in 0..3 {
        let kept = cache.get(logical, &STAMP, AN_HOUR).expect("kept").unwrap();
        assert_eq!(row_count(ctx, kept).await, rows);
    }
}

#[tokio::test]
async fn a_kept_file_scan_runs_again_with_the_same_rows() {
    let ctx = context_with_table("again").await;
    let (logical, query) = planned(&ctx, "SELECT id, name FROM t WHERE id >= 2").await;
    assert_every_run_counts(&ctx, &logical, query, 2).await;
}

#[tokio::test]
async fn the_scan_behind_a_policy_barrier_is_reset_for_each_run() {
    let ctx = context_with_table("barrier").await;
    let (logical, query) = planned(&ctx, "SELECT id, name FROM t").await;
    let schema = query.plan.schema();
    let outputs = vec![(col("id", &schema).unwrap(), "id".to_owned())];
    let scan = SecureScan {
        raw_scan: Arc::clone(&query.plan),
        predicate: None,
        outputs,
    };
    let barrier = SecureScanExec::try_new("t".into(), scan).unwrap();
    let query = PhysicalQuery {
        plan: Arc::new(barrier),
        report: query.report,
    };
    assert_every_run_counts(&ctx, &logical, query, 3).await;
}

#[tokio::test]
async fn a_changed_stamp_or_an_old_file_listing_plans_again() {
    let ctx = context_with_table("stale").await;
    let (logical, query) = planned(&ctx, "SELECT id FROM t").await;
    let cache = PlanCache::default();
    cache.put(&logical, &query, STAMP, AN_HOUR);
    assert!(cache.get(&logical, &STAMP, AN_HOUR).is_some());
    for changed in STAMP.each_field_changed() {
        cache.put(&logical, &query, STAMP, AN_HOUR);
        assert!(cache.get(&logical, &changed, AN_HOUR).is_none());
    }
    cache.put(&logical, &query, STAMP, AN_HOUR);
    std::thread::sleep(Duration::from_millis(5));
    assert!(cache
        .get(&logical, &STAMP, Duration::from_millis(1))
        .is_none());

    let (count, counted) = planned(&ctx, "SELECT count(*) FROM t").await;
    cache.put(&count, &counted, STAMP, AN_HOUR);
    std::thread::sleep(Duration::from_millis(5));
    let answered_from_statistics = cache.get(&count, &STAMP, Duration::from_millis(1));
    assert!(answered_from_statistics.is_none());

    let uncached = PlanCache::default();
    uncached.put(&logical, &query, STAMP, Duration::ZERO);
    assert!(uncached.get(&logical, &STAMP, AN_HOUR).is_none());
}

#[tokio::test]
async fn a_plan_without_files_is_kept_whatever_the_listing_age() {
    let ctx = SessionContext::new();
    let (logical, query) = planned(&ctx, "SELECT 1 + 1").await;
    let cache = PlanCache::default();
    cache.put(&logical, &query, STAMP, Duration::ZERO);
    let kept = cache.get(&logical, &STAMP, Duration::ZERO).expect("kept");
    assert_eq!(row_count(&ctx, kept.unwrap()).await, 1);
}

#[tokio::test]
async fn a_plan_is_made_again_after_its_last_allowed_run() {
    let ctx = SessionContext::new();
    let (logical, query) = planned(&ctx, "SELECT 1").await;
    let cache = PlanCache::default();
    cache.put(&logical, &query, STAMP, AN_HOUR);
    for _ in 1..MAX_RUNS {
        assert!(cache.get(&logical, &STAMP, AN_HOUR).is_some());
    }
    assert!(cache.get(&logical, &STAMP, AN_HOUR).is_none());
}

#[tokio::test]
async fn plans_that_cannot_run_again_as_they_are_are_not_kept() {
    let ctx = context_with_table("refused").await;
    let view = "CREATE VIEW clock AS SELECT now() AS t";
    ctx.sql(view).await.unwrap().collect().await.unwrap();
    // A view read under a policy: the policy wrapper hides the view's query from the scan.
    let clock = ctx.table_provider("clock").await.unwrap();
    let policy = TablePolicy::reading_all("sales.clock", &clock.schema());
    let secured = SecureTable::new(clock, Arc::new(policy)).unwrap();
    ctx.register_table("secured_clock", Arc::new(secured))
        .unwrap();
    for sql in [
        "SELECT now()",
        "SELECT t FROM clock",
        "SELECT t FROM secured_clock",
        "SELECT a.id FROM t a JOIN t b ON a.id = b.id",
        "SELECT id FROM t ORDER BY id LIMIT 1",
        "SELECT * FROM (VALUES (1), (2)) AS v(x)",
    ] {
        let (logical, query) = planned(&ctx, sql).await;
        let cache = PlanCache::default();
        cache.put(&logical, &query, STAMP, AN_HOUR);
        assert!(cache.get(&logical, &STAMP, AN_HOUR).is_none(), "{sql}");
    }
}

#[tokio::test]
async fn a_scan_that_works_while_planning_is_not_kept() {
    let ctx = context_with_table("marked").await;
    let (logical, query) = planned(&ctx, "SELECT id FROM t").await;
    let mut state = ctx.state();
    let report = crate::scan::report::start(state.config_mut());
    crate::scan::report::mark_uncacheable(&state);
    let query = PhysicalQuery {
        plan: query.plan,
        report,
    };
    let cache = PlanCache::default();
    cache.put(&logical, &query, STAMP, AN_HOUR);
    assert!(cache.get(&logical, &STAMP, AN_HOUR).is_none());
}
