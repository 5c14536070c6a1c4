//! DynamoDB adapter: the result table behind the `ResultStore` port.
//!
//! Item: `executionArn` (S, key), `document` (S, the result document's exact bytes),
//! `status` (S), `final` (BOOL), `storedAt` (N), `expiresAt` (N, epoch seconds, the TTL attribute).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use bytes::Bytes;

use super::aws::{timeouts, DYNAMODB_ATTEMPT_TIMEOUT, DYNAMODB_OPERATION_TIMEOUT};
use crate::domain::{
    ExecutionArn, ExecutionStatus, PutOutcome, ResultStore, StoreError, StoredResult,
};

const KEY: &str = "executionArn";

#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    client: Client,
    table: String,
}

impl DynamoDbStore {
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk)
            .timeout_config(timeouts(
                DYNAMODB_ATTEMPT_TIMEOUT,
                DYNAMODB_OPERATION_TIMEOUT,
            ))
            .build();
        Self {
            client: Client::from_conf(config),
            table: table.into(),
        }
    }
}

#[async_trait]
impl ResultStore for DynamoDbStore {
    async fn get(&self, arn: &ExecutionArn) -> Result<Option<StoredResult>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(arn.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError(Box::new(e)))?;
        out.item.map(decode).transpose()
    }

    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        let mut item = HashMap::from([
            (KEY.to_owned(), AttributeValue::S(arn.as_str().to_owned())),
            (
                "document".to_owned(),
                AttributeValue::S(
                    String::from_utf8(result.document.to_vec())
                        .map_err(|e| StoreError(Box::new(e)))?,
                ),
            ),
            (
                "status".to_owned(),
                AttributeValue::S(result.status.as_str().to_owned()),
            ),
            ("final".to_owned(), AttributeValue::Bool(result.is_final)),
            (
                "storedAt".to_owned(),
                AttributeValue::N(epoch_seconds(result.stored_at).to_string()),
            ),
        ]);
        if let Some(at) = result.expires_at {
            item.insert(
                "expiresAt".to_owned(),
                AttributeValue::N(epoch_seconds(at).to_string()),
            );
        }
        // First writer wins; an expired item (TTL deletion lags by hours) may be replaced.
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#key) OR #expires < :now")
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#expires", "expiresAt")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(epoch_seconds(result.stored_at).to_string()),
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err)
                if matches!(
                    err.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(PutOutcome::AlreadyPresent)
            }
            Err(err) => Err(StoreError(Box::new(err))),
        }
    }
}

fn decode(mut item: HashMap<String, AttributeValue>) -> Result<StoredResult, StoreError> {
    let malformed = |what: &str| StoreError(format!("cache item has no valid `{what}`").into());
    let document = match item.remove("document") {
        Some(AttributeValue::S(s)) => Bytes::from(s),
        _ => return Err(malformed("document")),
    };
    let status = match item.get("status") {
        Some(AttributeValue::S(s)) => {
            ExecutionStatus::parse(s).ok_or_else(|| malformed("status"))?
        }
        _ => return Err(malformed("status")),
    };
    let is_final = matches!(item.get("final"), Some(AttributeValue::Bool(true)));
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok().map(from_epoch_seconds),
        _ => None,
    };
    Ok(StoredResult {
        document,
        status,
        is_final,
        stored_at: number("storedAt").unwrap_or(UNIX_EPOCH),
        expires_at: number("expiresAt"),
    })
}

fn epoch_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

fn from_epoch_seconds(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}
