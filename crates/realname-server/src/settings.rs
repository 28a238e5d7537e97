//! The building blocks of every configuration section, at the bottom of the server: [`Secret`],
//! [`ConfigError`] and the declarative environment table ([`EnvVar`], [`env_var!`], [`apply_env`]),
//! defined once in the `realname-settings` crate (the companion's configuration uses the same).
//!
//! Each feature defines its own section beside its code (`WebhooksConfig` in `webhooks.rs`, …)
//! and imports only this module; `config.rs` gathers the sections into `Config`.

pub use realname_settings::{ConfigError, EnvValue, EnvVar, Secret, apply_env, env_var};
