//! Wires configuration, telemetry and SDK clients, then serves under Lambda or locally.

use std::process::ExitCode;
use std::sync::Arc;

use sfn_results::adapters::{aws, DynamoDbStore, StepFunctions};
use sfn_results::config::{Config, EntryPoint};
use sfn_results::domain::ReconcileBudget;
use sfn_results::events::{deliveries, EventsApp};
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
    let store = Arc::new(DynamoDbStore::new(&sdk, &config.results_table));
    let ports = Ports {
        source: sfn.clone(),
        starter: sfn.clone(),
        control: sfn.clone(),
        history: sfn.clone(),
        callbacks: sfn.clone(),
        lister: sfn,
        store: store.clone(),
        links: store,
    };
    let webhooks = match sfn_results::webhooks(&sdk, &config) {
        Ok(webhooks) => webhooks,
        Err(err) => {
            eprintln!("sfn-results: {err}");
            return ExitCode::FAILURE;
        }
    };
    let notifier = webhooks.as_ref().map(|(notifier, _)| notifier.clone());
    let state = AppState::with_notifier(&config, ports, notifier);
    let events = EventsApp {
        results: state.results.clone(),
        allowed: config.allowed_state_machines.clone(),
        reconcile_machines: config.reconcile_machines.clone(),
        reconcile: ReconcileBudget {
            describes: config.reconcile_describes,
            ..ReconcileBudget::default()
        },
    };
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let entry_name = match config.entry {
        EntryPoint::Http => "http",
        EntryPoint::Events => "events",
        EntryPoint::Deliveries => "deliveries",
    };
    sfn_results::emf::init(entry_name, (!on_lambda).then_some(config.metrics_every));
    let served = match (on_lambda, config.entry, webhooks) {
        (true, EntryPoint::Http, _) => server::run_lambda(router(state), events.results).await,
        (true, EntryPoint::Events, _) => server::run_events_lambda(events).await,
        (true, EntryPoint::Deliveries, Some((notifier, queue))) => {
            deliveries::run_lambda(notifier, queue).await
        }
        (true, EntryPoint::Deliveries, None) => {
            Err("_HANDLER=deliveries needs WEBHOOKS_TABLE and DELIVERY_QUEUE_URL".into())
        }
        // Locally one process does it all: the API, reconcile on a timer, the delivery worker.
        (false, _, webhooks) => {
            if let Some((notifier, queue)) = webhooks {
                tokio::spawn(deliveries::run_local(notifier, queue));
            }
            if let Some(every) = config.reconcile_every {
                tokio::spawn(server::reconcile_every(events, every));
            }
            server::run_local(router(state), config.listen_addr)
                .await
                .map_err(Into::into)
        }
    }
    .map_err(|e| e.to_string());
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "server stopped");
            eprintln!("sfn-results: {err}");
            ExitCode::FAILURE
        }
    }
}
