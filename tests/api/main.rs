//! Integration tests: the real `sfn-results` binary over HTTP against real AWS-API emulators.

mod cache;
mod compression;
mod conformance;
mod deadlines;
mod emulators;
mod events;
mod events_world;
mod executions;
mod express;
mod faults;
mod fleet;
mod helpers;
mod hostile;
mod lambda;
mod lambda_runtime;
mod listing;
mod logs;
mod meta;
mod metrics;
mod service;
mod soak;
mod steering;
mod upstream;
mod waiting;
mod webhooks;
mod workflows;
