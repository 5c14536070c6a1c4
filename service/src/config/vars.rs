//! Reading environment variables: present values, bounded numbers, flags, and the error that
//! names the variable.

use super::ConfigError;

/// An error naming `variable`.
pub(super) fn fail(variable: &'static str, problem: String) -> ConfigError {
    ConfigError { variable, problem }
}

/// The environment as a lookup; a blank value counts as unset.
pub(super) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { lookup }
    }

    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// A whole number in `range`, or `default` when unset.
    pub(super) fn number(
        &self,
        variable: &'static str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        match self.get(variable) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    fail(
                        variable,
                        format!(
                            "{v:?} is not a whole number from {} to {}",
                            range.start(),
                            range.end()
                        ),
                    )
                }),
        }
    }

    /// `true` or `false`; unset is `false`.
    pub(super) fn flag(&self, variable: &'static str) -> Result<bool, ConfigError> {
        match self.get(variable).as_deref().map(str::trim) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(fail(variable, format!("{other:?} is not true or false"))),
        }
    }

    /// A comma-separated list, blanks dropped; empty when unset.
    pub(super) fn list(&self, variable: &str) -> Vec<String> {
        self.get(variable)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}
