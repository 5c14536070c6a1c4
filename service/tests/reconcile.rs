//! Reconcile over in-memory fakes that count every call as Step Functions and DynamoDB would
//! bill it (`ListExecutions` pages of 100, one `BatchGetItem` per 100 keys): each run's cost is
//! bounded whatever the history's length, any backlog drains, and a running execution does not
//! make every run list the history again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::domain::{
    CachePolicy, Claim, Execution, ExecutionArn, ExecutionStatus, NoHotCache, NotFoundMark,
    PutOutcome, ReadCoordination, ReconcileBudget, ReconcileLedger, ReconcileState, Reconciled,
    RecordedExecutions, RedriveStatus, ResultStore, Results, SharedRead, SharedState,
    StateMachineArn, StoreError, StoredResult,
};

const MACHINE: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:orders";

/// The in-memory store, counting calls by the DynamoDB operation each one is.
#[derive(Default)]
struct Counted {
    store: InMemoryStore,
    get_items: AtomicUsize,
    batch_gets: AtomicUsize,
    puts: AtomicUsize,
}

impl Counted {
    fn total(&self) -> usize {
        self.get_items.load(Ordering::SeqCst)
            + self.batch_gets.load(Ordering::SeqCst)
            + self.puts.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl ResultStore for Counted {
    async fn state(&self, arn: &ExecutionArn) -> Result<SharedState, StoreError> {
        self.get_items.fetch_add(1, Ordering::SeqCst);
        self.store.state(arn).await
    }

    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.put_if_absent(arn, result).await
    }

    async fn replace_result(
        &self,
        arn: &ExecutionArn,
        stored: &StoredResult,
        result: &StoredResult,
    ) -> Result<bool, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.replace_result(arn, stored, result).await
    }

    async fn live_results(
        &self,
        arns: &[ExecutionArn],
        now: SystemTime,
    ) -> Result<HashSet<ExecutionArn>, StoreError> {
        self.batch_gets
            .fetch_add(arns.len().div_ceil(100), Ordering::SeqCst);
        let mut live = HashSet::new();
        for arn in arns {
            if self
                .store
                .state(arn)
                .await?
                .result
                .is_some_and(|r| r.is_live(now))
            {
                live.insert(arn.clone());
            }
        }
        Ok(live)
    }
}

#[async_trait]
impl ReadCoordination for Counted {
    async fn claim(&self, arn: &ExecutionArn, claim: &Claim) -> Result<bool, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.claim(arn, claim).await
    }

    async fn record_read(&self, arn: &ExecutionArn, read: &SharedRead) -> Result<bool, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.record_read(arn, read).await
    }

    async fn record_not_found(
        &self,
        arn: &ExecutionArn,
        mark: &NotFoundMark,
    ) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.record_not_found(arn, mark).await
    }

    async fn hold_lease(&self, arn: &ExecutionArn, until: SystemTime) -> Result<(), StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.hold_lease(arn, until).await
    }
}

#[async_trait]
impl ReconcileLedger for Counted {
    async fn reconcile_state(
        &self,
        machine: &StateMachineArn,
    ) -> Result<ReconcileState, StoreError> {
        self.get_items.fetch_add(1, Ordering::SeqCst);
        self.store.reconcile_state(machine).await
    }

    async fn save_reconcile_state(
        &self,
        machine: &StateMachineArn,
        state: &ReconcileState,
    ) -> Result<bool, StoreError> {
        self.puts.fetch_add(1, Ordering::SeqCst);
        self.store.save_reconcile_state(machine, state).await
    }
}

impl RecordedExecutions for Counted {}

struct World {
    executions: InMemoryExecutions,
    store: Arc<Counted>,
    results: Results,
    machine: StateMachineArn,
    /// Start dates are handed out in order, a second apart, ending before now.
    next_start: u64,
}

impl World {
    fn new() -> Self {
        let executions = InMemoryExecutions::default();
        let store = Arc::new(Counted::default());
        let results = Results::new(
            Arc::new(executions.clone()),
            store.clone(),
            Arc::new(NoHotCache),
            Arc::new(executions.clone()),
            Arc::new(executions.clone()),
            CachePolicy {
                provisional_ttl: Duration::from_secs(60),
                retention: None,
                refresh: Duration::from_secs(1),
            },
        );
        Self {
            executions,
            store,
            results,
            machine: StateMachineArn::parse(MACHINE).expect("machine"),
            next_start: 0,
        }
    }

    /// Adds an execution; a stopped one's result is stored as an event would have stored it
    /// when `stored`.
    async fn add(&mut self, status: ExecutionStatus, stored: bool) -> ExecutionArn {
        self.next_start += 1;
        let start = SystemTime::now() - Duration::from_secs(1_000_000)
            + Duration::from_secs(self.next_start);
        let arn = self
            .machine
            .execution(&format!("run-{}", self.next_start))
            .expect("arn");
        let execution = Execution::builder(arn.clone())
            .status(status)
            .started(start)
            .ran(Duration::from_millis(100))
            .redrive_status(RedriveStatus::NotRedrivable);
        let execution = if status.is_stopped() {
            execution.output("{}")
        } else {
            execution
        }
        .build();
        self.executions.insert(execution.clone());
        if stored && status.is_stopped() {
            self.results
                .record_stop(execution, true)
                .await
                .expect("stored");
        }
        arn
    }

    fn stop(&self, arn: &ExecutionArn) {
        self.executions.update(arn.as_str(), |e| {
            e.status = ExecutionStatus::Succeeded;
            e.stop_date = Some(SystemTime::now());
            e.output = Some("{}".into());
        });
    }

    fn stored(&self, arn: &ExecutionArn) -> bool {
        self.store.store.item(arn.as_str()).is_some()
    }

    /// One run, and the calls it made: (ListExecutions, DescribeExecution, table calls).
    async fn run(&self) -> (Reconciled, usize, usize, usize) {
        let (lists, describes, table) = (
            self.executions.lists(),
            self.executions.calls(),
            self.store.total(),
        );
        let report = self
            .results
            .reconcile(&self.machine, ReconcileBudget::default())
            .await
            .expect("reconcile");
        (
            report,
            self.executions.lists() - lists,
            self.executions.calls() - describes,
            self.store.total() - table,
        )
    }

    /// Runs until nothing is left to do; how many runs that took.
    async fn drain(&self, at_most: usize) -> usize {
        for runs in 1..=at_most {
            let (report, ..) = self.run().await;
            if !report.backlog && report.open == 0 {
                return runs;
            }
        }
        panic!("not drained in {at_most} runs");
    }

    /// Runs until no backlog is left (open executions may stay).
    async fn catch_up(&self, at_most: usize) {
        for _ in 0..at_most {
            if !self.run().await.0.backlog {
                return;
            }
        }
        panic!("no catching up in {at_most} runs");
    }
}

#[tokio::test]
async fn a_run_over_ten_thousand_executions_with_ten_new_stops_costs_what_the_ten_cost() {
    let mut world = World::new();
    for _ in 0..10_000 {
        world.add(ExecutionStatus::Succeeded, true).await;
    }
    let first = world.drain(20).await;
    let mut new = Vec::new();
    for _ in 0..10 {
        new.push(world.add(ExecutionStatus::Succeeded, false).await);
    }
    let (report, lists, describes, table) = world.run().await;
    println!(
        "reconcile of 10,000 executions of history: caught up in {first} runs; then a run with \
         10 new stops made {lists} ListExecutions, {describes} DescribeExecution and {table} \
         table calls ({report:?})"
    );
    assert_eq!(report.stored, 10);
    assert!(new.iter().all(|arn| world.stored(arn)));
    assert_eq!(lists, 1, "one page reaches the last run's top");
    assert_eq!(describes, 10);
    // Read the state, one BatchGetItem, ten puts, save the state.
    assert_eq!(table, 13);
    let (idle, lists, describes, table) = world.run().await;
    assert_eq!((idle.stored, lists, describes), (0, 1, 0));
    assert!(table <= 2, "{table}");
}

#[tokio::test]
async fn a_backlog_over_the_page_budget_drains_over_successive_runs() {
    // The oldest 50 of 1,050 stopped executions were never stored (the events were lost), the
    // newest 1,000 were: more than one run's 10 pages lie above them.
    let mut world = World::new();
    let mut lost = Vec::new();
    for _ in 0..50 {
        lost.push(world.add(ExecutionStatus::Failed, false).await);
    }
    for _ in 0..1_000 {
        world.add(ExecutionStatus::Succeeded, true).await;
    }
    let runs = world.drain(5).await;
    println!("a backlog of 1,050 with the oldest 50 missing: drained in {runs} runs");
    assert!(lost.iter().all(|arn| world.stored(arn)));
    assert!(runs <= 3, "{runs}");
}

#[tokio::test]
async fn a_backlog_of_missing_results_drains_within_each_runs_describe_budget() {
    let mut world = World::new();
    let mut lost = Vec::new();
    for _ in 0..1_050 {
        lost.push(world.add(ExecutionStatus::Succeeded, false).await);
    }
    let mut runs = 0;
    loop {
        runs += 1;
        let (report, lists, describes, _) = world.run().await;
        assert!(
            lists <= 10 && describes <= 50,
            "{lists} pages, {describes} describes"
        );
        if !report.backlog && report.open == 0 {
            break;
        }
        assert!(runs < 40, "not drained");
    }
    println!("a backlog of 1,050 missing results: drained in {runs} runs of at most 50 describes");
    assert!(lost.iter().all(|arn| world.stored(arn)));
    assert_eq!(runs, 21, "1,050 describes at 50 a run");
}

#[tokio::test]
async fn a_running_execution_waits_on_its_own_and_does_not_make_runs_relist_the_history() {
    let mut world = World::new();
    let long = world.add(ExecutionStatus::Running, false).await;
    for _ in 0..3_000 {
        world.add(ExecutionStatus::Succeeded, true).await;
    }
    world.catch_up(10).await;
    let (report, lists, describes, _) = world.run().await;
    assert_eq!(report.open, 1, "{report:?}");
    assert_eq!(
        lists, 1,
        "one page, not the 3,000 executions newer than the running one"
    );
    assert_eq!(describes, 1, "the open execution is looked at, once");

    // It stops, and its event is lost: the next run stores it.
    world.stop(&long);
    let (report, ..) = world.run().await;
    assert_eq!(report.stored, 1);
    assert_eq!(report.open, 0);
    assert!(world.stored(&long));
}
