//! The callback links' table rules as one suite every `LinkStore` must pass: the in-memory fake
//! (this crate's unit tests) and DynamoDB on the emulator (`tests/api/conformance.rs`). Each check
//! uses links of its own, so the suite can run on a shared table.

use crate::domain::{ClaimOutcome, Decision, LinkRecord, LinkStore};

const NOW: u64 = 1_800_000_000;

fn record(tag: &str, expires_at: u64, summary: Option<&str>) -> LinkRecord {
    LinkRecord {
        id: format!("{tag}-{}", uuid::Uuid::new_v4().simple()),
        task_token: format!("token-{tag}"),
        expires_at,
        summary: summary.map(str::to_owned),
        used: None,
    }
}

/// Runs every check against `store`; panics naming the rule that does not hold.
pub async fn run(store: &dyn LinkStore) {
    a_link_reads_back_as_made_and_an_id_is_made_once(store).await;
    one_claim_takes_the_pair_and_every_later_one_finds_it_used(store).await;
    an_expired_or_missing_link_is_never_claimed(store).await;
    a_release_gives_back_only_the_claim_it_names(store).await;
}

async fn a_link_reads_back_as_made_and_an_id_is_made_once(store: &dyn LinkStore) {
    for summary in [Some("Buy 3 laptops? \"quoted\" \u{2713}"), None] {
        let link = record("made", NOW + 60, summary);
        store.create_link(&link).await.expect("created");
        assert_eq!(
            store.link(&link.id).await.expect("read"),
            Some(link.clone())
        );
        let again = LinkRecord {
            task_token: "another".into(),
            ..link.clone()
        };
        assert!(
            store.create_link(&again).await.is_err(),
            "an id is made once"
        );
        assert_eq!(store.link(&link.id).await.expect("read"), Some(link));
    }
}

async fn one_claim_takes_the_pair_and_every_later_one_finds_it_used(store: &dyn LinkStore) {
    let link = record("claimed", NOW + 60, None);
    store.create_link(&link).await.expect("created");
    let taken = store
        .claim_link(&link.id, Decision::Reject, NOW)
        .await
        .expect("claim");
    let expected = LinkRecord {
        used: Some((Decision::Reject, NOW)),
        ..link.clone()
    };
    assert_eq!(taken, ClaimOutcome::Taken(expected.clone()));
    for decision in [Decision::Reject, Decision::Approve] {
        let later = store
            .claim_link(&link.id, decision, NOW + 1)
            .await
            .expect("claim");
        assert_eq!(
            later,
            ClaimOutcome::Used(expected.clone()),
            "{decision:?} after a claim"
        );
    }
}

async fn an_expired_or_missing_link_is_never_claimed(store: &dyn LinkStore) {
    let link = record("expired", NOW, None);
    store.create_link(&link).await.expect("created");
    // Expired at its expiry second, not only after it.
    let claim = store
        .claim_link(&link.id, Decision::Approve, NOW)
        .await
        .expect("claim");
    assert_eq!(claim, ClaimOutcome::Expired(link.clone()));
    assert_eq!(store.link(&link.id).await.expect("read"), Some(link));
    let missing = store
        .claim_link("never-made", Decision::Approve, NOW)
        .await
        .expect("claim");
    assert_eq!(missing, ClaimOutcome::Missing);
    assert_eq!(store.link("never-made").await.expect("read"), None);
}

async fn a_release_gives_back_only_the_claim_it_names(store: &dyn LinkStore) {
    let link = record("released", NOW + 60, None);
    store.create_link(&link).await.expect("created");
    store
        .claim_link(&link.id, Decision::Approve, NOW)
        .await
        .expect("claim");
    store
        .release_link(&link.id, Decision::Reject)
        .await
        .expect("release");
    let kept = store.link(&link.id).await.expect("read").expect("there");
    assert_eq!(
        kept.used,
        Some((Decision::Approve, NOW)),
        "another decision's release"
    );
    store
        .release_link(&link.id, Decision::Approve)
        .await
        .expect("release");
    assert_eq!(
        store.link(&link.id).await.expect("read"),
        Some(link.clone())
    );
    let again = store
        .claim_link(&link.id, Decision::Approve, NOW + 2)
        .await
        .expect("claim");
    assert!(matches!(again, ClaimOutcome::Taken(_)), "{again:?}");
    store
        .release_link("never-made", Decision::Approve)
        .await
        .expect("a missing link's release");
}
