//! Typed server configuration: defaults, then a TOML file, then the environment.
//!
//! Every setting has a default so that `realname-server serve` works in an empty directory
//! (SQLite file and data key under `./data`, models under `./models`). Secrets are wrapped in
//! [`Secret`] so that `Debug` output (and therefore any log line) never shows them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use realname_protocol::api::LivenessAction;
use serde::{Deserialize, Serialize};

pub use crate::settings::{ConfigError, Secret};
use crate::settings::{EnvVar, env_var};

pub use crate::flows::face::authority::{AuthorityConfig, AuthorityKind};

pub use crate::flows::face::config::FaceConfig;

/// Lifetimes and attempt limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Lifetime of a QR handle, seconds (the page refreshes it before it runs out).
    pub qr_ttl_secs: i64,
    /// Lifetime of a face session from the identity form to the decision, seconds.
    pub session_ttl_secs: i64,
    /// Time from claiming a handle to the last capture, seconds (the challenge deadline).
    pub capture_window_secs: i64,
    /// Capture attempts per session.
    pub attempts_per_session: u32,
    /// Failed attempts per account per 24 h before a lockout.
    pub failures_per_account_per_day: u32,
    /// Failed attempts per ID number per 24 h before a lockout.
    pub failures_per_id_per_day: u32,
    /// Browser session lifetime, seconds.
    pub web_session_ttl_secs: i64,
    /// Companion access token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Companion refresh token lifetime, seconds.
    pub refresh_token_ttl_secs: i64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            qr_ttl_secs: 120,
            session_ttl_secs: 15 * 60,
            capture_window_secs: 180,
            attempts_per_session: 3,
            failures_per_account_per_day: 5,
            failures_per_id_per_day: 5,
            web_session_ttl_secs: 12 * 3600,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
        }
    }
}

pub use crate::flows::partner::{PartnerKind, PartnersConfig};

pub use crate::flows::mobile::config::{CarrierConfig, CarrierKind, SmsConfig, SmsKind};

/// Test-only settings. The server refuses to start with any of them unless `test_mode` is set
/// too (`REALNAME_TEST_MODE=1`), so a forgotten variable cannot weaken a production server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestConfig {
    /// Explicit test mode (`REALNAME_TEST_MODE=1`). Logged loudly at start.
    pub test_mode: bool,
    /// Pins the liveness challenge (`REALNAME_TEST_FIXED_CHALLENGE=blink,turn_left`).
    pub fixed_challenge: Option<Vec<LivenessAction>>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (`REALNAME_LISTEN`); port 0 picks a free port.
    pub listen: SocketAddr,
    /// Origin put into QR codes and links (`REALNAME_PUBLIC_URL`); defaults to the listen address.
    pub public_url: Option<String>,
    /// `sqlite://path` or `postgres://…` (`DATABASE_URL`); default `sqlite://<data_dir>/realname.db`.
    pub database_url: Option<Secret>,
    /// Directory for the SQLite file and the generated data key (`REALNAME_DATA_DIR`).
    pub data_dir: PathBuf,
    /// Face model weights (`REALNAME_MODELS_DIR`), default `<cwd>/models`.
    pub models_dir: PathBuf,
    /// 32-byte master key, 64 hex characters (`REALNAME_DATA_KEY`): AES-256-GCM for ID numbers
    /// and names at rest, HMAC-SHA256 for the ID number's unique hash.
    pub data_key: Option<Secret>,
    /// File holding the hex key (`REALNAME_DATA_KEY_FILE`); default `<data_dir>/data.key`,
    /// generated (mode 0600) on first run.
    pub data_key_file: Option<PathBuf>,
    /// Mark cookies `Secure` (default: when the public URL is https).
    pub secure_cookies: Option<bool>,
    /// Identity authority.
    pub authority: AuthorityConfig,
    /// Face decision.
    pub face: FaceConfig,
    /// Lifetimes and attempt limits.
    pub limits: LimitsConfig,
    /// Partner sync.
    pub partners: PartnersConfig,
    /// Carrier directory.
    pub carrier: CarrierConfig,
    /// SMS one-time codes.
    pub sms: SmsConfig,
    /// Signed webhooks for integrators (`[webhooks]`, `REALNAME_WEBHOOK_*`).
    pub webhooks: crate::webhooks::WebhooksConfig,
    /// E-mail confirmation at sign-up: outbox or SMTP (`[email]`, `REALNAME_EMAIL_*`).
    pub email: crate::email::EmailConfig,
    /// Token for the admin pages (`/admin/…`; `REALNAME_ADMIN_TOKEN`); without it they are off.
    /// Sent as `Authorization: Bearer <token>`, or typed once into `/admin/signin`.
    pub admin_token: Option<Secret>,
    /// Network settings (trusted reverse proxies).
    pub server: crate::http::security::NetworkConfig,
    /// Operations endpoints (`/metrics` token, readiness timeout).
    pub ops: crate::http::ops::OpsConfig,
    /// Rate limits per IP, account, ID number and device.
    pub rate_limits: crate::ratelimit::RateLimitConfig,
    /// Retention of audit frames and the purge job.
    pub retention: crate::retention::RetentionConfig,
    /// Test-only settings.
    pub test: TestConfig,
    /// Demo mode (`[demo]`, `REALNAME_DEMO`, `--demo`): demo identities, see [`crate::flows::face::demo`].
    pub demo: crate::flows::face::demo::DemoConfig,
}

impl Default for Config {
    fn default() -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            database_url: None,
            data_dir: cwd.join("data"),
            models_dir: cwd.join("models"),
            data_key: None,
            data_key_file: None,
            secure_cookies: None,
            authority: AuthorityConfig::default(),
            face: FaceConfig::default(),
            limits: LimitsConfig::default(),
            partners: PartnersConfig::default(),
            carrier: CarrierConfig::default(),
            sms: SmsConfig::default(),
            webhooks: crate::webhooks::WebhooksConfig::default(),
            email: crate::email::EmailConfig::default(),
            admin_token: None,
            server: crate::http::security::NetworkConfig::default(),
            ops: crate::http::ops::OpsConfig::default(),
            rate_limits: crate::ratelimit::RateLimitConfig::default(),
            retention: crate::retention::RetentionConfig::default(),
            test: TestConfig::default(),
            demo: crate::flows::face::demo::DemoConfig::default(),
        }
    }
}

impl Config {
    /// Defaults, overlaid with the TOML file (if any), overlaid with the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match file {
            Some(path) => Self::from_toml_file(path)?,
            None => Self::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file over the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.to_owned(), source })
    }

    /// Overlays environment variables read through `get` (injected for tests): [`ENV`], then
    /// each section's own table.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        crate::settings::apply_env(self, ENV, &get)?;
        self.webhooks.apply_env(&get)?;
        self.email.apply_env(&get)?;
        self.server.apply_env(&get)?;
        self.ops.apply_env(&get)?;
        self.rate_limits.apply_env(&get)?;
        self.retention.apply_env(&get)?;
        self.demo.apply_env(&get)?;
        Ok(())
    }

    /// Checks rules that span settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.test.fixed_challenge.is_some() && !self.test.test_mode {
            return Err(ConfigError::Invalid(
                "REALNAME_TEST_FIXED_CHALLENGE (test.fixed_challenge) is a test-only setting; \
                 the server refuses it unless REALNAME_TEST_MODE=1 (test.test_mode) is set too"
                    .into(),
            ));
        }
        // Test mode weakens the server (pinned challenges, second-long SMS lifetimes): only on
        // a loopback address, where no phone and no stranger can reach it.
        if self.test.test_mode && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid(format!(
                "REALNAME_TEST_MODE=1 (test.test_mode) is refused on {}: test mode runs only on a loopback \
                 address (127.0.0.1, ::1); unset it for a reachable server",
                self.listen
            )));
        }
        if let Some(actions) = &self.test.fixed_challenge
            && actions.is_empty()
        {
            return Err(ConfigError::Invalid("the fixed challenge has no actions".into()));
        }
        if self.authority.kind == AuthorityKind::Http && self.authority.url.is_none() {
            return Err(ConfigError::Invalid("authority.kind = \"http\" needs authority.url".into()));
        }
        if self.partners.kind == PartnerKind::Http
            && (self.partners.authorize_url.is_none()
                || self.partners.token_url.is_none()
                || self.partners.secret.is_none())
        {
            return Err(ConfigError::Invalid(
                "partners.kind = \"http\" needs partners.authorize_url, partners.token_url and partners.secret".into(),
            ));
        }
        if self.partners.name.trim().is_empty()
            || self.partners.name.chars().count() > 64
            || self.partners.code_ttl_secs < 1
            || self.partners.request_ttl_secs < 1
        {
            return Err(ConfigError::Invalid(
                "partners.name must have 1 to 64 characters and the partner lifetimes be positive".into(),
            ));
        }
        if self.carrier.kind == CarrierKind::Http && self.carrier.url.is_none() {
            return Err(ConfigError::Invalid("carrier.kind = \"http\" needs carrier.url".into()));
        }
        if self.sms.kind == SmsKind::Http && self.sms.url.is_none() {
            return Err(ConfigError::Invalid("sms.kind = \"http\" needs sms.url".into()));
        }
        if !self.sms.template.contains("{code}") {
            return Err(ConfigError::Invalid("sms.template must contain {code}".into()));
        }
        let min = if self.test.test_mode { 1 } else { 60 };
        if self.sms.code_ttl_secs < min || self.sms.resend_after_secs < min {
            return Err(ConfigError::Invalid(format!(
                "sms.code_ttl_secs and sms.resend_after_secs must be >= {min} (below 60 only in test mode)"
            )));
        }
        if self.sms.max_wrong_entries == 0 {
            return Err(ConfigError::Invalid("sms.max_wrong_entries must be >= 1".into()));
        }
        if !(1 <= self.face.min_actions && self.face.min_actions <= self.face.max_actions && self.face.max_actions <= 3)
        {
            return Err(ConfigError::Invalid(
                "face.min_actions and face.max_actions must satisfy 1 <= min <= max <= 3".into(),
            ));
        }
        if let Some(actions) = &self.test.fixed_challenge
            && actions.len() > 3
        {
            return Err(ConfigError::Invalid("the fixed challenge has more than 3 actions".into()));
        }
        if self.face.light_check && !(8..=128).contains(&self.face.max_light_frames) {
            return Err(ConfigError::Invalid("face.max_light_frames must be within 8..=128".into()));
        }
        if !(0.0..=2.0).contains(&self.face.match_threshold) {
            return Err(ConfigError::Invalid("face.match_threshold must be within 0..=2".into()));
        }
        if self.limits.qr_ttl_secs < 10 || self.limits.session_ttl_secs < self.limits.qr_ttl_secs {
            return Err(ConfigError::Invalid("limits.qr_ttl_secs must be >= 10 and <= limits.session_ttl_secs".into()));
        }
        if self.limits.attempts_per_session == 0 {
            return Err(ConfigError::Invalid("limits.attempts_per_session must be >= 1".into()));
        }
        // Bearer tokens guard the admin pages and the metrics: short ones can be guessed.
        for (token, name) in [
            (&self.admin_token, "REALNAME_ADMIN_TOKEN (admin_token)"),
            (&self.ops.metrics_token, "REALNAME_METRICS_TOKEN (ops.metrics_token)"),
        ] {
            if let Some(t) = token
                && t.expose().trim().chars().count() < crate::http::security::MIN_TOKEN_LEN
            {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be at least {} random characters; generate one with `openssl rand -hex 32`",
                    crate::http::security::MIN_TOKEN_LEN
                )));
            }
        }
        self.webhooks.validate()?;
        self.email.validate()?;
        self.server.validate()?;
        self.rate_limits.validate()?;
        self.demo.validate(self.authority.kind)?;
        if let Some(url) = &self.public_url {
            url::Url::parse(url).map_err(|e| ConfigError::Invalid(format!("public_url {url:?}: {e}")))?;
        }
        Ok(())
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("realname.db").display()),
        }
    }

    /// The data key file in effect.
    pub fn data_key_file(&self) -> PathBuf {
        self.data_key_file.clone().unwrap_or_else(|| self.data_dir.join("data.key"))
    }

    /// The origin for QR codes, given the address actually bound.
    pub fn public_origin(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

/// The environment variables of the top-level settings, in the order they are applied.
const ENV: &[EnvVar<Config>] = &[
    env_var!("REALNAME_LISTEN", |c, v| c.listen = v.parse()?),
    env_var!("REALNAME_PUBLIC_URL", |c, v| c.public_url = Some(v.text)),
    env_var!("DATABASE_URL", |c, v| c.database_url = Some(v.secret())),
    env_var!("REALNAME_DATA_DIR", |c, v| c.data_dir = v.path()),
    env_var!("REALNAME_MODELS_DIR", |c, v| c.models_dir = v.path()),
    env_var!("REALNAME_DATA_KEY", |c, v| c.data_key = Some(v.secret())),
    env_var!("REALNAME_DATA_KEY_FILE", |c, v| c.data_key_file = Some(v.path())),
    env_var!("REALNAME_SECURE_COOKIES", |c, v| c.secure_cookies = Some(v.bool()?)),
    env_var!("REALNAME_AUTHORITY_URL", |c, v| {
        c.authority.kind = AuthorityKind::Http;
        c.authority.url = Some(v.text);
    }),
    env_var!("REALNAME_AUTHORITY_API_KEY", |c, v| c.authority.api_key = Some(v.secret())),
    env_var!("REALNAME_MATCH_THRESHOLD", |c, v| c.face.match_threshold = v.parse()?),
    env_var!("REALNAME_DECISION_WORKERS", |c, v| c.face.decision_workers = v.parse()?),
    env_var!("REALNAME_DECISION_QUEUE", |c, v| c.face.decision_queue = v.parse()?),
    env_var!("REALNAME_FACE_LIGHT_CHECK", |c, v| c.face.light_check = v.bool()?),
    env_var!("REALNAME_FACE_SIMILARITY_REPLAY", |c, v| c.face.similarity_replay = v.bool()?),
    env_var!("REALNAME_QR_TTL_SECS", |c, v| c.limits.qr_ttl_secs = v.parse()?),
    env_var!("REALNAME_SESSION_TTL_SECS", |c, v| c.limits.session_ttl_secs = v.parse()?),
    env_var!("REALNAME_ATTEMPTS_PER_SESSION", |c, v| c.limits.attempts_per_session = v.parse()?),
    env_var!("REALNAME_PARTNER_AUTHORIZE_URL", |c, v| {
        c.partners.kind = PartnerKind::Http;
        c.partners.authorize_url = Some(v.text);
    }),
    env_var!("REALNAME_PARTNER_TOKEN_URL", |c, v| c.partners.token_url = Some(v.text)),
    env_var!("REALNAME_PARTNER_NAME", |c, v| c.partners.name = v.text),
    env_var!("REALNAME_PARTNER_SECRET", |c, v| c.partners.secret = Some(v.secret())),
    env_var!("REALNAME_CARRIER_URL", |c, v| {
        c.carrier.kind = CarrierKind::Http;
        c.carrier.url = Some(v.text);
    }),
    env_var!("REALNAME_CARRIER_API_KEY", |c, v| c.carrier.api_key = Some(v.secret())),
    env_var!("REALNAME_SMS_URL", |c, v| {
        c.sms.kind = SmsKind::Http;
        c.sms.url = Some(v.text);
    }),
    env_var!("REALNAME_SMS_API_KEY", |c, v| c.sms.api_key = Some(v.secret())),
    env_var!("REALNAME_SMS_TEMPLATE", |c, v| c.sms.template = v.text),
    env_var!("REALNAME_SMS_CODE_TTL_SECS", |c, v| c.sms.code_ttl_secs = v.parse()?),
    env_var!("REALNAME_SMS_RESEND_AFTER_SECS", |c, v| c.sms.resend_after_secs = v.parse()?),
    env_var!("REALNAME_SMS_PER_PHONE_PER_HOUR", |c, v| c.sms.per_phone_per_hour = v.parse()?),
    env_var!("REALNAME_SMS_PER_ACCOUNT_PER_HOUR", |c, v| c.sms.per_account_per_hour = v.parse()?),
    env_var!("REALNAME_SMS_PER_IP_PER_HOUR", |c, v| c.sms.per_ip_per_hour = v.parse()?),
    env_var!("REALNAME_ADMIN_TOKEN", |c, v| c.admin_token = Some(v.secret())),
    env_var!("REALNAME_TEST_MODE", |c, v| c.test.test_mode = v.bool()?),
    env_var!("REALNAME_TEST_FIXED_CHALLENGE", |c, v| c.test.fixed_challenge = Some(fixed_challenge(&v)?)),
];

/// `REALNAME_TEST_FIXED_CHALLENGE`: comma-separated liveness actions.
fn fixed_challenge(v: &crate::settings::EnvValue) -> Result<Vec<LivenessAction>, ConfigError> {
    v.text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| LivenessAction::parse(s).ok_or_else(|| v.invalid(format!("unknown action {s:?}"))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn environment_overrides_the_file_and_defaults() {
        let mut c: Config = toml::from_str("listen = \"0.0.0.0:9000\"\n[limits]\nqr_ttl_secs = 60\n").expect("toml");
        assert_eq!(c.limits.qr_ttl_secs, 60);
        assert_eq!(c.limits.attempts_per_session, 3);
        c.apply_env(env(&[("REALNAME_LISTEN", "127.0.0.1:0"), ("DATABASE_URL", "postgres://u:pw@h/db")])).expect("env");
        assert_eq!(c.listen.port(), 0);
        assert_eq!(c.database_url(), "postgres://u:pw@h/db");
        c.validate().expect("valid");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut c = Config::default();
        c.apply_env(env(&[("REALNAME_DATA_KEY", "00ff00ff"), ("DATABASE_URL", "postgres://u:hunter2@h/db")]))
            .expect("env");
        let text = format!("{c:?}");
        assert!(!text.contains("hunter2") && !text.contains("00ff00ff"), "{text}");
    }

    #[test]
    fn short_sms_lifetimes_need_test_mode_and_secrets_stay_hidden() {
        let mut c = Config::default();
        c.apply_env(env(&[
            ("REALNAME_SMS_CODE_TTL_SECS", "2"),
            ("REALNAME_PARTNER_AUTHORIZE_URL", "http://p/authorize"),
            ("REALNAME_PARTNER_TOKEN_URL", "http://p/token"),
            ("REALNAME_PARTNER_SECRET", "s3cr3t-value"),
        ]))
        .expect("env");
        assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))));
        c.apply_env(env(&[("REALNAME_TEST_MODE", "1")])).expect("env");
        c.validate().expect("valid in test mode");
        assert_eq!(c.sms.code_ttl_secs, 2);
        assert_eq!(c.partners.kind, PartnerKind::Http);
        assert!(!format!("{c:?}").contains("s3cr3t-value"));
        c.partners.secret = None;
        assert!(c.validate().is_err(), "an HTTP partner needs a signing secret");
    }

    #[test]
    fn a_fixed_challenge_needs_test_mode() {
        let mut c = Config::default();
        c.apply_env(env(&[("REALNAME_TEST_FIXED_CHALLENGE", "blink,turn_left")])).expect("env");
        assert!(matches!(c.validate(), Err(ConfigError::Invalid(_))));
        c.apply_env(env(&[("REALNAME_TEST_MODE", "1")])).expect("env");
        c.validate().expect("valid in test mode");
        assert_eq!(c.test.fixed_challenge, Some(vec![LivenessAction::Blink, LivenessAction::TurnLeft]));
        assert!(c.apply_env(env(&[("REALNAME_TEST_FIXED_CHALLENGE", "wink")])).is_err());
    }

    #[test]
    fn test_mode_runs_only_on_loopback_and_short_tokens_are_refused() {
        let mut c = Config::default();
        c.apply_env(env(&[("REALNAME_TEST_MODE", "1"), ("REALNAME_LISTEN", "0.0.0.0:8080")])).expect("env");
        let err = c.validate().expect_err("test mode on every interface");
        assert!(err.to_string().contains("loopback"), "{err}");
        c.apply_env(env(&[("REALNAME_LISTEN", "192.168.1.20:8080")])).expect("env");
        assert!(c.validate().is_err(), "test mode on a LAN address");
        c.apply_env(env(&[("REALNAME_LISTEN", "[::1]:8080")])).expect("env");
        c.validate().expect("test mode on ::1");
        c.apply_env(env(&[("REALNAME_LISTEN", "127.0.0.1:0")])).expect("env");
        c.validate().expect("test mode on 127.0.0.1");

        let mut c = Config::default();
        c.apply_env(env(&[("REALNAME_ADMIN_TOKEN", "admin-token-123")])).expect("env");
        let err = c.validate().expect_err("short admin token");
        assert!(err.to_string().contains("REALNAME_ADMIN_TOKEN") && err.to_string().contains("32"), "{err}");
        c.apply_env(env(&[("REALNAME_ADMIN_TOKEN", "7f3a9c1e5b2d48f6a0c9e1b7d3f5a2c4")])).expect("env");
        c.validate().expect("32 characters");
        c.apply_env(env(&[("REALNAME_METRICS_TOKEN", "scrape-me")])).expect("env");
        assert!(c.validate().expect_err("short metrics token").to_string().contains("REALNAME_METRICS_TOKEN"));
    }

    // The sections gathered here, read from the whole file (their own tests are beside them).
    #[test]
    fn endpoints_come_from_the_toml_file_and_the_environment_overrides_one() {
        let text = "[webhooks]\nmax_attempts = 4\nbackoff_base_ms = 500\n\n\
                    [[webhooks.endpoints]]\nname = \"crm\"\nurl = \"https://crm.example.com/h\"\nsecret = \"whsec_crm_0123456789\"\n\n\
                    [[webhooks.endpoints]]\nname = \"audit\"\nurl = \"http://10.0.0.5:9000/h\"\nsecret = \"whsec_audit_012345678\"\n";
        let mut c: Config = toml::from_str(text).expect("toml");
        assert_eq!(c.webhooks.max_attempts, 4);
        assert_eq!(c.webhooks.backoff_cap_ms, crate::webhooks::WebhooksConfig::default().backoff_cap_ms);
        let names: Vec<&str> = c.webhooks.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["crm", "audit"]);
        c.apply_env(|k| match k {
            "REALNAME_WEBHOOK_NAME" => Some("crm".into()),
            "REALNAME_WEBHOOK_URL" => Some("https://crm2.example.com/h".into()),
            _ => None,
        })
        .expect("env");
        c.validate().expect("valid");
        let crm = c.webhooks.endpoints.iter().find(|e| e.name == "crm").expect("crm");
        assert_eq!((crm.url.as_str(), crm.secret.expose()), ("https://crm2.example.com/h", "whsec_crm_0123456789"));
        assert_eq!(c.webhooks.endpoints.len(), 2);
        let debug = format!("{c:?}");
        assert!(!debug.contains("whsec_crm") && !debug.contains("whsec_audit"), "{debug}");
        assert!(toml::from_str::<Config>("[webhooks]\nretries = 3\n").is_err(), "unknown keys are refused");
    }

    #[test]
    fn the_retention_section_is_read_from_the_file() {
        let toml: Config = toml::from_str("[retention]\nframes_ttl_secs = 60\n").expect("toml");
        assert_eq!(toml.retention.frames_ttl_secs, Some(60));
    }
}
