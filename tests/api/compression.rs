//! Compression on the wire, locally: results over 1 KiB gzip-compressed for clients that accept
//! it, compressed once and kept; each encoding with its own strong `ETag`, and `If-None-Match`
//! answered against the encoding the request gets (RFC 9110 §8.8.3, §13.1.2).

use std::io::Read;

use serde_json::{json, Value};

use crate::helpers::{header, TestApp};

async fn get(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.http.get(app.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("request")
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .read_to_end(&mut out)
        .expect("gzip");
    out
}

#[tokio::test]
async fn a_large_result_is_sent_gzipped_to_who_accepts_it_with_a_strong_etag_per_encoding() {
    let app = TestApp::spawn().await;
    let arn = app
        .finished(&json!({"name": "Zip", "echo": "compressible ".repeat(2000), "delaySeconds": 0}))
        .await;
    let path = format!("/executions/{arn}");

    // The first answer, read from Step Functions, is compressed as well.
    let first = get(&app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "cache-status"), "sfn-results; fwd=miss");
    assert_eq!(header(&first, "content-encoding"), "gzip");
    let identity = get(&app, &path, &[]).await;
    assert_eq!(identity.status(), 200);
    assert_eq!(header(&identity, "content-encoding"), "");
    assert_eq!(header(&identity, "vary"), "accept-encoding");
    assert_eq!(
        header(&identity, "cache-status"),
        "sfn-results; hit; detail=memory"
    );
    let plain_tag = header(&identity, "etag");
    let plain = identity.bytes().await.expect("body");
    assert!(plain.len() > 20_000, "{} bytes", plain.len());

    // A client that accepts only br (not sent: gzip is) gets the document as it is.
    let br = get(&app, &path, &[("accept-encoding", "br")]).await;
    assert_eq!(header(&br, "content-encoding"), "");
    assert_eq!(header(&br, "etag"), plain_tag);
    assert_eq!(br.bytes().await.expect("body"), plain);

    let coding = "gzip";
    let answer = get(&app, &path, &[("accept-encoding", coding)]).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(header(&answer, "content-encoding"), coding);
    assert_eq!(header(&answer, "vary"), "accept-encoding");
    assert_eq!(header(&answer, "x-content-type-options"), "nosniff");
    let tag = header(&answer, "etag");
    assert!(tag.starts_with('"') && tag != plain_tag, "{coding}: {tag}");
    let sent = answer.bytes().await.expect("body");
    assert!(
        sent.len() * 10 < plain.len(),
        "{coding}: {} bytes",
        sent.len()
    );
    assert_eq!(gunzip(&sent), plain, "{coding} decodes to the document");

    // Its own tag, same encoding: not modified.
    let again = get(
        &app,
        &path,
        &[("accept-encoding", coding), ("if-none-match", &tag)],
    )
    .await;
    assert_eq!(again.status(), 304, "{coding}");
    assert_eq!(header(&again, "etag"), tag);
    assert!(again.bytes().await.expect("body").is_empty());
    // The identity tag does not name this encoding, nor this tag identity: both 200.
    let other = get(
        &app,
        &path,
        &[("accept-encoding", coding), ("if-none-match", &plain_tag)],
    )
    .await;
    assert_eq!(other.status(), 200, "{coding}");
    assert_eq!(header(&other, "content-encoding"), coding);
    let other = get(&app, &path, &[("if-none-match", &tag)]).await;
    assert_eq!(other.status(), 200, "{coding}");
    assert_eq!(header(&other, "content-encoding"), "");
    assert_eq!(other.bytes().await.expect("body"), plain);
    let unchanged = get(&app, &path, &[("if-none-match", &plain_tag)]).await;
    assert_eq!(unchanged.status(), 304);
}

#[tokio::test]
async fn a_small_result_is_never_compressed() {
    let app = TestApp::spawn().await;
    let arn = app
        .finished(&json!({"name": "Tiny", "echo": [1], "delaySeconds": 0}))
        .await;
    for _ in 0..2 {
        let answer = get(
            &app,
            &format!("/executions/{arn}"),
            &[("accept-encoding", "gzip, br")],
        )
        .await;
        assert_eq!(answer.status(), 200);
        assert_eq!(header(&answer, "content-encoding"), "");
        assert_eq!(header(&answer, "vary"), "");
        let body = answer.bytes().await.expect("body");
        assert!(body.len() < 1024);
        serde_json::from_slice::<Value>(&body).expect("plain JSON");
    }
}

#[tokio::test]
async fn a_long_list_is_compressed_for_clients_that_ask() {
    let app = TestApp::spawn().await;
    for i in 0..6 {
        app.finished(&json!({"name": format!("List{i}"), "echo": [i], "delaySeconds": 0}))
            .await;
    }
    let path = format!("/executions?stateMachine={}", app.machines.greeting);
    let plain = get(&app, &path, &[]).await;
    assert_eq!(plain.status(), 200);
    assert_eq!(header(&plain, "content-encoding"), "");
    let plain: Value = plain.json().await.expect("json");
    let zipped = get(&app, &path, &[("accept-encoding", "gzip")]).await;
    assert_eq!(zipped.status(), 200);
    assert_eq!(header(&zipped, "content-encoding"), "gzip");
    let body = gunzip(&zipped.bytes().await.expect("body"));
    let listed: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(listed["executions"], plain["executions"]);
}
