//! The webhooks table's conditional rules as one suite that every `WebhookStore` must pass: the
//! in-memory fake (in this crate's unit tests) and DynamoDB on the emulator (`tests/api`).
//!
//! Each check uses ids of its own, so the suite can run on a shared table.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::domain::webhooks::{Delivery, DeliveryState, Endpoint, WebhookStore, WebhookUrl};
use crate::domain::StateMachineArn;

/// Runs every check against `store`; panics naming the rule that does not hold.
pub async fn run(store: &dyn WebhookStore) {
    a_create_never_overwrites(store).await;
    a_replace_holds_only_over_the_version_it_read(store).await;
    a_replace_never_brings_back_a_deleted_item(store).await;
    deliveries_are_listed_newest_first(store).await;
    the_outbox_lists_entries_made_before_a_time(store).await;
}

fn unique(tag: &str) -> String {
    format!("{tag}_{}", uuid::Uuid::new_v4().simple())
}

fn endpoint(id: &str) -> Endpoint {
    Endpoint {
        id: id.to_owned(),
        url: WebhookUrl::parse("https://hooks.example.com/conformance", false).expect("url"),
        state_machines: None,
        workflows: None,
        statuses: vec!["SUCCEEDED".into()],
        description: None,
        created_at_ms: 1,
        disabled: false,
        secrets: Vec::new(),
        version: 0,
    }
}

fn delivery(endpoint_id: &str, id: &str, created_at_ms: u64) -> Delivery {
    Delivery {
        id: id.to_owned(),
        endpoint_id: endpoint_id.to_owned(),
        execution_arn: "arn:aws:states:us-east-1:123456789012:execution:conformance:x".into(),
        execution_status: "SUCCEEDED".into(),
        state: DeliveryState::Pending,
        attempts: 0,
        last_status_code: None,
        last_error: None,
        next_attempt_at: None,
        delivered_at: None,
        created_at_ms,
        payload: "{}".into(),
        version: 0,
    }
}

async fn a_create_never_overwrites(store: &dyn WebhookStore) {
    let id = unique("wh_create");
    assert!(store.create_endpoint(&endpoint(&id)).await.expect("create"));
    let other = Endpoint {
        description: Some("second".into()),
        ..endpoint(&id)
    };
    assert!(
        !store.create_endpoint(&other).await.expect("create"),
        "a second create of an endpoint is refused"
    );
    let read = store.endpoint(&id).await.expect("read").expect("there");
    assert_eq!(read.description, None, "the first create stands");
    let first = delivery(&id, "msg_1", 1);
    assert!(store.create_delivery(&first).await.expect("create"));
    assert!(
        !store.create_delivery(&first).await.expect("create"),
        "a second create of a delivery is refused"
    );
}

async fn a_replace_holds_only_over_the_version_it_read(store: &dyn WebhookStore) {
    let id = unique("wh_replace");
    assert!(store.create_endpoint(&endpoint(&id)).await.expect("create"));
    let read = store.endpoint(&id).await.expect("read").expect("there");
    assert!(read.version > 0, "a read carries the stored version");
    let listed = store.endpoints().await.expect("list");
    let listed = listed.into_iter().find(|e| e.id == id).expect("listed");
    let disabled = |e: &Endpoint| Endpoint {
        disabled: true,
        ..e.clone()
    };
    assert!(
        !store
            .replace_endpoint(&disabled(&listed))
            .await
            .expect("replace"),
        "a listed endpoint (no version read) replaces nothing"
    );
    assert!(store
        .replace_endpoint(&disabled(&read))
        .await
        .expect("replace"));
    assert!(
        !store.replace_endpoint(&read).await.expect("replace"),
        "a second write from the same read is refused"
    );
    let now = store.endpoint(&id).await.expect("read").expect("there");
    assert!(now.disabled && now.version > read.version);

    let created = delivery(&id, "msg_replace", 1);
    assert!(store.create_delivery(&created).await.expect("create"));
    assert!(
        !store.replace_delivery(&created).await.expect("replace"),
        "a delivery never read (version 0) replaces nothing"
    );
    let read = store.delivery(&id, "msg_replace").await.expect("read");
    let read = read.expect("there");
    let attempted = Delivery {
        attempts: 1,
        ..read.clone()
    };
    assert!(store.replace_delivery(&attempted).await.expect("replace"));
    assert!(!store.replace_delivery(&read).await.expect("replace"));
}

async fn a_replace_never_brings_back_a_deleted_item(store: &dyn WebhookStore) {
    let id = unique("wh_deleted");
    assert!(store.create_endpoint(&endpoint(&id)).await.expect("create"));
    let read = store.endpoint(&id).await.expect("read").expect("there");
    assert!(store.delete_endpoint(&id).await.expect("delete"));
    assert!(
        !store.delete_endpoint(&id).await.expect("delete"),
        "nothing left to delete"
    );
    assert!(!store.replace_endpoint(&read).await.expect("replace"));
    assert!(store.endpoint(&id).await.expect("read").is_none());
}

async fn deliveries_are_listed_newest_first(store: &dyn WebhookStore) {
    let id = unique("wh_list");
    for (n, created) in [(1, 10), (2, 30), (3, 20)] {
        let made = delivery(&id, &format!("msg_{n}"), created);
        assert!(store.create_delivery(&made).await.expect("create"));
    }
    let listed = store.deliveries(&id, 2).await.expect("list");
    let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
    assert_eq!(ids, ["msg_2", "msg_3"]);
}

async fn the_outbox_lists_entries_made_before_a_time(store: &dyn WebhookStore) {
    let machine =
        StateMachineArn::parse("arn:aws:states:us-east-1:123456789012:stateMachine:conformance")
            .expect("machine");
    let arn = machine.execution(&unique("outbox")).expect("arn");
    let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
    let base = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    store.add_outbox(&arn, "old", at(base)).await.expect("add");
    store
        .add_outbox(&arn, "new", at(base + 5000))
        .await
        .expect("add");
    let ours = |entries: Vec<(crate::domain::ExecutionArn, String, SystemTime)>| {
        entries
            .into_iter()
            .filter(|(a, ..)| *a == arn)
            .map(|(_, token, made)| (token, made))
            .collect::<Vec<_>>()
    };
    let before = ours(store.outbox(at(base + 1000)).await.expect("outbox"));
    assert_eq!(before, [("old".to_owned(), at(base))]);
    store.remove_outbox(&arn, "old").await.expect("remove");
    assert!(ours(store.outbox(at(base + 1000)).await.expect("outbox")).is_empty());
    assert_eq!(
        ours(store.outbox(at(base + 6000)).await.expect("outbox")).len(),
        1
    );
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_in_memory_webhooks_table_keeps_the_tables_rules() {
        super::run(&super::super::InMemoryWebhooks::default()).await;
    }
}
