//! The webhooks table's layout (`WEBHOOKS_TABLE`, keys `pk` S and `sk` S), over any store of its
//! items: endpoints (`pk` `endpoint`, `sk` the id), deliveries (`pk` `deliveries#<endpoint>`,
//! `sk` the message id) and the fan-out outbox (`pk` `outbox`, `sk` `<execution ARN> <token>`).
//! Each record is kept as its JSON in `body` with a `version`, so the table needs no schema
//! beyond its keys. DynamoDB (`webhooks_table.rs`) and the in-memory fake (`memory_webhooks.rs`)
//! give the four item operations, under the same conditions, and share all that is above them.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::domain::reconcile::millis;
use crate::domain::webhooks::{Delivery, Endpoint, WebhookStore};
use crate::domain::{ExecutionArn, StoreError};

/// The item operations the layout is written over.
#[async_trait]
pub trait WebhookItems: Send + Sync {
    /// The item's body and version (0 for an item written before versions were kept), read
    /// consistently.
    async fn get_body(&self, pk: &str, sk: &str) -> Result<Option<(String, u64)>, StoreError>;
    /// Writes the body as version `read + 1`: only as a new item when `only_new`, else only
    /// over the item still at version `read` (a deleted or changed one is left alone); `false`
    /// when that condition does not hold (nothing written).
    async fn put_body(
        &self,
        pk: &str,
        sk: &str,
        body: String,
        read: u64,
        only_new: bool,
    ) -> Result<bool, StoreError>;
    /// Every item of partition `pk`, in sort key order, as (sort key, body).
    async fn query(&self, pk: &str) -> Result<Vec<(String, Option<String>)>, StoreError>;
    /// `false` when there was no such item.
    async fn delete(&self, pk: &str, sk: &str) -> Result<bool, StoreError>;
}

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError(Box::new(e))
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(err)
}

fn parse<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(err)
}

/// A record found by its key, with the version it was read at.
fn read<T: serde::de::DeserializeOwned>(
    found: Option<(String, u64)>,
    versioned: fn(T, u64) -> T,
) -> Result<Option<T>, StoreError> {
    found
        .map(|(body, version)| parse(&body).map(|record| versioned(record, version)))
        .transpose()
}

/// The records of a partition (their version not read).
fn records<T: serde::de::DeserializeOwned>(
    items: Vec<(String, Option<String>)>,
) -> Result<Vec<T>, StoreError> {
    items
        .into_iter()
        .filter_map(|(_, body)| body)
        .map(|body| parse(&body))
        .collect()
}

#[async_trait]
impl<T: WebhookItems + ?Sized> WebhookStore for T {
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
        let found = self.get_body("endpoint", id).await?;
        read(found, |endpoint, version| Endpoint {
            version,
            ..endpoint
        })
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let mut endpoints: Vec<Endpoint> = records(self.query("endpoint").await?)?;
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
        let found = self
            .get_body(&format!("deliveries#{endpoint_id}"), id)
            .await?;
        read(found, |delivery, version| Delivery {
            version,
            ..delivery
        })
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
        let mut deliveries: Vec<Delivery> =
            records(self.query(&format!("deliveries#{endpoint_id}")).await?)?;
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
