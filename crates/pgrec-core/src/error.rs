//! Errors the core reports. The extension maps each variant to a SQLSTATE.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum CoreError {
    /// A hyper-parameter is unknown, of the wrong type or out of range.
    #[error("{message}")]
    InvalidParameter {
        name: String,
        message: String,
        hint: Option<String>,
    },
    /// The training data cannot be used (empty, NaN ratings, duplicates...).
    #[error("{message}")]
    InvalidData {
        message: String,
        hint: Option<String>,
    },
    /// The caller asked to stop (statement timeout, cancel request, ERROR).
    #[error("training was cancelled")]
    Cancelled,
}

impl CoreError {
    pub fn param(name: &str, message: impl Into<String>) -> Self {
        CoreError::InvalidParameter {
            name: name.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn param_hint(name: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        CoreError::InvalidParameter {
            name: name.to_string(),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn data(message: impl Into<String>, hint: Option<String>) -> Self {
        CoreError::InvalidData {
            message: message.into(),
            hint,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            CoreError::InvalidParameter { hint, .. } | CoreError::InvalidData { hint, .. } => {
                hint.as_deref()
            }
            CoreError::Cancelled => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, CoreError>;
