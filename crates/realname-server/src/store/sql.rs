//! The SQL shared by both engines, as a macro that implements [`super::Store`] for a pool type.
//!
//! The statements use only what SQLite and PostgreSQL both understand (`$n` parameters,
//! `RETURNING`, `ON CONFLICT`), so one text serves both and the test suite covers both.

use realname_protocol::api::{Decision, LivenessChallenge};

use super::{FaceSession, StoreError, parse_state, state_name};

/// Row form of [`FaceSession`] (state and JSON columns as text).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FaceSessionRow {
    pub id: String,
    pub version: i64,
    pub account_id: String,
    pub web_session_id: String,
    pub id_hash: Vec<u8>,
    pub id_enc: Vec<u8>,
    pub name_enc: Vec<u8>,
    pub method: String,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub handle_hash: Option<Vec<u8>>,
    pub handle_expires_at: i64,
    pub attempts_left: i64,
    pub device_id: Option<String>,
    pub device_name: Option<String>,
    pub station_code: Option<String>,
    pub claimed_at: Option<i64>,
    pub challenge: Option<String>,
    pub confirmed_at: Option<i64>,
    pub decided_at: Option<i64>,
    pub last_decision: Option<String>,
    pub failure_code: Option<String>,
}

impl TryFrom<FaceSessionRow> for FaceSession {
    type Error = StoreError;

    fn try_from(r: FaceSessionRow) -> Result<Self, StoreError> {
        let challenge: Option<LivenessChallenge> = r
            .challenge
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("challenge: {e}")))?;
        let last_decision: Option<Decision> = r
            .last_decision
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("decision: {e}")))?;
        Ok(FaceSession {
            id: r.id,
            version: r.version,
            account_id: r.account_id,
            web_session_id: r.web_session_id,
            id_hash: r.id_hash,
            id_enc: r.id_enc,
            name_enc: r.name_enc,
            method: r.method,
            state: parse_state(&r.state)?,
            created_at: r.created_at,
            expires_at: r.expires_at,
            handle_hash: r.handle_hash,
            handle_expires_at: r.handle_expires_at,
            attempts_left: r.attempts_left,
            device_id: r.device_id,
            device_name: r.device_name,
            station_code: r.station_code,
            claimed_at: r.claimed_at,
            challenge,
            confirmed_at: r.confirmed_at,
            decided_at: r.decided_at,
            last_decision,
            failure_code: r.failure_code.as_deref().map(super::FailureCode::parse).transpose()?,
        })
    }
}

/// JSON text of the optional columns.
pub(crate) fn session_json(s: &FaceSession) -> (&'static str, Option<String>, Option<String>) {
    (
        state_name(s.state),
        s.challenge.as_ref().and_then(|c| serde_json::to_string(c).ok()),
        s.last_decision.as_ref().and_then(|d| serde_json::to_string(d).ok()),
    )
}

pub(crate) const SESSION_COLUMNS: &str = "id, version, account_id, web_session_id, id_hash, id_enc, name_enc, method, state, \
     created_at, expires_at, handle_hash, handle_expires_at, attempts_left, device_id, device_name, \
     station_code, claimed_at, challenge, confirmed_at, decided_at, last_decision, failure_code";

pub(crate) const UPDATE_SESSION: &str = "UPDATE face_sessions SET version = version + 1, state = $3, \
     handle_hash = $4, handle_expires_at = $5, attempts_left = $6, device_id = $7, device_name = $8, \
     station_code = $9, claimed_at = $10, challenge = $11, confirmed_at = $12, decided_at = $13, \
     last_decision = $14, failure_code = $15, expires_at = $16 WHERE id = $1 AND version = $2";
