//! In-process cache of stopped executions' results (moka), bounded in bytes, so a warm
//! instance answers hot results without any network call.
//!
//! No expiry policy: final results never expire, and a provisional one carries its own
//! `expires_at`, which the domain checks on every read (and replaces when it has passed), so
//! reads stay as cheap as moka can make them.

use moka::sync::Cache;

use crate::domain::{ExecutionArn, HotCache, StoredResult};

#[derive(Debug, Clone)]
pub struct MemoryCache {
    cache: Cache<ExecutionArn, StoredResult>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of result documents.
    pub fn new(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|arn: &ExecutionArn, item: &StoredResult| {
                u32::try_from(arn.as_str().len() + item.document.len() + 64).unwrap_or(u32::MAX)
            })
            .build();
        Self { cache }
    }
}

impl HotCache for MemoryCache {
    fn get(&self, arn: &ExecutionArn) -> Option<StoredResult> {
        self.cache.get(arn)
    }

    fn insert(&self, arn: &ExecutionArn, result: StoredResult) {
        self.cache.insert(arn.clone(), result);
    }
}
