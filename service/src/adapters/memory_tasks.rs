//! Waiting tasks in memory, with Step Functions' callback rules, for router tests of the links:
//! a token is answered once; an answer to a task that is over is `TaskTimedOut`; an unknown
//! token `TaskDoesNotExist`; a callback can be made to fail for now (unreachable).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::domain::{CallbackError, TaskCallbacks};

/// An answer a task got: its output, or its error and cause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskAnswer {
    Success(String),
    Failure(String, String),
}

#[derive(Debug, Default)]
struct Tasks {
    /// Token -> the answer it got (`None` while it waits).
    waiting: HashMap<String, Option<TaskAnswer>>,
    /// Tokens of tasks that timed out.
    timed_out: Vec<String>,
    unavailable: bool,
    calls: usize,
}

#[derive(Debug, Default, Clone)]
pub struct InMemoryTasks(Arc<Mutex<Tasks>>);

impl InMemoryTasks {
    fn tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A task that waits for `token`'s answer.
    pub fn wait_for(&self, token: &str) {
        self.tasks().waiting.insert(token.to_owned(), None);
    }

    /// The task waiting for `token` times out.
    pub fn time_out(&self, token: &str) {
        let mut tasks = self.tasks();
        tasks.waiting.remove(token);
        tasks.timed_out.push(token.to_owned());
    }

    /// Callbacks fail as if Step Functions could not be reached.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.tasks().unavailable = unavailable;
    }

    pub fn answer(&self, token: &str) -> Option<TaskAnswer> {
        self.tasks().waiting.get(token).cloned().flatten()
    }

    pub fn calls(&self) -> usize {
        self.tasks().calls
    }

    fn send(&self, token: &str, answer: TaskAnswer) -> Result<(), CallbackError> {
        let mut tasks = self.tasks();
        tasks.calls += 1;
        if tasks.unavailable {
            return Err(CallbackError::Unavailable(
                "Step Functions unreachable (in-memory)".into(),
            ));
        }
        if tasks.timed_out.iter().any(|t| t == token) {
            return Err(CallbackError::TaskOver);
        }
        match tasks.waiting.get_mut(token) {
            None => Err(CallbackError::TaskNotFound),
            Some(Some(_)) => Err(CallbackError::TaskOver),
            Some(slot) => {
                *slot = Some(answer);
                Ok(())
            }
        }
    }
}

#[async_trait]
impl TaskCallbacks for InMemoryTasks {
    async fn succeed(&self, token: &str, output: &str) -> Result<(), CallbackError> {
        self.send(token, TaskAnswer::Success(output.to_owned()))
    }

    async fn fail(&self, token: &str, error: &str, cause: &str) -> Result<(), CallbackError> {
        self.send(
            token,
            TaskAnswer::Failure(error.to_owned(), cause.to_owned()),
        )
    }
}
