//! `[carrier]` and `[sms]`: the mobile path's carrier directory and SMS gateway.

use serde::{Deserialize, Serialize};

use crate::settings::Secret;

/// Which carrier directory answers the three-element check (name, ID number, phone owner).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierKind {
    /// Records in the backend's database (filled by `carrier import`).
    #[default]
    Local,
    /// A carrier service over HTTP.
    Http,
}

/// Carrier directory settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CarrierConfig {
    /// `local` or `http`.
    pub kind: CarrierKind,
    /// Base URL of the HTTP carrier service (`{url}/v1/three-elements`).
    pub url: Option<String>,
    /// Bearer token for the HTTP carrier service.
    pub api_key: Option<Secret>,
    /// Per-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// Retries after a failed request (timeouts and 5xx only).
    pub retries: u32,
}

impl Default for CarrierConfig {
    fn default() -> Self {
        Self { kind: CarrierKind::Local, url: None, api_key: None, timeout_ms: 3000, retries: 2 }
    }
}

/// Which SMS gateway sends the one-time codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsKind {
    /// The local outbox in the database (read with `sms outbox` or `/admin/sms-outbox`).
    #[default]
    Outbox,
    /// An HTTP gateway.
    Http,
}

/// SMS one-time code settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `outbox` or `http`.
    pub kind: SmsKind,
    /// URL the HTTP gateway posts `{"to", "text"}` to.
    pub url: Option<String>,
    /// Bearer token for the HTTP gateway.
    pub api_key: Option<Secret>,
    /// Message text; `{code}` and `{minutes}` are replaced.
    pub template: String,
    /// Per-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// Lifetime of a code, seconds (below 60 only in test mode).
    pub code_ttl_secs: i64,
    /// A new code only this long after the last one, seconds (below 60 only in test mode).
    pub resend_after_secs: i64,
    /// Wrong entries allowed per code.
    pub max_wrong_entries: u32,
    /// Codes per phone number per hour.
    pub per_phone_per_hour: u32,
    /// Codes per account per hour.
    pub per_account_per_hour: u32,
    /// Codes per client IP per hour.
    pub per_ip_per_hour: u32,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            kind: SmsKind::Outbox,
            url: None,
            api_key: None,
            template: "【Realname】您的实名认证验证码为 {code}，{minutes} 分钟内有效，请勿泄露。Your verification code is {code}, valid for {minutes} minutes.".into(),
            timeout_ms: 5000,
            code_ttl_secs: 300,
            resend_after_secs: 60,
            max_wrong_entries: 5,
            per_phone_per_hour: 5,
            per_account_per_hour: 10,
            per_ip_per_hour: 20,
        }
    }
}
