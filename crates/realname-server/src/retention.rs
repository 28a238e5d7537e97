//! Retention: what is kept, for how long, and the purge that deletes it afterwards.
//!
//! Uploaded face frames live only in memory for the request that decides on them; nothing
//! writes them to the database or to disk unless `retention.frames_ttl_secs` is set. Then the
//! frames of each decided capture are kept AES-256-GCM encrypted (for audit) until the TTL
//! passes. The purge job ([`purge_loop`] in the server, `realname-server purge` by hand)
//! deletes those frames, used liveness nonces and frame fingerprints older than their TTL, and
//! expired browser sessions and companion tokens.

use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::crypto::DataKeys;
use crate::settings::env_var;
use crate::state::AppState;
use crate::store::Store;
use crate::store::StoreError;
use crate::store::maintenance::{PurgeCutoffs, PurgeReport};

/// Retention settings (`[retention]` in the TOML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Keep the frames of each decided capture this long for audit (`REALNAME_FRAMES_TTL_SECS`).
    /// `None` (the default): frames are never stored and are gone when the decision is made.
    pub frames_ttl_secs: Option<u64>,
    /// Seconds between two runs of the purge job in the server; 0 turns the job off
    /// (`REALNAME_PURGE_INTERVAL_SECS`).
    pub purge_interval_secs: u64,
    /// Used liveness nonces are kept this long (at least the face session lifetime, so a nonce
    /// cannot be used twice while its session lives).
    pub nonce_ttl_secs: u64,
    /// Liveness frame fingerprints (replay protection across sessions) are kept this long.
    pub frame_print_ttl_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            frames_ttl_secs: None,
            purge_interval_secs: 600,
            nonce_ttl_secs: 24 * 3600,
            frame_print_ttl_secs: 30 * 24 * 3600,
        }
    }
}

impl RetentionConfig {
    /// Overlays `REALNAME_FRAMES_TTL_SECS` (empty or `off`: no retention) and
    /// `REALNAME_PURGE_INTERVAL_SECS`.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), crate::settings::ConfigError> {
        crate::settings::apply_env(self, ENV, get)
    }
}

/// The retention environment variables.
const ENV: &[crate::settings::EnvVar<RetentionConfig>] = &[
    env_var!("REALNAME_FRAMES_TTL_SECS", |c, v| {
        c.frames_ttl_secs = match v.text.trim() {
            "" | "off" => None,
            _ => Some(v.parse()?),
        }
    }),
    env_var!("REALNAME_PURGE_INTERVAL_SECS", |c, v| c.purge_interval_secs = v.parse()?),
];

/// Frames of one capture held back for audit (only when retention is on).
#[derive(Debug, Default)]
pub struct AuditFrames(Option<Vec<Bytes>>);

impl AuditFrames {
    /// Keeps a reference to the uploaded bytes if retention is on (no copy: `Bytes` is shared).
    pub fn keep<'a>(config: &RetentionConfig, frames: impl IntoIterator<Item = &'a Bytes>) -> Self {
        Self(config.frames_ttl_secs.map(|_| frames.into_iter().cloned().collect()))
    }

    /// Stores the frames, encrypted, until the TTL passes. A failure is logged, not returned:
    /// the decision has been made and stands.
    pub async fn store(self, store: &dyn Store, keys: &DataKeys, config: &RetentionConfig, now: i64, session_id: &str) {
        let (Some(frames), Some(ttl)) = (self.0, config.frames_ttl_secs) else { return };
        let sealed: Vec<Vec<u8>> = frames.iter().map(|f| keys.encrypt(f)).collect();
        let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        if let Err(e) = store.insert_audit_frames(session_id, &sealed, now, expires_at).await {
            tracing::error!(session = %session_id, error = %e, "could not keep the frames for audit");
        }
    }
}

/// Reads back the frames kept for a session (audit), decrypted, oldest first.
pub async fn audit_frames_of(store: &dyn Store, keys: &DataKeys, session_id: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    store
        .audit_frames_of(session_id)
        .await?
        .iter()
        .map(|f| keys.decrypt(f).map_err(|_| StoreError::Corrupt("audit frame does not open with the data key".into())))
        .collect()
}

/// The purge cut-offs for `now` under `config` (`session_ttl_secs`: the face session lifetime).
pub fn cutoffs(config: &RetentionConfig, session_ttl_secs: i64, now: i64) -> PurgeCutoffs {
    let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    PurgeCutoffs {
        now,
        nonces_before: now.saturating_sub(secs(config.nonce_ttl_secs).max(session_ttl_secs)),
        frame_prints_before: now.saturating_sub(secs(config.frame_print_ttl_secs)),
    }
}

/// Runs one purge of `store` now (the admin command): `config` is the `[retention]` section,
/// `session_ttl_secs` the face sessions' lifetime (`limits.session_ttl_secs`).
pub async fn purge_store(
    store: &dyn Store,
    config: &RetentionConfig,
    session_ttl_secs: i64,
    now: i64,
) -> Result<PurgeReport, StoreError> {
    let report = store.purge(cutoffs(config, session_ttl_secs, now)).await?;
    // Rate-limit windows that have ended are never read again.
    let rate_limit_windows = store.purge_rate_limits(now).await?;
    tracing::info!(?report, rate_limit_windows, "purge done");
    Ok(report)
}

/// Runs one purge now (the server's job).
pub async fn purge(state: &AppState) -> Result<PurgeReport, StoreError> {
    let config = &state.config;
    purge_store(&*state.store, &config.retention, config.limits.session_ttl_secs, state.now()).await
}

/// The purge job: one purge every `purge_interval_secs` until the server shuts down.
pub async fn purge_loop(state: AppState) {
    let secs = state.config.retention.purge_interval_secs;
    if secs == 0 {
        return;
    }
    let mut shutdown = state.shutdown.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(secs));
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = purge(&state).await {
                    tracing::warn!(error = %e, "purge failed; trying again at the next interval");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_ttl_comes_from_the_environment_and_can_be_turned_off() {
        let mut c = RetentionConfig::default();
        assert_eq!(c.frames_ttl_secs, None, "off by default");
        c.apply_env(&|v: &str| (v == "REALNAME_FRAMES_TTL_SECS").then(|| " 3600 ".to_owned())).expect("env");
        assert_eq!(c.frames_ttl_secs, Some(3600));
        c.apply_env(&|v: &str| (v == "REALNAME_FRAMES_TTL_SECS").then(|| "off".to_owned())).expect("env");
        assert_eq!(c.frames_ttl_secs, None);
        assert!(c.apply_env(&|v: &str| (v == "REALNAME_PURGE_INTERVAL_SECS").then(|| "soon".to_owned())).is_err());
    }

    #[test]
    fn nonces_are_kept_at_least_as_long_as_a_session_lives() {
        let c = RetentionConfig { nonce_ttl_secs: 10, ..RetentionConfig::default() };
        let cut = cutoffs(&c, 900, 10_000);
        assert_eq!(cut.nonces_before, 10_000 - 900);
        assert_eq!(cut.frame_prints_before, 10_000 - 30 * 24 * 3600);
        assert_eq!(cut.now, 10_000);
    }
}
