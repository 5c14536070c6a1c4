//! In-process cache of stopped executions' results (moka), bounded in bytes, so a warm
//! instance answers hot results without any network call.

use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;

use crate::domain::{ExecutionArn, HotCache, StoredResult};

#[derive(Debug, Clone)]
pub struct MemoryCache {
    cache: Cache<ExecutionArn, StoredResult>,
}

/// Final results stay until evicted; provisional ones until they must be checked again.
struct UntilExpiry;

impl Expiry<ExecutionArn, StoredResult> for UntilExpiry {
    fn expire_after_create(
        &self,
        _: &ExecutionArn,
        value: &StoredResult,
        _: Instant,
    ) -> Option<Duration> {
        value
            .expires_at
            .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default())
    }
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of result documents.
    pub fn new(max_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|arn: &ExecutionArn, item: &StoredResult| {
                u32::try_from(arn.as_str().len() + item.document.len() + 64).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
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
