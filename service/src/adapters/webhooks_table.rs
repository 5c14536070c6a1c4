//! DynamoDB adapter of the webhooks table: its item operations, with the conditions that keep
//! a write from undoing another's (the layout above them is `webhooks_layout.rs`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::webhooks_layout::WebhookItems;
use crate::domain::StoreError;

#[derive(Debug, Clone)]
pub struct WebhooksTable {
    client: Client,
    table: String,
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

impl WebhooksTable {
    pub fn new(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self {
            client: super::aws::dynamodb(sdk),
            table: table.into(),
        }
    }

    fn key(pk: &str, sk: &str) -> HashMap<String, AttributeValue> {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
        ])
    }
}

#[async_trait]
impl WebhookItems for WebhooksTable {
    async fn get_body(&self, pk: &str, sk: &str) -> Result<Option<(String, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(err)?;
        Ok(out.item.and_then(|mut item| {
            let version = version_of(&item);
            match item.remove("body") {
                Some(AttributeValue::S(body)) => Some((body, version)),
                _ => None,
            }
        }))
    }

    async fn put_body(
        &self,
        pk: &str,
        sk: &str,
        body: String,
        read: u64,
        only_new: bool,
    ) -> Result<bool, StoreError> {
        let mut item = Self::key(pk, sk);
        item.insert("body".to_owned(), AttributeValue::S(body));
        item.insert(
            "version".to_owned(),
            AttributeValue::N((read + 1).to_string()),
        );
        // This call's own mark: when the SDK retries a write whose answer was lost (a timeout),
        // the first try may have landed, and the retry must hold, not read as a refusal (a
        // delivery created but never queued). Another write carries another mark.
        let writer = uuid::Uuid::new_v4().simple().to_string();
        item.insert("writer".to_owned(), AttributeValue::S(writer.clone()));
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#writer", "writer")
            .expression_attribute_values(":writer", AttributeValue::S(writer));
        put = if only_new {
            put.condition_expression("attribute_not_exists(pk) OR #writer = :writer")
        } else if read == 0 {
            put.condition_expression(
                "(attribute_exists(pk) AND attribute_not_exists(#version)) OR #writer = :writer",
            )
            .expression_attribute_names("#version", "version")
        } else {
            put.condition_expression("#version = :read OR #writer = :writer")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":read", AttributeValue::N(read.to_string()))
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(PutItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(err(e)),
        }
    }

    /// Paged: DynamoDB answers at most 1 MB a call.
    async fn query(&self, pk: &str) -> Result<Vec<(String, Option<String>)>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(err)?;
            for mut item in out.items.unwrap_or_default() {
                let sk = match item.remove("sk") {
                    Some(AttributeValue::S(sk)) => sk,
                    _ => continue,
                };
                let body = match item.remove("body") {
                    Some(AttributeValue::S(body)) => Some(body),
                    _ => None,
                };
                items.push((sk, body));
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(pk, sk)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(err)?;
        Ok(out.attributes.is_some())
    }
}

fn version_of(item: &HashMap<String, AttributeValue>) -> u64 {
    match item.get("version") {
        Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
        _ => 0,
    }
}
