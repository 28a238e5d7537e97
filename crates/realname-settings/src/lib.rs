//! The building blocks of every configuration, shared by the server and the companion:
//! [`Secret`], [`ConfigError`] and the declarative environment table ([`EnvVar`], [`env_var!`],
//! [`apply_env`]).
//!
//! Each configuration section lists its `REALNAME_*` variables once, as a table of
//! [`env_var!`] rows; [`apply_env`] applies the ones that are set. *Invariants:* no I/O besides
//! what the caller passes in (the variables come through a `get` function, so tests inject
//! them); a [`Secret`] never shows its value in `Debug` or `Display`.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A secret string: readable with [`Secret::expose`], redacted in `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Redacted too: a secret formatted into a message or log line by mistake shows nothing.
impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML file is malformed.
    #[error("invalid config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: toml::de::Error,
    },
    /// An environment variable has an unusable value.
    #[error("invalid value of {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The settings contradict each other or a rule.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The value of one set environment variable, with its name for error messages.
#[derive(Debug)]
pub struct EnvValue {
    /// The variable's name.
    pub var: &'static str,
    /// Its value as read.
    pub text: String,
}

impl EnvValue {
    /// The value parsed (surrounding spaces ignored).
    pub fn parse<T: std::str::FromStr>(&self) -> Result<T, ConfigError>
    where
        T::Err: fmt::Display,
    {
        self.text.trim().parse().map_err(|e: T::Err| self.invalid(e.to_string()))
    }

    /// `1/true/yes/on` or `0/false/no/off/` (any case).
    pub fn bool(&self) -> Result<bool, ConfigError> {
        match self.text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            other => Err(self.invalid(format!("expected a boolean, got {other:?}"))),
        }
    }

    /// The value as a secret.
    pub fn secret(self) -> Secret {
        Secret::new(self.text)
    }

    /// The value as a path.
    pub fn path(self) -> PathBuf {
        PathBuf::from(self.text)
    }

    /// A [`ConfigError::Env`] naming this variable.
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::Env { var: self.var, reason: reason.into() }
    }
}

/// One row of an environment table: a variable's name and what it sets in a section `C`.
#[derive(Debug)]
pub struct EnvVar<C> {
    /// The variable's name (`REALNAME_…`).
    pub name: &'static str,
    /// Applies a set value.
    pub set: fn(&mut C, EnvValue) -> Result<(), ConfigError>,
}

/// A row of an environment table: `env_var!("REALNAME_X", |c, v| c.x = v.parse()?)`.
#[macro_export]
macro_rules! env_var {
    ($name:literal, |$c:ident, $v:ident| $body:expr) => {
        $crate::EnvVar {
            name: $name,
            set: |$c, $v| {
                $body;
                Ok(())
            },
        }
    };
}

/// Applies every variable of `table` that `get` finds, in table order.
pub fn apply_env<C>(
    section: &mut C,
    table: &[EnvVar<C>],
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    for row in table {
        if let Some(text) = get(row.name) {
            (row.set)(section, EnvValue { var: row.name, text })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Section {
        n: u32,
        on: bool,
        key: Option<Secret>,
    }

    const TABLE: &[EnvVar<Section>] = &[
        env_var!("N", |c, v| c.n = v.parse()?),
        env_var!("ON", |c, v| c.on = v.bool()?),
        env_var!("KEY", |c, v| c.key = Some(v.secret())),
    ];

    #[test]
    fn a_table_sets_what_is_present_and_names_the_bad_variable() {
        let mut s = Section::default();
        apply_env(&mut s, TABLE, &|k| match k {
            "N" => Some(" 7 ".into()),
            "KEY" => Some("k".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!((s.n, s.on, s.key.as_ref().map(Secret::expose)), (7, false, Some("k")));
        let err = apply_env(&mut s, TABLE, &|k| (k == "ON").then(|| "maybe".into())).expect_err("not a boolean");
        assert!(matches!(err, ConfigError::Env { var: "ON", .. }), "{err:?}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<redacted>");
        assert_eq!(format!("{}", Secret::new("hunter2")), "<redacted>");
    }
}
