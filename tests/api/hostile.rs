//! Hostile input and object-level authorization: refused cleanly, with no upstream call.

use serde_json::json;

use crate::emulators::shared;
use crate::helpers::{emulator_counts, header, problem, quick_input, TestApp};

/// Every foreign ARN is refused before Step Functions is asked: another state machine in the
/// same account, the same machine name in another account, region or partition.
#[tokio::test]
async fn the_allow_list_refuses_every_foreign_execution_without_asking_step_functions() {
    let app = TestApp::spawn().await;
    // The express machine is not in this service's allow-list: a real, finished execution of
    // a machine the caller may not read.
    let foreign_machine = app.machines.express.clone();
    let foreign = app
        .sfn
        .start_execution()
        .state_machine_arn(&foreign_machine)
        .name(crate::helpers::unique("secret"))
        .input(json!({"name": "Secret", "echo": "do not leak"}).to_string())
        .send()
        .await
        .expect("start")
        .execution_arn;
    let own = app
        .machines
        .greeting
        .replace(":stateMachine:", ":execution:")
        + ":x";
    let cases = [
        foreign.clone(),
        own.replace(":123456789012:", ":210987654321:"),
        own.replace(":us-east-1:", ":eu-west-1:"),
        own.replace("arn:aws:", "arn:aws-cn:")
            .replace(":us-east-1:", ":cn-north-1:"),
        own.replace("arn:aws:", "arn:aws-us-gov:")
            .replace(":us-east-1:", ":us-gov-west-1:"),
    ];
    let before = emulator_counts(&shared().endpoint()).await;
    for arn in &cases {
        let body = problem(app.get_execution(arn).await, 403).await;
        assert_eq!(
            body["type"], "urn:api-sfn:problem:state-machine-not-allowed",
            "{arn}"
        );
        assert!(!body.to_string().contains("do not leak"));
    }
    let after = emulator_counts(&shared().endpoint()).await;
    for arn in &cases {
        let key = format!("AWSStepFunctions.DescribeExecution {arn}");
        assert_eq!(
            after.get(&key),
            before.get(&key),
            "no DescribeExecution for {arn}"
        );
    }
}

#[tokio::test]
async fn nasty_paths_are_refused_with_problem_json_and_never_a_5xx() {
    let app = TestApp::spawn().await;
    let arn = app.finished(&quick_input("Quinn")).await;
    let machine = &app.machines.greeting;
    let long = "a".repeat(10_000);
    let paths: Vec<(String, u16)> = vec![
        (format!("/executions/{long}"), 400),
        (format!("/executions/{arn}{long}"), 400),
        (format!("/executions/{}", arn.replace(':', "%253A")), 400),
        (
            format!(
                "/executions/{}",
                arn.replacen(":execution:", ":execution:a%2F", 1)
            ),
            400,
        ),
        (format!("/executions/{arn}%00"), 400),
        (format!("/executions/{arn}%0A"), 400),
        (format!("/executions/{arn}%0D%0AX-Injected:%201"), 400),
        (format!("/executions/{arn}%7F"), 400),
        (format!("/executions/{arn}%FF"), 400),
        (format!("/executions/{arn}%"), 400),
        ("/executions/*".into(), 400),
        ("/executions/arn:aws:states:*:*:execution:*:*".into(), 400),
        (format!("/executions/{machine}"), 400),
        (
            format!(
                "/executions/{}",
                machine.replace(":stateMachine:", ":activity:")
            ),
            400,
        ),
        (
            format!(
                "/executions/{}:1",
                machine.replace(":stateMachine:", ":mapRun:")
            ),
            400,
        ),
        (
            format!(
                "/executions/{}",
                arn.replace("arn:aws:states", "arn:aws:lambda")
            ),
            400,
        ),
        (
            format!(
                "/executions/{}",
                arn.replace(":execution:", ":express:") + ":0a1b"
            ),
            // Read from the table only: nothing was logged for it.
            404,
        ),
        (format!("/executions/{arn}?wait=-1"), 400),
        (format!("/executions/{arn}?wait=1.5"), 400),
        (format!("/executions/{arn}?wait=%00"), 400),
    ];
    for (path, status) in paths {
        let response = app.http.get(app.url(&path)).send().await.expect("request");
        assert_eq!(
            response.status().as_u16(),
            status,
            "{}",
            &path[..path.len().min(120)]
        );
        assert!(header(&response, "x-injected").is_empty());
        problem(response, status).await;
    }

    // Huge waits are capped, not refused.
    let capped = app
        .http
        .get(app.url(&format!("/executions/{arn}?wait=18446744073709551615")))
        .send()
        .await
        .expect("request");
    assert_eq!(capped.status(), 200);
    let capped = app
        .http
        .get(app.url(&format!("/executions/{arn}")))
        .header("prefer", "wait=99999999999999999999999")
        .send()
        .await
        .expect("request");
    assert_eq!(capped.status(), 200);

    // Oversized headers get the HTTP layer's own answer, 431, not a result and not a dropped
    // connection: too many headers, and one header bigger than hyper's read buffer (~408 KiB).
    let address = app.service.address.trim_start_matches("http://").to_owned();
    let many: String = (0..120).map(|i| format!("x-h{i}: v\r\n")).collect();
    let huge = format!("x-padding: {}\r\n", "p".repeat(512 * 1024));
    for extra in [many, huge] {
        let request = format!("GET /executions/{arn} HTTP/1.1\r\nhost: localhost\r\n{extra}\r\n");
        let answer = raw_exchange(&address, request.into_bytes());
        assert!(
            answer.starts_with("HTTP/1.1 431 "),
            "{}",
            &answer[..answer.len().min(200)]
        );
    }
}

/// Sends `request` on a fresh connection while reading the answer, and returns what came back.
/// A connection that ends without any HTTP answer fails the test: that is not a refusal a client
/// can act on.
fn raw_exchange(address: &str, request: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    // The server may answer and stop reading before the request is all sent.
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(err) => {
                assert!(
                    !answer.is_empty(),
                    "connection error before any answer: {err}"
                );
                break;
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = sender.join();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn start_routes_refuse_bodies_over_the_step_functions_limit() {
    let app = TestApp::spawn_with_start_route(Some(0)).await;
    let too_big = format!("{{\"blob\":\"{}\"}}", "x".repeat(256 * 1024));
    let response = app.post("/executions/wait", too_big).await;
    problem(response, 413).await;
    for body in ["\u{0}", "[1,", "\"unterminated", "{\"a\":1}{\"b\":2}"] {
        let response = app.post("/executions/wait", body).await;
        problem(response, 400).await;
    }
    let bad_name = app.post("/executions/wait?name=a%2Fb", "{}").await;
    problem(bad_name, 400).await;
}

#[tokio::test]
async fn cors_headers_go_only_to_configured_origins() {
    let app = TestApp::spawn_with(false, |env| {
        env.insert(
            "CORS_ALLOWED_ORIGINS".into(),
            "https://app.example.com".into(),
        );
    })
    .await;
    let arn = app.finished(&quick_input("Ray")).await;
    let url = app.url(&format!("/executions/{arn}"));
    let allowed = app
        .http
        .get(&url)
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        "https://app.example.com"
    );
    assert!(header(&allowed, "access-control-expose-headers")
        .to_lowercase()
        .contains("etag"));
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match, prefer")
        .send()
        .await
        .expect("request");
    assert!(preflight.status().is_success());
    assert_eq!(
        header(&preflight, "access-control-allow-origin"),
        "https://app.example.com"
    );
    for origin in [
        "https://evil.example",
        "null",
        "https://app.example.com.evil.example",
    ] {
        let response = app
            .http
            .get(&url)
            .header("origin", origin)
            .send()
            .await
            .expect("request");
        assert!(
            header(&response, "access-control-allow-origin").is_empty(),
            "{origin}"
        );
    }
    let without = TestApp::spawn().await;
    let response = without
        .http
        .get(without.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert!(header(&response, "access-control-allow-origin").is_empty());
}
