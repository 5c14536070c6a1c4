//! The results table's reconcile rows: each machine's reconcile state (item `reconcile#<machine
//! ARN>`, replaced only over the version read), and which of a page's executions already have a
//! live result (`BatchGetItem`, 100 keys a call).

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;

use super::dynamodb::{put_refused, KEY};
use super::dynamodb_item::decode;
use crate::domain::{ExecutionArn, ReconcileState, StateMachineArn, StoreError};

/// The reconcile state's key: `reconcile#` and the machine's ARN, never an execution ARN.
fn reconcile_key(machine: &StateMachineArn) -> String {
    format!("reconcile#{machine}")
}

pub(super) async fn state(
    client: &Client,
    table: &str,
    machine: &StateMachineArn,
) -> Result<ReconcileState, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key(KEY, AttributeValue::S(reconcile_key(machine)))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| StoreError(Box::new(e)))?;
    let Some(item) = out.item else {
        return Ok(ReconcileState::default());
    };
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let mut state = match item.get("state") {
        Some(AttributeValue::S(json)) => {
            serde_json::from_str(json).map_err(|e| StoreError(Box::new(e)))?
        }
        // Written before the state was kept: its watermark is where the head ends.
        _ => ReconcileState {
            top_ms: number("watermark"),
            ..ReconcileState::default()
        },
    };
    state.version = number("version").unwrap_or(0);
    Ok(state)
}

pub(super) async fn save_state(
    client: &Client,
    table: &str,
    machine: &StateMachineArn,
    state: &ReconcileState,
) -> Result<bool, StoreError> {
    let json = serde_json::to_string(state).map_err(|e| StoreError(Box::new(e)))?;
    let put = client
        .put_item()
        .table_name(table)
        .item(KEY, AttributeValue::S(reconcile_key(machine)))
        .item("state", AttributeValue::S(json))
        .item(
            "version",
            AttributeValue::N((state.version + 1).to_string()),
        )
        .expression_attribute_names("#version", "version");
    let put = if state.version == 0 {
        put.condition_expression("attribute_not_exists(#version)")
    } else {
        put.condition_expression("#version = :read")
            .expression_attribute_values(":read", AttributeValue::N(state.version.to_string()))
    };
    match put.send().await {
        Ok(_) => Ok(true),
        Err(err) if put_refused(&err) => Ok(false),
        Err(err) => Err(StoreError(Box::new(err))),
    }
}

pub(super) async fn live_results(
    client: &Client,
    table: &str,
    arns: &[ExecutionArn],
    now: SystemTime,
) -> Result<HashSet<ExecutionArn>, StoreError> {
    let mut live = HashSet::new();
    let mut seen = HashSet::new();
    let unique: Vec<&ExecutionArn> = arns.iter().filter(|a| seen.insert(a.as_str())).collect();
    for chunk in unique.chunks(100) {
        let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
            .iter()
            .map(|arn| {
                HashMap::from([(KEY.to_owned(), AttributeValue::S(arn.as_str().to_owned()))])
            })
            .collect();
        // Unprocessed keys (throttling, size) are asked again, a few times.
        for _ in 0..4 {
            if keys.is_empty() {
                break;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(|e| StoreError(Box::new(e)))?;
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| StoreError(Box::new(e)))?;
            for item in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                let Some(AttributeValue::S(key)) = item.get(KEY) else {
                    continue;
                };
                let Ok(arn) = ExecutionArn::parse(key) else {
                    continue;
                };
                if decode(item)?.result.is_some_and(|r| r.is_live(now)) {
                    live.insert(arn);
                }
            }
            keys = out
                .unprocessed_keys
                .unwrap_or_default()
                .remove(table)
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !keys.is_empty() {
            return Err(StoreError(
                "BatchGetItem left keys unprocessed after retries".into(),
            ));
        }
    }
    Ok(live)
}
