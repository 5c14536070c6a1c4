//! The results table's callback links: one item per pair, keyed `link#<id>` (never an execution
//! ARN): `taskToken` (S), `summary` (S, optional), `linkExpires` (N, epoch seconds), `expiresAt`
//! (N, the table's TTL: a week after the link expires, so a late click is still told it expired),
//! and once answered `usedBy` (S, `approve` or `reject`), `usedAt` (N) and `claimMark` (S).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamodb::{conditional, put_refused, DynamoDbStore, KEY};
use crate::domain::{ClaimOutcome, Decision, LinkRecord, LinkStore, StoreError};

/// How long the table keeps a pair after it expired.
const KEPT_AFTER_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

fn key(id: &str) -> AttributeValue {
    AttributeValue::S(format!("link#{id}"))
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

fn decision(text: &str) -> Option<Decision> {
    match text {
        "approve" => Some(Decision::Approve),
        "reject" => Some(Decision::Reject),
        _ => None,
    }
}

fn record(id: &str, item: &HashMap<String, AttributeValue>) -> Option<LinkRecord> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    };
    let used = match (
        text("usedBy").as_deref().and_then(decision),
        number("usedAt"),
    ) {
        (Some(by), Some(at)) => Some((by, at)),
        _ => None,
    };
    Some(LinkRecord {
        id: id.to_owned(),
        task_token: text("taskToken")?,
        expires_at: number("linkExpires")?,
        summary: text("summary"),
        used,
    })
}

impl DynamoDbStore {
    async fn read_link(
        &self,
        id: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, key(id))
            .consistent_read(true)
            .send()
            .await
            .map_err(err)?;
        Ok(out.item)
    }
}

#[async_trait]
impl LinkStore for DynamoDbStore {
    async fn create_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        let kept_until = link.expires_at + KEPT_AFTER_EXPIRY.as_secs();
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(KEY, key(&link.id))
            .item("taskToken", AttributeValue::S(link.task_token.clone()))
            .item(
                "linkExpires",
                AttributeValue::N(link.expires_at.to_string()),
            )
            .item("expiresAt", AttributeValue::N(kept_until.to_string()))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", KEY);
        if let Some(summary) = &link.summary {
            put = put.item("summary", AttributeValue::S(summary.clone()));
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) if put_refused(&e) => Err(StoreError("the link id is taken".into())),
            Err(e) => Err(err(e)),
        }
    }

    async fn link(&self, id: &str) -> Result<Option<LinkRecord>, StoreError> {
        Ok(self.read_link(id).await?.and_then(|item| record(id, &item)))
    }

    async fn claim_link(
        &self,
        id: &str,
        decision: Decision,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        // This call's own mark: an SDK retry of a claim whose answer was lost finds it and
        // holds, rather than reading its own claim as another's.
        let mark = uuid::Uuid::new_v4().to_string();
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(id))
            .update_expression("SET #by = :by, #at = :now, #mark = :mark")
            .condition_expression(
                "attribute_exists(#key) AND (attribute_not_exists(#by) OR #mark = :mark) \
                 AND #expires > :now",
            )
            .expression_attribute_names("#key", KEY)
            .expression_attribute_names("#by", "usedBy")
            .expression_attribute_names("#at", "usedAt")
            .expression_attribute_names("#mark", "claimMark")
            .expression_attribute_names("#expires", "linkExpires")
            .expression_attribute_values(":by", AttributeValue::S(decision.as_str().to_owned()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .expression_attribute_values(":mark", AttributeValue::S(mark))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match claimed {
            Ok(out) => out
                .attributes
                .and_then(|item| record(id, &item))
                .map(ClaimOutcome::Taken)
                .ok_or_else(|| StoreError("the claimed link item is malformed".into())),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                // Why not: read it (consistently) and say.
                Ok(match self.link(id).await? {
                    None => ClaimOutcome::Missing,
                    Some(link) if link.used.is_some() => ClaimOutcome::Used(link),
                    Some(link) => ClaimOutcome::Expired(link),
                })
            }
            Err(e) => Err(err(e)),
        }
    }

    async fn release_link(&self, id: &str, decision: Decision) -> Result<(), StoreError> {
        let released = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(KEY, key(id))
            .update_expression("REMOVE #by, #at, #mark")
            .condition_expression("#by = :by")
            .expression_attribute_names("#by", "usedBy")
            .expression_attribute_names("#at", "usedAt")
            .expression_attribute_names("#mark", "claimMark")
            .expression_attribute_values(":by", AttributeValue::S(decision.as_str().to_owned()))
            .send()
            .await;
        // Another decision's claim, or none, is left as it is.
        conditional(released).map(|_| ())
    }
}
