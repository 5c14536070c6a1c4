//! The results table's item format (see `dynamodb.rs` for the attributes): a stored result's item,
//! and an item read back as the state the instances share.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::types::AttributeValue;
use bytes::Bytes;

use super::dynamodb::KEY;
use super::dynamodb_list;

use crate::domain::{
    ExecutionArn, ExecutionStatus, NotFoundMark, Rank, SharedRead, SharedState, StoreError,
    StoredResult,
};

pub(super) fn decode(mut item: HashMap<String, AttributeValue>) -> Result<SharedState, StoreError> {
    let malformed = |what: &str| StoreError(format!("cache item has no valid `{what}`").into());
    let number = |item: &HashMap<String, AttributeValue>, name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let status = |item: &HashMap<String, AttributeValue>, name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => ExecutionStatus::parse(s).ok_or_else(|| malformed(name)),
        _ => Err(malformed(name)),
    };
    let ms = |n: u64| UNIX_EPOCH + Duration::from_millis(n);
    let result = match item.remove("document") {
        Some(AttributeValue::S(s)) => Some(StoredResult {
            document: Bytes::from(s),
            status: status(&item, "status")?,
            is_final: matches!(item.get("final"), Some(AttributeValue::Bool(true))),
            stored_at: number(&item, "storedAt").map_or(UNIX_EPOCH, from_epoch_seconds),
            expires_at: number(&item, "freshUntil")
                .or_else(|| number(&item, "expiresAt"))
                .map(from_epoch_seconds),
            keep_until: number(&item, "expiresAt").map(from_epoch_seconds),
            rank: Rank {
                redrive_count: number(&item, "redriveCount")
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                stop_date_ms: number(&item, "stopDate").unwrap_or(0),
            },
        }),
        Some(_) => return Err(malformed("document")),
        None => None,
    };
    let read = match (item.remove("readDocument"), number(&item, "readAt")) {
        (Some(AttributeValue::S(s)), Some(at)) => Some(SharedRead {
            document: Bytes::from(s),
            status: status(&item, "readStatus")?,
            start_date: number(&item, "readStart").map_or(UNIX_EPOCH, ms),
            read_at: ms(at),
        }),
        _ => None,
    };
    let not_found = number(&item, "notFoundAt").map(|at| NotFoundMark {
        first_seen: ms(number(&item, "notFoundFirst").unwrap_or(at)),
        last_seen: ms(at),
    });
    Ok(SharedState {
        result,
        read,
        lease_until: number(&item, "leaseUntil").map(ms),
        not_found,
    })
}

/// A stored result's item: what `put_if_absent` and `replace_result` write.
pub(super) fn result_item(
    arn: &ExecutionArn,
    result: &StoredResult,
) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let mut item = HashMap::from([
        (KEY.to_owned(), AttributeValue::S(arn.as_str().to_owned())),
        (
            "document".to_owned(),
            AttributeValue::S(
                String::from_utf8(result.document.to_vec()).map_err(|e| StoreError(Box::new(e)))?,
            ),
        ),
        (
            "status".to_owned(),
            AttributeValue::S(result.status.as_str().to_owned()),
        ),
        ("final".to_owned(), AttributeValue::Bool(result.is_final)),
        (
            "redriveCount".to_owned(),
            AttributeValue::N(result.rank.redrive_count.to_string()),
        ),
        (
            "stopDate".to_owned(),
            AttributeValue::N(result.rank.stop_date_ms.to_string()),
        ),
        (
            "storedAt".to_owned(),
            AttributeValue::N(epoch_seconds(result.stored_at).to_string()),
        ),
    ]);
    item.extend(dynamodb_list::index_attributes(arn, &result.document));
    // A provisional result is read again after `freshUntil`, but the item stays (TTL
    // `expiresAt`, as long as a final one) so that its rank keeps refusing older runs.
    let fresh = if result.is_final {
        None
    } else {
        result.expires_at
    };
    if let Some(at) = fresh {
        item.insert(
            "freshUntil".to_owned(),
            AttributeValue::N(epoch_seconds(at).to_string()),
        );
    }
    let keep = if result.is_final {
        result.expires_at.or(result.keep_until)
    } else {
        result.keep_until
    };
    if let Some(at) = keep {
        item.insert(
            "expiresAt".to_owned(),
            AttributeValue::N(epoch_seconds(at).to_string()),
        );
    }
    Ok(item)
}

pub(super) fn millis(t: SystemTime) -> AttributeValue {
    let ms = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
    AttributeValue::N(ms.to_string())
}

pub(super) fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn from_epoch_seconds(s: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(s))
        .unwrap_or(UNIX_EPOCH)
}
