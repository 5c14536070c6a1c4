//! The result store's conditional rules as one suite that every `ResultStore` must pass: the
//! in-memory fake (in this crate's unit tests) and DynamoDB on the emulator (`tests/api`). A fake
//! that accepted a write the table refuses would let a test pass while the product breaks.
//!
//! Each check uses executions of its own, so the suite can run on a shared table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::domain::{
    Claim, ExecutionArn, ExecutionStatus, Gap, OpenExecution, PutOutcome, Rank, ReconcileState,
    SharedRead, StateMachineArn, StoredResult, Table,
};

/// Runs every check against `store`; panics naming the rule that does not hold.
pub async fn run(store: &dyn Table) {
    first_writer_wins_while_live(store).await;
    a_greater_rank_replaces_a_live_result(store).await;
    a_lower_rank_never_replaces_a_greater_one_even_after_it_expired(store).await;
    the_same_rank_replaces_a_result_no_longer_live(store).await;
    a_redrive_mark_replaces_the_failure_and_leaves_room_for_reads(store).await;
    coordination_yields_to_a_live_result_only(store).await;
    a_read_replaces_only_an_older_read(store).await;
    replace_result_holds_only_over_the_document_it_read(store).await;
    reconcile_state_saves_only_over_the_version_it_read(store).await;
    live_results_names_exactly_the_live_ones(store).await;
}

fn machine() -> StateMachineArn {
    StateMachineArn::parse("arn:aws:states:us-east-1:123456789012:stateMachine:conformance")
        .expect("machine")
}

fn arn(tag: &str) -> ExecutionArn {
    machine()
        .execution(&format!("{tag}-{}", uuid::Uuid::new_v4().simple()))
        .expect("execution")
}

/// A whole second, as the table keeps times.
fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A base instant near now, so that the table's TTL never deletes these items under the suite.
fn base() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn result(doc: &str, rank: (u32, u64), stored: u64, fresh_for: Option<u64>) -> StoredResult {
    StoredResult {
        document: Bytes::from(doc.to_owned()),
        status: ExecutionStatus::Failed,
        is_final: fresh_for.is_none(),
        stored_at: at(stored),
        expires_at: fresh_for.map(|f| at(stored + f)),
        keep_until: None,
        rank: Rank {
            redrive_count: rank.0,
            stop_date_ms: rank.1,
        },
    }
}

async fn document(store: &dyn Table, arn: &ExecutionArn) -> Option<Bytes> {
    store
        .state(arn)
        .await
        .expect("state")
        .result
        .map(|r| r.document)
}

async fn put(store: &dyn Table, arn: &ExecutionArn, item: &StoredResult) -> PutOutcome {
    store.put_if_absent(arn, item).await.expect("put")
}

async fn first_writer_wins_while_live(store: &dyn Table) {
    let (arn, now) = (arn("first"), base());
    let first = result(r#"{"first":1}"#, (0, 1000), now, Some(60));
    let second = result(r#"{"second":2}"#, (0, 1000), now + 1, Some(60));
    assert_eq!(put(store, &arn, &first).await, PutOutcome::Written);
    assert_eq!(
        put(store, &arn, &second).await,
        PutOutcome::AlreadyPresent,
        "the same rank while the first is live: first writer wins"
    );
    assert_eq!(document(store, &arn).await, Some(first.document));
}

async fn a_greater_rank_replaces_a_live_result(store: &dyn Table) {
    let (arn, now) = (arn("greater"), base());
    let run0 = result(r#"{"run":0}"#, (0, 1000), now, Some(60));
    let later_stop = result(r#"{"run":"0b"}"#, (0, 2000), now + 1, Some(60));
    let run1 = result(r#"{"run":1}"#, (1, 500), now + 2, None);
    assert_eq!(put(store, &arn, &run0).await, PutOutcome::Written);
    assert_eq!(put(store, &arn, &later_stop).await, PutOutcome::Written);
    assert_eq!(
        put(store, &arn, &run1).await,
        PutOutcome::Written,
        "a greater redriveCount wins over any stopDate"
    );
    assert_eq!(document(store, &arn).await, Some(run1.document));
}

async fn a_lower_rank_never_replaces_a_greater_one_even_after_it_expired(store: &dyn Table) {
    let (arn, now) = (arn("ordering"), base());
    let redriven = result(r#"{"run":1}"#, (1, 5000), now, Some(60));
    assert_eq!(put(store, &arn, &redriven).await, PutOutcome::Written);
    // Two minutes on, the redriven run's provisional result is no longer live; a late event of
    // the run before it arrives.
    let late_old = result(r#"{"run":0}"#, (0, 3000), now + 120, Some(60));
    assert_eq!(
        put(store, &arn, &late_old).await,
        PutOutcome::AlreadyPresent,
        "an older run's result must never replace a redriven run's, live or not"
    );
    let late_old_final = result(r#"{"run":0}"#, (0, 3000), now + 120, None);
    assert_eq!(
        put(store, &arn, &late_old_final).await,
        PutOutcome::AlreadyPresent
    );
    assert_eq!(document(store, &arn).await, Some(redriven.document));
}

/// A redrive stores the redriven run, RUNNING and never live, over the failure: a late result of
/// the run before it is refused, reads and leases of the running run are taken, and the run's
/// own result replaces the mark.
async fn a_redrive_mark_replaces_the_failure_and_leaves_room_for_reads(store: &dyn Table) {
    let (arn, now) = (arn("redrive-mark"), base());
    let failed = result(r#"{"run":0}"#, (0, 3000), now, Some(60));
    assert_eq!(put(store, &arn, &failed).await, PutOutcome::Written);
    let mark = StoredResult {
        status: ExecutionStatus::Running,
        expires_at: Some(at(now)),
        ..result(r#"{"run":1,"status":"RUNNING"}"#, (1, 0), now + 1, Some(0))
    };
    assert_eq!(put(store, &arn, &mark).await, PutOutcome::Written);
    let state = store.state(&arn).await.expect("state");
    let stored = state.result.expect("the mark");
    assert_eq!(stored.status, ExecutionStatus::Running);
    assert!(!stored.is_final && !stored.is_live(at(now + 2)));
    assert_eq!(stored.rank, mark.rank);
    let late = result(r#"{"run":0}"#, (0, 3000), now + 2, Some(60));
    assert_eq!(
        put(store, &arn, &late).await,
        PutOutcome::AlreadyPresent,
        "the failed run's late result never replaces the redriven run's mark"
    );
    assert!(
        store.claim(&arn, &claim(now + 2)).await.expect("claim"),
        "a lease over the mark: it is not live"
    );
    assert!(store
        .record_read(&arn, &read(r#"{"run":1}"#, now + 3))
        .await
        .expect("read"));
    let done = result(
        r#"{"run":1,"status":"SUCCEEDED"}"#,
        (1, 9000),
        now + 4,
        None,
    );
    assert_eq!(put(store, &arn, &done).await, PutOutcome::Written);
    assert_eq!(document(store, &arn).await, Some(done.document));
}

async fn the_same_rank_replaces_a_result_no_longer_live(store: &dyn Table) {
    let (arn, now) = (arn("refresh"), base());
    let first = result(r#"{"read":1}"#, (0, 1000), now, Some(60));
    let reread = result(r#"{"read":2}"#, (0, 1000), now + 120, Some(60));
    assert_eq!(put(store, &arn, &first).await, PutOutcome::Written);
    assert_eq!(
        put(store, &arn, &reread).await,
        PutOutcome::Written,
        "a provisional result read again after it expired is stored again"
    );
    assert_eq!(document(store, &arn).await, Some(reread.document));
}

fn claim(now: u64) -> Claim {
    Claim {
        now: at(now),
        lease_until: at(now + 5),
        read_before: at(now),
        not_found_before: at(now),
    }
}

async fn coordination_yields_to_a_live_result_only(store: &dyn Table) {
    let now = base();
    let live = arn("claim-live");
    put(store, &live, &result("{}", (0, 1000), now, Some(60))).await;
    assert!(
        !store.claim(&live, &claim(now + 1)).await.expect("claim"),
        "no lease over a live result"
    );
    assert!(
        store.claim(&live, &claim(now + 120)).await.expect("claim"),
        "a lease once the provisional result expired"
    );
    let empty = arn("claim-empty");
    assert!(store.claim(&empty, &claim(now)).await.expect("claim"));
    assert!(
        !store.claim(&empty, &claim(now + 1)).await.expect("claim"),
        "one lease holder at a time"
    );
    assert!(
        store.claim(&empty, &claim(now + 10)).await.expect("claim"),
        "an expired lease is taken over"
    );
}

fn read(doc: &str, read_at: u64) -> SharedRead {
    SharedRead {
        document: Bytes::from(doc.to_owned()),
        status: ExecutionStatus::Running,
        start_date: at(read_at - 10),
        read_at: at(read_at),
    }
}

async fn a_read_replaces_only_an_older_read(store: &dyn Table) {
    let now = base();
    let arn = arn("read");
    assert!(store
        .record_read(&arn, &read("{\"r\":2}", now + 2))
        .await
        .expect("read"));
    assert!(
        !store
            .record_read(&arn, &read("{\"r\":1}", now + 1))
            .await
            .expect("read"),
        "a slower read that finishes after a newer one is dropped"
    );
    let state = store.state(&arn).await.expect("state");
    assert_eq!(
        state.read.map(|r| r.document),
        Some(Bytes::from("{\"r\":2}"))
    );
    put(store, &arn, &result("{}", (0, 1000), now + 3, None)).await;
    assert!(
        !store
            .record_read(&arn, &read("{\"r\":3}", now + 4))
            .await
            .expect("read"),
        "no read is shared over a stored result"
    );
}

async fn replace_result_holds_only_over_the_document_it_read(store: &dyn Table) {
    let now = base();
    let target = arn("replace");
    let stored = result(r#"{"startDate":null}"#, (0, 1000), now, None);
    put(store, &target, &stored).await;
    let filled = result(r#"{"startDate":"x"}"#, (0, 1000), now, None);
    assert!(store
        .replace_result(&target, &stored, &filled)
        .await
        .expect("replace"));
    let other = result(r#"{"startDate":"y"}"#, (0, 1000), now, None);
    assert!(
        !store
            .replace_result(&target, &stored, &other)
            .await
            .expect("replace"),
        "a replace over a document that changed since it was read is refused"
    );
    assert_eq!(document(store, &target).await, Some(filled.document));
    let absent = arn("replace-absent");
    assert!(!store
        .replace_result(&absent, &stored, &other)
        .await
        .expect("replace"));
    assert_eq!(document(store, &absent).await, None, "nothing written");
}

async fn reconcile_state_saves_only_over_the_version_it_read(store: &dyn Table) {
    let machine = StateMachineArn::parse(&format!(
        "arn:aws:states:us-east-1:123456789012:stateMachine:conformance-{}",
        uuid::Uuid::new_v4().simple()
    ))
    .expect("machine");
    let fresh = store.reconcile_state(&machine).await.expect("state");
    assert_eq!(fresh, ReconcileState::default());
    let mut mine = fresh.clone();
    mine.top_ms = Some(1000);
    mine.gap = Some(Gap {
        token: Some("token".into()),
        floor_ms: Some(10),
    });
    mine.open = vec![OpenExecution {
        arn: arn("open").as_str().to_owned(),
        checked_ms: 7,
    }];
    let mut theirs = fresh.clone();
    theirs.top_ms = Some(2000);
    assert!(store
        .save_reconcile_state(&machine, &mine)
        .await
        .expect("save"));
    assert!(
        !store
            .save_reconcile_state(&machine, &theirs)
            .await
            .expect("save"),
        "a run that read the state before another saved must not undo that save"
    );
    let saved = store.reconcile_state(&machine).await.expect("state");
    assert_eq!(
        ReconcileState {
            version: 0,
            ..saved.clone()
        },
        mine
    );
    let mut next = saved.clone();
    next.gap = None;
    assert!(store
        .save_reconcile_state(&machine, &next)
        .await
        .expect("save"));
    assert_eq!(
        store.reconcile_state(&machine).await.expect("state").gap,
        None
    );
}

async fn live_results_names_exactly_the_live_ones(store: &dyn Table) {
    let now = base();
    // More than one batch (100 keys) of the table's BatchGetItem, one key twice.
    let arns: Vec<ExecutionArn> = (0..130).map(|i| arn(&format!("live{i}"))).collect();
    let mut expected = std::collections::HashSet::new();
    for (i, arn) in arns.iter().enumerate() {
        match i % 3 {
            0 => {
                put(store, arn, &result("{}", (0, 1000), now, None)).await;
                expected.insert(arn.clone());
            }
            // Provisional and expired: not live.
            1 => {
                put(store, arn, &result("{}", (0, 1000), now - 120, Some(60))).await;
            }
            // Nothing stored but coordination state.
            _ => {
                store
                    .record_read(arn, &read("{}", now))
                    .await
                    .expect("read");
            }
        }
    }
    let mut asked = arns.clone();
    asked.push(arns[0].clone());
    let live = store
        .live_results(&asked, at(now + 1))
        .await
        .expect("live results");
    assert_eq!(live, expected);
}
