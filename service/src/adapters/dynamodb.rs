//! DynamoDB adapter: the result table behind the `ResultStore` port.
//!
//! One item per execution, keyed by `executionArn` (S). A stored result: `document` (S, the
//! result document's exact bytes), `status` (S), `final` (BOOL), `storedAt` (N), `expiresAt` (N,
//! epoch seconds, the TTL attribute), `redriveCount` (N) and `stopDate` (N, epoch ms), its rank;
//! Express items also `stateMachineArn` and `startDate`, the list index's keys. The coordination state the instances share, beside it or
//! alone: `readDocument`, `readStatus`, `readStart`, `readAt` (the last read of a running
//! execution), `leaseUntil` (an instance is reading), `notFoundFirst`, `notFoundAt` (a 404);
//! times in epoch milliseconds. A coordination-only item expires an hour after it was made.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::dynamodb_item::{decode, epoch_seconds, millis, result_item};
use super::{dynamodb_list, dynamodb_reconcile};
use crate::domain::{
    Claim, ExecutionArn, ExecutionStatus, NotFoundMark, PutOutcome, ReadCoordination,
    ReconcileLedger, ReconcileState, RecordedExecutions, RecordedPage, ResultStore, SharedRead,
    SharedState, StateMachineArn, StoreError, StoredResult,
};

pub(super) const KEY: &str = "executionArn";
/// How long an item holding only coordination state is kept.
const COORDINATION_TTL: Duration = Duration::from_secs(3600);
/// No live result: none stored, a provisional one past its freshness, or any past its TTL.
const NO_LIVE_RESULT: &str =
    "(attribute_not_exists(#doc) OR #fresh < :nowSec OR #expires < :nowSec)";
/// When a stored result may be replaced: none is stored (or one without a rank), the stored one
/// has a lower rank, or the same rank and is no longer live. A greater rank is never replaced,
/// live or not: a late result of an older run never wins over a redriven run's.
const REPLACEABLE: &str = "attribute_not_exists(#doc) OR attribute_not_exists(#rc) \
    OR #rc < :rc OR (#rc = :rc AND #stop < :stop) \
    OR (#rc = :rc AND #stop = :stop AND (#fresh < :nowSec OR #expires < :nowSec))";

#[derive(Debug, Clone)]
pub struct DynamoDbStore {
    pub(super) client: Client,
    pub(super) table: String,
}

impl DynamoDbStore {
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: super::aws::dynamodb(sdk),
            table: table.into(),
        }
    }

    /// An update of `arn`'s coordination state, with the names and values every one uses.
    fn coordinate(&self, arn: &ExecutionArn, now: SystemTime) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(arn.as_str().to_owned()))
            .expression_attribute_names("#doc", "document")
            .expression_attribute_names("#expires", "expiresAt")
            .expression_attribute_names("#fresh", "freshUntil")
            .expression_attribute_names("#lease", "leaseUntil")
            .expression_attribute_values(
                ":nowSec",
                AttributeValue::N(epoch_seconds(now).to_string()),
            )
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N(epoch_seconds(now + COORDINATION_TTL).to_string()),
            )
    }
}

/// A conditional update's outcome: `false` when its condition did not hold.
pub(super) fn conditional<T>(
    outcome: Result<T, SdkError<UpdateItemError, aws_sdk_dynamodb::config::http::HttpResponse>>,
) -> Result<bool, StoreError> {
    match outcome {
        Ok(_) => Ok(true),
        Err(err)
            if matches!(
                err.as_service_error(),
                Some(UpdateItemError::ConditionalCheckFailedException(_))
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(StoreError(Box::new(err))),
    }
}

/// Marks a write as this call's own: when the SDK retries a conditional write whose answer was
/// lost (a timeout on a busy table), the first try may have landed, and the retry must hold
/// rather than read as another writer's (a stop stored but never fanned out). Another call
/// carries another mark.
fn marked(
    mut item: std::collections::HashMap<String, AttributeValue>,
) -> (
    std::collections::HashMap<String, AttributeValue>,
    AttributeValue,
) {
    let writer = AttributeValue::S(uuid::Uuid::new_v4().simple().to_string());
    item.insert("writer".to_owned(), writer.clone());
    (item, writer)
}

#[async_trait]
impl ResultStore for DynamoDbStore {
    async fn state(&self, arn: &ExecutionArn) -> Result<SharedState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(arn.as_str().to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError(Box::new(e)))?;
        out.item
            .map(decode)
            .transpose()
            .map(Option::unwrap_or_default)
    }

    async fn put_if_absent(
        &self,
        arn: &ExecutionArn,
        result: &StoredResult,
    ) -> Result<PutOutcome, StoreError> {
        let (item, writer) = marked(result_item(arn, result)?);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(format!("({REPLACEABLE}) OR #writer = :writer"))
            .expression_attribute_names("#writer", "writer")
            .expression_attribute_values(":writer", writer)
            .expression_attribute_names("#doc", "document")
            .expression_attribute_names("#expires", "expiresAt")
            .expression_attribute_names("#fresh", "freshUntil")
            .expression_attribute_names("#rc", "redriveCount")
            .expression_attribute_names("#stop", "stopDate")
            .expression_attribute_values(
                ":rc",
                AttributeValue::N(result.rank.redrive_count.to_string()),
            )
            .expression_attribute_values(
                ":stop",
                AttributeValue::N(result.rank.stop_date_ms.to_string()),
            )
            .expression_attribute_values(
                ":nowSec",
                AttributeValue::N(epoch_seconds(result.stored_at).to_string()),
            )
            .send()
            .await;
        match put {
            Ok(_) => Ok(PutOutcome::Written),
            Err(err) if put_refused(&err) => Ok(PutOutcome::AlreadyPresent),
            Err(err) => Err(StoreError(Box::new(err))),
        }
    }

    async fn replace_result(
        &self,
        arn: &ExecutionArn,
        stored: &StoredResult,
        result: &StoredResult,
    ) -> Result<bool, StoreError> {
        let old =
            String::from_utf8(stored.document.to_vec()).map_err(|e| StoreError(Box::new(e)))?;
        let (item, writer) = marked(result_item(arn, result)?);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("#doc = :old OR #writer = :writer")
            .expression_attribute_names("#writer", "writer")
            .expression_attribute_values(":writer", writer)
            .expression_attribute_names("#doc", "document")
            .expression_attribute_values(":old", AttributeValue::S(old))
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if put_refused(&err) => Ok(false),
            Err(err) => Err(StoreError(Box::new(err))),
        }
    }

    async fn live_results(
        &self,
        arns: &[ExecutionArn],
        now: SystemTime,
    ) -> Result<HashSet<ExecutionArn>, StoreError> {
        dynamodb_reconcile::live_results(&self.client, &self.table, arns, now).await
    }
}

#[async_trait]
impl ReadCoordination for DynamoDbStore {
    async fn claim(&self, arn: &ExecutionArn, claim: &Claim) -> Result<bool, StoreError> {
        let update = self
            .coordinate(arn, claim.now)
            .update_expression("SET #lease = :lease, #expires = if_not_exists(#expires, :ttl)")
            .condition_expression(format!(
                "{NO_LIVE_RESULT} AND (attribute_not_exists(#lease) OR #lease < :nowMs) \
                 AND (attribute_not_exists(#readAt) OR #readAt < :readBefore) \
                 AND (attribute_not_exists(#nfAt) OR #nfAt < :nfBefore)"
            ))
            .expression_attribute_names("#readAt", "readAt")
            .expression_attribute_names("#nfAt", "notFoundAt")
            .expression_attribute_values(":lease", millis(claim.lease_until))
            .expression_attribute_values(":nowMs", millis(claim.now))
            .expression_attribute_values(":readBefore", millis(claim.read_before))
            .expression_attribute_values(":nfBefore", millis(claim.not_found_before));
        conditional(update.send().await)
    }

    async fn record_read(&self, arn: &ExecutionArn, read: &SharedRead) -> Result<bool, StoreError> {
        let document =
            String::from_utf8(read.document.to_vec()).map_err(|e| StoreError(Box::new(e)))?;
        // An open Express item joins the list index (`dynamodb_list`); others stay out of it.
        let index = if arn.is_express() {
            ", #machine = :machine, #startText = :startText"
        } else {
            ""
        };
        let mut update = self
            .coordinate(arn, read.read_at)
            .update_expression(format!(
                "SET #readDoc = :doc, #readStatus = :status, #readStart = :start, #readAt = :at, \
                 #expires = if_not_exists(#expires, :ttl){index} REMOVE #lease"
            ))
            // A slower read that finishes after a newer one is dropped.
            .condition_expression(format!(
                "{NO_LIVE_RESULT} AND (attribute_not_exists(#readAt) OR #readAt < :at)"
            ))
            .expression_attribute_names("#readDoc", "readDocument")
            .expression_attribute_names("#readStatus", "readStatus")
            .expression_attribute_names("#readStart", "readStart")
            .expression_attribute_names("#readAt", "readAt")
            .expression_attribute_values(":doc", AttributeValue::S(document))
            .expression_attribute_values(
                ":status",
                AttributeValue::S(read.status.as_str().to_owned()),
            )
            .expression_attribute_values(":start", millis(read.start_date))
            .expression_attribute_values(":at", millis(read.read_at));
        if arn.is_express() {
            update = update
                .expression_attribute_names("#machine", dynamodb_list::MACHINE)
                .expression_attribute_names("#startText", dynamodb_list::START)
                .expression_attribute_values(
                    ":machine",
                    AttributeValue::S(arn.state_machine().as_str().to_owned()),
                )
                .expression_attribute_values(
                    ":startText",
                    AttributeValue::S(dynamodb_list::start_text(read.start_date)),
                );
        }
        conditional(update.send().await)
    }

    async fn record_not_found(
        &self,
        arn: &ExecutionArn,
        mark: &NotFoundMark,
    ) -> Result<(), StoreError> {
        let update = self
            .coordinate(arn, mark.last_seen)
            .update_expression(
                "SET #nfFirst = :first, #nfAt = :at, #expires = if_not_exists(#expires, :ttl) \
                 REMOVE #lease",
            )
            .condition_expression(NO_LIVE_RESULT)
            .expression_attribute_names("#nfFirst", "notFoundFirst")
            .expression_attribute_names("#nfAt", "notFoundAt")
            .expression_attribute_values(":first", millis(mark.first_seen))
            .expression_attribute_values(":at", millis(mark.last_seen));
        conditional(update.send().await).map(drop)
    }

    async fn hold_lease(&self, arn: &ExecutionArn, until: SystemTime) -> Result<(), StoreError> {
        let update = self
            .coordinate(arn, SystemTime::now())
            .update_expression("SET #lease = :lease, #expires = if_not_exists(#expires, :ttl)")
            .condition_expression(NO_LIVE_RESULT)
            .expression_attribute_values(":lease", millis(until));
        conditional(update.send().await).map(drop)
    }
}

#[async_trait]
impl ReconcileLedger for DynamoDbStore {
    async fn reconcile_state(
        &self,
        machine: &StateMachineArn,
    ) -> Result<ReconcileState, StoreError> {
        dynamodb_reconcile::state(&self.client, &self.table, machine).await
    }

    async fn save_reconcile_state(
        &self,
        machine: &StateMachineArn,
        state: &ReconcileState,
    ) -> Result<bool, StoreError> {
        dynamodb_reconcile::save_state(&self.client, &self.table, machine, state).await
    }
}

#[async_trait]
impl RecordedExecutions for DynamoDbStore {
    async fn recorded(
        &self,
        machine: &StateMachineArn,
        status: Option<ExecutionStatus>,
        limit: u16,
        after: Option<&str>,
    ) -> Result<RecordedPage, StoreError> {
        dynamodb_list::recorded(&self.client, &self.table, machine, status, limit, after).await
    }
}

pub(super) fn put_refused<R>(err: &SdkError<PutItemError, R>) -> bool {
    matches!(
        err.as_service_error(),
        Some(PutItemError::ConditionalCheckFailedException(_))
    )
}
