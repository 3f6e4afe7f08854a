//! One SDK configuration for every client, built once per cold start.
//!
//! Everything comes from the environment, the way the SDK reads it: region, credentials
//! and `AWS_ENDPOINT_URL`. Setting `AWS_ENDPOINT_URL` alone points Loket at MiniStack,
//! LocalStack or moto; unset, it talks to AWS.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Throttling, timeouts and 5xx are retried by the SDK's standard retry mode
/// (exponential backoff with jitter); other errors surface at once and are typed by
/// the adapters.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(4).with_initial_backoff(Duration::from_millis(50)))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        )
        .load()
        .await
}
