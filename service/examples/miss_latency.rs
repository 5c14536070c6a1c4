//! Benchmark helper: latency of cache misses through the service against the raw upstream
//! calls a miss needs (`GetItem` + `DescribeExecution`), interleaved so noise hits both alike.
//!
//! Usage: miss_latency SERVICE_URL EMULATOR_URL TABLE ARNS_FILE
//! ARNS_FILE holds finished execution ARNs, one a line, none fetched before; half go to each side.
//! Prints one JSON object with p50/p90/p99/mean in milliseconds for `service` and `raw`.

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region};
use aws_sdk_dynamodb::types::AttributeValue;

fn summary(mut samples: Vec<Duration>) -> serde_json::Value {
    samples.sort();
    let ms = |d: Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let at = |q: f64| ms(samples[((samples.len() as f64 - 1.0) * q).round() as usize]);
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    serde_json::json!({"n": samples.len(), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "mean": ms(mean)})
}

/// One first fetch through the service; it must be a cache miss.
async fn fetch(
    http: &reqwest::Client,
    service: &str,
    arn: &str,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let response = http
        .get(format!("{service}/executions/{arn}"))
        .send()
        .await?;
    let status = response.status();
    let cache_status = response
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    response.bytes().await?;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "service answers the finished execution");
    assert!(
        cache_status.contains("fwd=miss"),
        "service side must miss: {cache_status}"
    );
    Ok(elapsed)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, service, emulator, table, arns_file] = args.as_slice() else {
        return Err("usage: miss_latency SERVICE_URL EMULATOR_URL TABLE ARNS_FILE".into());
    };
    let arns: Vec<String> = std::fs::read_to_string(arns_file)?
        .lines()
        .map(str::to_owned)
        .collect();
    // The same SDK set-up as the service: one client, built once, connections reused.
    let sdk = sfn_results::adapters::aws::load()
        .await
        .into_builder()
        .region(Region::new("us-east-1"))
        .endpoint_url(emulator)
        .behavior_version(BehaviorVersion::latest())
        .build();
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    let http = reqwest::Client::new();

    let (mut raw, mut through_service) = (Vec::new(), Vec::new());
    for (i, pair) in arns.chunks_exact(2).enumerate() {
        // Alternate which side goes first, so neither always follows the other.
        let (raw_arn, service_arn) = if i % 2 == 0 {
            (&pair[0], &pair[1])
        } else {
            (&pair[1], &pair[0])
        };
        if i % 2 == 1 {
            through_service.push(fetch(&http, service, service_arn).await?);
        }
        let started = Instant::now();
        let item = ddb
            .get_item()
            .table_name(table)
            .key("executionArn", AttributeValue::S(raw_arn.clone()))
            .consistent_read(true)
            .send()
            .await?;
        assert!(item.item.is_none(), "raw side must miss the cache");
        sfn.describe_execution()
            .execution_arn(raw_arn)
            .send()
            .await?;
        raw.push(started.elapsed());
        if i % 2 == 0 {
            through_service.push(fetch(&http, service, service_arn).await?);
        }
    }
    println!(
        "{}",
        serde_json::json!({"service": summary(through_service), "raw": summary(raw)})
    );
    Ok(())
}
