//! The cross-instance protocol (`domain::fleet`) over the in-memory store, which keeps the
//! table's conditions (`adapters::conformance`), with tokio's clock paused: each `Fleet` is one
//! instance of the service, and instances share nothing but the store. The interleavings that
//! matter are played out step by step: two first readers, a lease held by an instance that died,
//! a failed read, and a 404 that turns into a start.

use std::sync::Arc;
use std::time::Duration;

use sfn_results::adapters::{InMemoryExecutions, InMemoryStore};
use sfn_results::domain::budget::wall_clock;
use sfn_results::domain::{
    Answer, CachePolicy, Claim, Execution, ExecutionArn, ExecutionStatus, Finality, Fleet, Keeper,
    NoHotCache, Origin, ReadCoordination, Step,
};
use tokio::time::{advance, Instant};

const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:orders:order-1";
const TICK: Duration = Duration::from_secs(1);
/// The longest a read lease is held (Step Functions' whole-call timeout and a margin).
const LEASE: Duration = Duration::from_secs(6);

struct World {
    executions: InMemoryExecutions,
    store: Arc<InMemoryStore>,
}

impl World {
    fn new() -> Self {
        Self {
            executions: InMemoryExecutions::default(),
            store: Arc::new(InMemoryStore::default()),
        }
    }

    /// One more service instance over the shared store: its own memory, nothing shared.
    fn instance(&self) -> Fleet {
        let policy = CachePolicy {
            provisional_ttl: Duration::from_secs(60),
            retention: None,
            refresh: TICK,
        };
        let keeper = Keeper::new(self.store.clone(), Arc::new(NoHotCache), policy);
        Fleet::new(
            Arc::new(self.executions.clone()),
            self.store.clone(),
            keeper,
        )
    }

    fn running(&self) {
        self.executions.insert(Execution::builder(arn()).build());
    }
}

fn arn() -> ExecutionArn {
    ExecutionArn::parse(ARN).expect("a valid ARN")
}

fn by() -> Instant {
    Instant::now() + Duration::from_secs(9)
}

#[track_caller]
fn known(step: Step) -> Answer {
    match step {
        Step::Known(answer) => answer,
        other => panic!("expected a known answer, got {other:?}"),
    }
}

#[track_caller]
fn assert_busy(step: &Step) {
    assert!(matches!(step, Step::Busy(_)), "expected busy, got {step:?}");
}

#[tokio::test(start_paused = true)]
async fn two_first_readers_make_one_describe_and_the_second_reads_what_the_first_shared() {
    let world = World::new();
    world.running();
    world.executions.set_delay(Duration::from_millis(300));
    let (a, b) = (world.instance(), world.instance());

    let execution = arn();
    let (first, second) = tokio::join!(
        a.look(&execution, false, by()),
        b.look(&execution, false, by())
    );
    let (winner, loser) = match (&first, &second) {
        (Step::Known(_), _) => (first, second),
        _ => (second, first),
    };
    assert_eq!(known(winner).origin, Origin::Miss);
    assert_busy(&loser);
    assert_eq!(
        world.executions.calls(),
        1,
        "one DescribeExecution for two readers"
    );

    a.flush_writes().await;
    b.flush_writes().await;
    let shared = known(b.look(&arn(), false, by()).await);
    assert_eq!(shared.origin, Origin::SharedRead);
    assert_eq!(shared.finality, Finality::Open);
    assert_eq!(
        world.executions.calls(),
        1,
        "the shared read serves the tick"
    );

    advance(TICK + Duration::from_millis(10)).await;
    assert_eq!(
        known(b.look(&arn(), false, by()).await).origin,
        Origin::Miss
    );
    assert_eq!(
        world.executions.calls(),
        2,
        "one more read once the tick has passed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_held_by_an_instance_that_died_holds_the_fleet_off_only_until_it_expires() {
    let world = World::new();
    world.running();
    let now = wall_clock();
    let claim = Claim {
        now,
        lease_until: now + LEASE,
        read_before: now - TICK,
        not_found_before: now - Duration::from_secs(60),
    };
    assert!(world
        .store
        .claim(&arn(), &claim)
        .await
        .expect("the in-memory store answers"));
    // The instance that took the lease dies here: it never reads, shares or gives the lease up.
    let survivor = world.instance();

    assert_busy(&survivor.look(&arn(), false, by()).await);
    advance(LEASE - Duration::from_millis(500)).await;
    assert_busy(&survivor.look(&arn(), false, by()).await);
    assert_eq!(world.executions.calls(), 0, "no read while the lease holds");

    advance(Duration::from_secs(1)).await;
    let answer = known(survivor.look(&arn(), false, by()).await);
    assert_eq!(answer.origin, Origin::Miss);
    assert_eq!(answer.status, ExecutionStatus::Running);
    assert_eq!(world.executions.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_failed_read_holds_every_instance_back_for_a_tick() {
    let world = World::new();
    world.running();
    world.executions.set_throttled(true);
    let (a, b) = (world.instance(), world.instance());

    assert!(matches!(
        a.look(&arn(), false, by()).await,
        Step::Trouble(_, None)
    ));
    a.flush_writes().await;
    assert_busy(&b.look(&arn(), false, by()).await);
    assert_eq!(world.executions.calls(), 1, "the fleet backs off together");

    world.executions.set_throttled(false);
    advance(TICK + Duration::from_millis(10)).await;
    assert_eq!(
        known(b.look(&arn(), false, by()).await).origin,
        Origin::Miss
    );
    assert_eq!(world.executions.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_404_is_remembered_for_the_fleet_until_a_waiter_sees_the_execution_start() {
    let world = World::new();
    let (a, b) = (world.instance(), world.instance());

    let first_seen = match a.look(&arn(), true, by()).await {
        Step::NotFound(at) => at,
        other => panic!("expected not found, got {other:?}"),
    };
    a.flush_writes().await;
    // Within the tick, neither a waiter nor a plain read asks again.
    assert!(matches!(b.look(&arn(), true, by()).await, Step::NotFound(at) if at == first_seen));
    assert!(matches!(
        b.look(&arn(), false, by()).await,
        Step::NotFound(_)
    ));
    assert_eq!(world.executions.calls(), 1);

    // The name is started (DescribeExecution shows it a moment later): a waiter asks again at
    // the next tick and sees it running; a plain read after that sees it too.
    world.running();
    advance(TICK + Duration::from_millis(10)).await;
    let answer = known(b.look(&arn(), true, by()).await);
    assert_eq!(answer.status, ExecutionStatus::Running);
    assert_eq!(world.executions.calls(), 2);
    b.flush_writes().await;
    let seen = known(a.look(&arn(), false, by()).await);
    assert_eq!(seen.status, ExecutionStatus::Running);
    assert_eq!(seen.origin, Origin::SharedRead);
    assert_eq!(world.executions.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_404_older_than_the_grace_is_final_for_a_waiter_until_it_is_forgotten() {
    let world = World::new();
    let a = world.instance();
    assert!(matches!(
        a.look(&arn(), true, by()).await,
        Step::NotFound(_)
    ));
    a.flush_writes().await;
    // Past the grace a waiter takes the 404 as it stands: one read per name per minute.
    for _ in 0..10 {
        advance(TICK).await;
        a.look(&arn(), true, by()).await;
        a.flush_writes().await;
    }
    let asked = world.executions.calls();
    assert!(
        asked <= 6,
        "asked {asked} times within the 5 s grace and after"
    );
    advance(Duration::from_secs(60)).await;
    world.running();
    assert_eq!(
        known(a.look(&arn(), false, by()).await).status,
        ExecutionStatus::Running
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_execution_is_stored_once_and_then_served_from_the_table() {
    let world = World::new();
    world.executions.insert(
        Execution::builder(arn())
            .status(ExecutionStatus::Succeeded)
            .ran(Duration::from_secs(2))
            .output(r#"{"ok":true}"#)
            .build(),
    );
    let (a, b) = (world.instance(), world.instance());
    assert_eq!(
        known(a.look(&arn(), false, by()).await).origin,
        Origin::Miss
    );
    a.flush_writes().await;
    let hit = known(b.look(&arn(), false, by()).await);
    assert_eq!(hit.origin, Origin::Hit);
    assert_eq!(hit.finality, Finality::Final);
    assert!(world.store.item(ARN).is_some());
    assert_eq!(world.executions.calls(), 1);
}
