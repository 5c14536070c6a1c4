//! Wires configuration, telemetry and SDK clients, then serves under Lambda or locally.

use std::process::ExitCode;
use std::sync::Arc;

use sfn_results::adapters::{aws, DynamoDbStore, StepFunctions};
use sfn_results::config::Config;
use sfn_results::{router, server, AppState, Ports};

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("sfn-results: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    sfn_results::telemetry::init();
    let sdk = aws::load().await;
    let sfn = Arc::new(StepFunctions::new(&sdk));
    let ports = Ports {
        source: sfn.clone(),
        starter: sfn.clone(),
        lister: sfn,
        store: Arc::new(DynamoDbStore::new(&sdk, &config.results_table)),
    };
    let state = AppState::new(&config, ports);
    let results = state.results.clone();
    let app = router(state);
    let served = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        server::run_lambda(app, results)
            .await
            .map_err(|e| e.to_string())
    } else {
        server::run_local(app, config.listen_addr)
            .await
            .map_err(|e| e.to_string())
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server stopped");
            eprintln!("sfn-results: {err}");
            ExitCode::FAILURE
        }
    }
}
