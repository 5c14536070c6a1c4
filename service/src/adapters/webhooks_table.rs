//! DynamoDB adapter of the webhooks table (`WEBHOOKS_TABLE`, keys `pk` S and `sk` S): endpoints
//! (`pk` `endpoint`, `sk` the id), deliveries (`pk` `deliveries#<endpoint>`, `sk` the message id)
//! and the fan-out outbox (`pk` `outbox`, `sk` `<execution ARN> <token>`). Each record is kept
//! as its JSON in `body`, so the table needs no schema beyond its keys.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use crate::domain::notify::{Delivery, WebhookStore};
use crate::domain::webhooks::Endpoint;
use crate::domain::{ExecutionArn, StoreError};

#[derive(Debug, Clone)]
pub struct WebhooksTable {
    client: Client,
    table: String,
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

fn millis(t: SystemTime) -> u64 {
    u64::try_from(t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
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

    /// The item's body and version (0 for an item written before versions were kept).
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

    /// Writes the body as version `read + 1`: only as a new item when `only_new`, else only
    /// over the item still at version `read` (a deleted or changed one is left alone).
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
        let mut put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        put = if only_new {
            put.condition_expression("attribute_not_exists(pk)")
        } else if read == 0 {
            put.condition_expression("attribute_exists(pk) AND attribute_not_exists(#version)")
                .expression_attribute_names("#version", "version")
        } else {
            put.condition_expression("#version = :read")
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

    /// Every item of partition `pk` (paged), as (sort key, body).
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

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(err)
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(err)
}

#[async_trait]
impl WebhookStore for WebhooksTable {
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError> {
        self.put_body("endpoint", &endpoint.id, json(endpoint)?, 0, true)
            .await
    }

    async fn replace_endpoint(&self, endpoint: &Endpoint) -> Result<bool, StoreError> {
        self.put_body(
            "endpoint",
            &endpoint.id,
            json(endpoint)?,
            endpoint.version,
            false,
        )
        .await
    }

    async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, StoreError> {
        self.get_body("endpoint", id)
            .await?
            .map(|(body, version)| {
                parse::<Endpoint>(&body).map(|endpoint| Endpoint {
                    version,
                    ..endpoint
                })
            })
            .transpose()
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let mut endpoints: Vec<Endpoint> = self
            .query("endpoint")
            .await?
            .into_iter()
            .filter_map(|(_, body)| body)
            .map(|body| parse(&body))
            .collect::<Result<_, _>>()?;
        endpoints.sort_by_key(|e| e.created_at_ms);
        Ok(endpoints)
    }

    async fn delete_endpoint(&self, id: &str) -> Result<bool, StoreError> {
        self.delete("endpoint", id).await
    }

    async fn create_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let pk = format!("deliveries#{}", delivery.endpoint_id);
        self.put_body(&pk, &delivery.id, json(delivery)?, 0, true)
            .await
    }

    async fn delivery(&self, endpoint_id: &str, id: &str) -> Result<Option<Delivery>, StoreError> {
        let pk = format!("deliveries#{endpoint_id}");
        self.get_body(&pk, id)
            .await?
            .map(|(body, version)| {
                parse::<Delivery>(&body).map(|delivery| Delivery {
                    version,
                    ..delivery
                })
            })
            .transpose()
    }

    async fn replace_delivery(&self, delivery: &Delivery) -> Result<bool, StoreError> {
        let pk = format!("deliveries#{}", delivery.endpoint_id);
        self.put_body(&pk, &delivery.id, json(delivery)?, delivery.version, false)
            .await
    }

    async fn deliveries(
        &self,
        endpoint_id: &str,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut deliveries: Vec<Delivery> = self
            .query(&format!("deliveries#{endpoint_id}"))
            .await?
            .into_iter()
            .filter_map(|(_, body)| body)
            .map(|body| parse(&body))
            .collect::<Result<_, _>>()?;
        deliveries.sort_by_key(|d| std::cmp::Reverse(d.created_at_ms));
        deliveries.truncate(limit);
        Ok(deliveries)
    }

    async fn add_outbox(
        &self,
        arn: &ExecutionArn,
        token: &str,
        at: SystemTime,
    ) -> Result<(), StoreError> {
        let sk = format!("{arn} {token}");
        // An outbox entry is written once and only removed: no read comes before it.
        self.put_body("outbox", &sk, millis(at).to_string(), 0, true)
            .await
            .map(drop)
    }

    async fn remove_outbox(&self, arn: &ExecutionArn, token: &str) -> Result<(), StoreError> {
        self.delete("outbox", &format!("{arn} {token}"))
            .await
            .map(drop)
    }

    async fn outbox(
        &self,
        before: SystemTime,
    ) -> Result<Vec<(ExecutionArn, String, SystemTime)>, StoreError> {
        let before = millis(before);
        Ok(self
            .query("outbox")
            .await?
            .into_iter()
            .filter_map(|(sk, at)| {
                let at = at
                    .as_deref()?
                    .parse::<u64>()
                    .ok()
                    .filter(|at| *at < before)?;
                let (arn, token) = sk.rsplit_once(' ')?;
                let made = UNIX_EPOCH + std::time::Duration::from_millis(at);
                Some((ExecutionArn::parse(arn).ok()?, token.to_owned(), made))
            })
            .collect())
    }
}
