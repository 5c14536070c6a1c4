//! A world for the events entry point: an emulator of its own (the fixtures name fixed ARNs),
//! the `events` function under a loopback Lambda runtime API, and the HTTP service beside it,
//! both the real binary, sharing one table.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sfn::primitives::DateTime;
use serde_json::{json, Value};

use crate::emulators::Emulator;
use crate::helpers::{
    base_env, create_machines, create_table, describe_count, sdk_config, unique, Machines, Service,
};
use crate::lambda_runtime::LoopbackRuntime;
use crate::upstream::{ACCOUNT, REGION};

pub const TABLE: &str = "api-sfn-results";

#[derive(Debug)]
pub struct EventsWorld {
    pub emulator: Emulator,
    pub sfn: aws_sdk_sfn::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub machines: Machines,
    pub runtime: LoopbackRuntime,
    /// The `events` function's process.
    pub events_fn: Service,
    pub api: Service,
    pub http: reqwest::Client,
}

impl EventsWorld {
    /// `configure` adjusts the events function's environment only.
    pub async fn start(configure: impl FnOnce(&mut HashMap<String, String>)) -> Self {
        let emulator = Emulator::start();
        let sdk = sdk_config(&emulator.endpoint()).await;
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let ddb = aws_sdk_dynamodb::Client::new(&sdk);
        let machines = create_machines(&sfn, "api-sfn").await;
        create_table(&ddb, TABLE).await;
        let mut env = base_env(&emulator.endpoint(), &emulator.endpoint());
        env.insert("RESULTS_TABLE".into(), TABLE.into());
        env.insert(
            "ALLOWED_STATE_MACHINES".into(),
            format!(
                "{},{},{}",
                machines.greeting, machines.rejected, machines.express
            ),
        );
        // GET /executions lists the EXPRESS machine from the table, as the stack configures it.
        env.insert("EXPRESS_STATE_MACHINES".into(), machines.express.clone());
        // Events flow here, as deployed: reads of running executions are only a safety net.
        env.insert("READ_REFRESH_SECONDS".into(), "30".into());
        let api = Service::start(&env).await;
        let runtime = LoopbackRuntime::start().await;
        let mut events_env = env.clone();
        for (k, v) in runtime.env() {
            events_env.insert(k.into(), v);
        }
        events_env.insert("_HANDLER".into(), "events".into());
        configure(&mut events_env);
        let events = Service::start_lambda(&events_env);
        Self {
            emulator,
            sfn,
            ddb,
            machines,
            runtime,
            events_fn: events,
            api,
            http: reqwest::Client::new(),
        }
    }

    /// Delivers one event to the events function; its answer (or `invocationError`).
    pub async fn invoke(&mut self, event: Value) -> Value {
        self.runtime.invoke(event).await
    }

    pub async fn get(&self, arn: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/executions/{arn}", self.api.address))
            .send()
            .await
            .expect("request")
    }

    pub async fn describes(&self, arn: &str) -> u64 {
        describe_count(&self.emulator.endpoint(), arn).await
    }

    /// Runs `machine` with `input` under a fresh name until it stops; its ARN.
    pub async fn finished(&self, machine: &str, input: &Value) -> String {
        let arn = self.started(machine, input).await;
        for _ in 0..300 {
            let out = self
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .expect("describe");
            if out.status != aws_sdk_sfn::types::ExecutionStatus::Running {
                return arn;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{arn} never stopped");
    }

    pub async fn started(&self, machine: &str, input: &Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(unique("ev"))
            .input(input.to_string())
            .send()
            .await
            .expect("start")
            .execution_arn
    }

    /// The status-change event Step Functions sends for `arn` as it is now, built from
    /// `DescribeExecution` (dates as epoch milliseconds, output included).
    pub async fn event_of(&self, arn: &str) -> Value {
        let out = self
            .sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("describe");
        status_change(json!({
            "executionArn": arn,
            "stateMachineArn": out.state_machine_arn(),
            "name": out.name(),
            "status": out.status().as_str(),
            "startDate": epoch_ms(out.start_date()),
            "stopDate": out.stop_date().map(epoch_ms),
            "input": out.input(),
            "inputDetails": {"included": true},
            "output": out.output(),
            "outputDetails": {"included": true},
            "redriveCount": 0,
            "redriveDate": null,
            "redriveStatus": "NOT_REDRIVABLE",
            "redriveStatusReason": "Execution is SUCCEEDED and cannot be redriven",
            "error": out.error(),
            "cause": out.cause(),
        }))
    }
}

/// An EventBridge envelope around a Step Functions status-change `detail`.
pub fn status_change(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": unique("event"),
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT,
        "time": "2026-11-28T17:18:10Z",
        "region": REGION,
        "resources": [detail["executionArn"].clone()],
        "detail": detail,
    })
}

/// Epoch milliseconds, as Step Functions' events carry dates.
pub fn epoch_ms(t: &DateTime) -> u64 {
    u64::try_from((t.as_nanos() + 500_000) / 1_000_000).expect("after 1970")
}
