//! The results table's `byStateMachine` index: how the EXPRESS machine's recorded executions are
//! listed, newest first. Express items carry `stateMachineArn` (S) and `startDate` (S, RFC 3339
//! UTC with milliseconds, so text order is time order); other items stay out of the index.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use bytes::Bytes;
use serde::Deserialize;

use crate::domain::fleet::EXPRESS_LONGEST;
use crate::domain::{
    ExecutionArn, ExecutionStatus, Listed, Recorded, RecordedPage, StateMachineArn, StoreError,
};

pub const INDEX: &str = "byStateMachine";
pub const MACHINE: &str = "stateMachineArn";
pub const START: &str = "startDate";
const KEY: &str = "executionArn";

/// The index attributes of an Express result, from its document's `startDate`.
pub fn index_attributes(arn: &ExecutionArn, document: &[u8]) -> Vec<(String, AttributeValue)> {
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "startDate")]
        start_date: Option<String>,
    }
    let start = serde_json::from_slice::<Head>(document)
        .ok()
        .and_then(|h| h.start_date);
    match start {
        Some(start) if arn.is_express() => vec![
            (
                MACHINE.to_owned(),
                AttributeValue::S(arn.state_machine().as_str().to_owned()),
            ),
            (START.to_owned(), AttributeValue::S(start)),
        ],
        _ => Vec::new(),
    }
}

/// The start date as the index keeps it.
pub fn start_text(start: SystemTime) -> String {
    crate::domain::execution::rfc3339_millis(start)
}

pub async fn recorded(
    client: &Client,
    table: &str,
    machine: &StateMachineArn,
    status: Option<ExecutionStatus>,
    limit: u16,
    after: Option<&str>,
) -> Result<RecordedPage, StoreError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // TTL deletion lags by hours: an expired item is no longer there for the list either. An
    // execution whose start was logged and whose stop was not within an Express execution's
    // longest run is unknown, as `GET` answers it (404), not RUNNING.
    let open_since = SystemTime::now()
        .checked_sub(EXPRESS_LONGEST)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    let mut filter = String::from(
        "(attribute_not_exists(#expires) OR #expires > :now) \
         AND (attribute_exists(#doc) OR #readAt > :openSince)",
    );
    let mut query = client
        .query()
        .table_name(table)
        .index_name(INDEX)
        .key_condition_expression("#machine = :machine")
        .expression_attribute_names("#machine", MACHINE)
        .expression_attribute_names("#expires", "expiresAt")
        .expression_attribute_names("#doc", "document")
        .expression_attribute_names("#readAt", "readAt")
        .expression_attribute_values(":openSince", AttributeValue::N(open_since.to_string()))
        .expression_attribute_values(":machine", AttributeValue::S(machine.as_str().to_owned()))
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .scan_index_forward(false)
        .limit(i32::from(limit));
    if let Some(status) = status {
        filter.push_str(
            " AND (#status = :status OR (attribute_not_exists(#status) AND #readStatus = :status))",
        );
        query = query
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#readStatus", "readStatus")
            .expression_attribute_values(":status", AttributeValue::S(status.as_str().to_owned()));
    }
    if let Some(after) = after {
        let key: HashMap<String, String> =
            serde_json::from_str(after).map_err(|e| StoreError(Box::new(e)))?;
        query = query.set_exclusive_start_key(Some(
            key.into_iter()
                .map(|(k, v)| (k, AttributeValue::S(v)))
                .collect(),
        ));
    }
    let out = query
        .filter_expression(filter)
        .send()
        .await
        .map_err(|e| StoreError(Box::new(e)))?;
    let executions = out.items().iter().filter_map(decode).collect();
    let next = out.last_evaluated_key().map(|key| {
        let key: HashMap<&str, &str> = key
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
            .collect();
        serde_json::to_string(&key).unwrap_or_default()
    });
    Ok(RecordedPage { executions, next })
}

fn decode(item: &HashMap<String, AttributeValue>) -> Option<Recorded> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok());
    let arn = ExecutionArn::parse(text(KEY)?).ok()?;
    let status = ExecutionStatus::parse(text("status").or_else(|| text("readStatus"))?)?;
    let start_date = humantime::parse_rfc3339(text(START)?).ok()?;
    let stop_date = item
        .get("stopDate")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
    Some(Recorded {
        listed: Listed {
            arn,
            status,
            start_date,
            stop_date,
        },
        document: text("document").map(|d| Bytes::from(d.to_owned())),
    })
}
