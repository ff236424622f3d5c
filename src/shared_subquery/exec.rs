//! The physical side of [`super::SharedSubquery`]: every occurrence has its own planned input
//! (so each is optimized, displayed and costed like any subplan), and the first occurrence
//! executed runs its input to the end into memory, which all occurrences then read.
//!
//! The computation is one shared future, polled by whichever occurrence is waiting, so none
//! depends on another being polled (a join polls its build side to the end before its probe
//! side), and one dropped half-way leaves the rest to the others. The rows are held against the
//! session's memory pool: a result past the limit fails the statement with
//! `ResourcesExhausted` (53200), as a hash join's build side does. Only aggregates are shared,
//! whose results are small next to what they read.
//!
//! Every occurrence must compute the same rows, so nothing from above may reach into one
//! occurrence's input: this node keeps DataFusion's defaults that stop parent filters (a join's
//! or TopK's dynamic filter), limits, sorts and projections at it (`gather_filters_for_pushdown`,
//! `supports_limit_pushdown`, `with_fetch`, `try_swapping_with_projection`). Do not override
//! them; `tests::filters_and_limits_from_above_stay_above_it` fails if one gets through.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::utils::memory::RecordBatchMemoryCounter;
use datafusion::common::{internal_err, not_impl_err, DataFusionError, Result, Statistics};
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryReservation};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{LogicalPlan, UserDefinedLogicalNode};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::statistics::{ChildStats, StatisticsArgs};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    execute_stream, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::physical_planner::{ExtensionPlanner, PhysicalPlanner};
use futures::future::{BoxFuture, FutureExt, Shared};
use futures::{StreamExt, TryStreamExt};

/// The rows of a shared subquery, held against the memory pool while the plan lives.
struct Computed {
    batches: Vec<RecordBatch>,
    _reservation: MemoryReservation,
}

type Computing = Shared<BoxFuture<'static, Result<Arc<Computed>, Arc<DataFusionError>>>>;

/// What all references to one subquery share: its computation, once started.
#[derive(Default)]
pub struct SharedResult(Mutex<Option<Computing>>);

impl SharedResult {
    /// The computation, started from `input` by the first reference to ask.
    fn computing(&self, input: &Arc<dyn ExecutionPlan>, context: Arc<TaskContext>) -> Computing {
        let mut started = self.0.lock().expect("shared subquery lock");
        started
            .get_or_insert_with(|| {
                compute(Arc::clone(input), context)
                    .map(|computed| computed.map_err(Arc::new))
                    .boxed()
                    .shared()
            })
            .clone()
    }
}

async fn compute(
    input: Arc<dyn ExecutionPlan>,
    context: Arc<TaskContext>,
) -> Result<Arc<Computed>> {
    let reservation = MemoryConsumer::new("SharedSubqueryExec").register(context.memory_pool());
    let mut rows = execute_stream(input, context)?;
    let mut batches = Vec::new();
    // An aggregate emits slices of one large batch: each buffer is counted once.
    let mut memory = RecordBatchMemoryCounter::new();
    while let Some(batch) = rows.next().await {
        let batch = batch?;
        reservation.try_grow(memory.count_batch(&batch))?;
        batches.push(batch);
    }
    Ok(Arc::new(Computed {
        batches,
        _reservation: reservation,
    }))
}

pub struct SharedSubqueryExec {
    id: u64,
    input: Arc<dyn ExecutionPlan>,
    result: Arc<SharedResult>,
    properties: Arc<PlanProperties>,
}

impl SharedSubqueryExec {
    fn new(id: u64, input: Arc<dyn ExecutionPlan>, result: Arc<SharedResult>) -> Self {
        let properties = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        );
        Self {
            id,
            input,
            result,
            properties: Arc::new(properties),
        }
    }
}

impl fmt::Debug for SharedSubqueryExec {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedSubqueryExec {{ id: {} }}", self.id)
    }
}

impl DisplayAs for SharedSubqueryExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "SharedSubqueryExec: id={}", self.id)
    }
}

impl ExecutionPlan for SharedSubqueryExec {
    fn name(&self) -> &str {
        "SharedSubqueryExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("SharedSubqueryExec has one child");
        }
        let input = children.swap_remove(0);
        Ok(Arc::new(Self::new(
            self.id,
            input,
            Arc::clone(&self.result),
        )))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    /// A reset copy would keep the computed rows (they are shared with the other occurrences),
    /// so such plans are not run again: the plan cache does not keep them (this node is not on
    /// its list) and statements with a recursive CTE are not shared.
    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        not_impl_err!("a plan with a shared subquery cannot run again")
    }

    /// The input's statistics over all its partitions (this node has one), which the
    /// optimizer needs to place this side of a join.
    fn child_stats_requests(&self, _partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(None)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        Ok(Arc::clone(&input_stats[0]))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return internal_err!("SharedSubqueryExec has one partition, not {partition}");
        }
        let computing = self.result.computing(&self.input, context);
        let rows = futures::stream::once(computing)
            .map_ok(|computed| {
                let batches = computed.batches.clone();
                futures::stream::iter(batches.into_iter().map(Ok))
            })
            .map_err(DataFusionError::Shared)
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), rows)))
    }
}

/// Plans each [`super::SharedSubquery`] reference; references with one id get one result.
/// One planner per statement (`LakeQueryPlanner`), so results never outlive it.
#[derive(Default)]
pub struct SharedSubqueryPlanner {
    results: Mutex<HashMap<u64, Arc<SharedResult>>>,
}

#[async_trait]
impl ExtensionPlanner for SharedSubqueryPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session: &dyn Session,
        _planning: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let (Some(id), [input]) = (super::shared_id(node), physical_inputs) else {
            return Ok(None);
        };
        let result = Arc::clone(
            self.results
                .lock()
                .expect("shared subquery planner lock")
                .entry(id)
                .or_default(),
        );
        Ok(Some(Arc::new(SharedSubqueryExec::new(
            id,
            Arc::clone(input),
            result,
        ))))
    }
}
