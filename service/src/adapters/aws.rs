//! The AWS SDK configuration, loaded once: one HTTP client, standard retries, explicit timeouts.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls;

/// Whole-call budgets stay far below API Gateway's 29 s integration timeout, even when a
/// request reads the store, asks Step Functions and writes the store one after another.
pub const SFN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
pub const SFN_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
pub const DYNAMODB_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(800);
pub const DYNAMODB_OPERATION_TIMEOUT: Duration = Duration::from_secs(2);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

// A write after the answer fits the budget's reserve for it (see `domain::budget`).
const _: () = assert!(
    DYNAMODB_OPERATION_TIMEOUT.as_millis() <= crate::domain::budget::WRITE_RESERVE.as_millis()
);
const MAX_ATTEMPTS: u32 = 3;

/// Loads region, credentials and endpoints from the SDK's own conventions
/// (`AWS_REGION`, `AWS_ENDPOINT_URL_SFN`, ...), with rustls/ring as the only TLS stack.
pub async fn load() -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build(),
        )
        .load()
        .await
}

pub(crate) fn timeouts(attempt: Duration, operation: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(attempt)
        .operation_timeout(operation)
        .build()
}

/// A DynamoDB client with the DynamoDB budgets, for every table the service uses.
pub(crate) fn dynamodb(sdk: &SdkConfig) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::config::Builder::from(sdk)
        .timeout_config(timeouts(
            DYNAMODB_ATTEMPT_TIMEOUT,
            DYNAMODB_OPERATION_TIMEOUT,
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
