//! E-mail confirmation at sign-up: a single-use confirmation link (token stored hashed, with a
//! lifetime, bound to the account) sent through a [`Mailer`] — the local [`OutboxMailer`] QA
//! reads (`/admin/email-outbox`), or [`SmtpMailer`] (`lettre`, rustls) in production.
//!
//! Gating: an unconfirmed account may sign in and verify by face or mobile phone (those prove
//! the person directly); only partner sync needs a confirmed address, because there the
//! account is the thing a partner is asked about. A link confirms only when it is opened in a
//! browser signed in to the account it was sent for, so a victim clicking a link that an
//! attacker's sign-up sent them cannot confirm the attacker's account.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use realname_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::crypto::{self, DataKeys};
use crate::error::{ServerError, ServerResult};
use crate::settings::{ConfigError, Secret, env_var};
use crate::store::trust::{ConfirmOutcome, SendWindow};
use crate::store::{Account, Store, StoreError};

/// The confirmation link's path (`{origin}/account/confirm-email?token=…`).
pub const CONFIRM_PATH: &str = "/account/confirm-email";
/// Prefix of a confirmation token.
const TOKEN_PREFIX: &str = "rn_ec_";

/// How mail leaves the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailerKind {
    /// Stored in the local e-mail outbox (development, QA, tests).
    #[default]
    Outbox,
    /// Sent over SMTP.
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465).
    Tls,
    /// Plain connection upgraded with STARTTLS, required (port 587).
    #[default]
    Starttls,
    /// No TLS at all: only for a relay on the same host or a test server.
    None,
}

/// `[email]`: confirmation links and how they are sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailConfig {
    /// `outbox` or `smtp` (`REALNAME_EMAIL_KIND`).
    pub kind: MailerKind,
    /// Sender address (`REALNAME_EMAIL_FROM`).
    pub from: String,
    /// SMTP server host (`REALNAME_SMTP_HOST`).
    pub smtp_host: Option<String>,
    /// SMTP port (default by `smtp_tls`: 465 or 587; 25 without TLS).
    pub smtp_port: Option<u16>,
    /// SMTP user name (`REALNAME_SMTP_USERNAME`).
    pub smtp_username: Option<String>,
    /// SMTP password (`REALNAME_SMTP_PASSWORD`).
    pub smtp_password: Option<Secret>,
    /// `tls`, `starttls` or `none`.
    pub smtp_tls: SmtpTls,
    /// SMTP timeout, milliseconds.
    pub timeout_ms: u64,
    /// Lifetime of a confirmation link, seconds.
    pub confirm_ttl_secs: i64,
    /// Wait between two links to one account, seconds.
    pub resend_wait_secs: i64,
    /// Links per account per day.
    pub max_per_day: i64,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            kind: MailerKind::Outbox,
            from: "Realname <no-reply@realname.example>".into(),
            smtp_host: None,
            smtp_port: None,
            smtp_username: None,
            smtp_password: None,
            smtp_tls: SmtpTls::Starttls,
            timeout_ms: 10_000,
            confirm_ttl_secs: 86_400,
            resend_wait_secs: 60,
            max_per_day: 5,
        }
    }
}

/// The e-mail environment variables.
const ENV: &[crate::settings::EnvVar<EmailConfig>] = &[
    env_var!("REALNAME_EMAIL_KIND", |c, v| {
        c.kind = match v.text.as_str() {
            "outbox" => MailerKind::Outbox,
            "smtp" => MailerKind::Smtp,
            _ => return Err(ConfigError::Invalid("REALNAME_EMAIL_KIND must be outbox or smtp".into())),
        }
    }),
    env_var!("REALNAME_EMAIL_FROM", |c, v| c.from = v.text),
    env_var!("REALNAME_SMTP_HOST", |c, v| c.smtp_host = Some(v.text)),
    env_var!("REALNAME_SMTP_PORT", |c, v| {
        c.smtp_port =
            Some(v.text.parse().map_err(|_| ConfigError::Invalid("REALNAME_SMTP_PORT must be a port number".into()))?)
    }),
    env_var!("REALNAME_SMTP_USERNAME", |c, v| c.smtp_username = Some(v.text)),
    env_var!("REALNAME_SMTP_PASSWORD", |c, v| c.smtp_password = Some(v.secret())),
];

impl EmailConfig {
    /// Overlays `REALNAME_EMAIL_*` / `REALNAME_SMTP_*`.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        crate::settings::apply_env(self, ENV, get)
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.kind == MailerKind::Smtp && self.smtp_host.as_deref().is_none_or(str::is_empty) {
            return Err(ConfigError::Invalid("email.kind = \"smtp\" needs email.smtp_host".into()));
        }
        if self.kind == MailerKind::Smtp && self.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid("email.from is not a valid address".into()));
        }
        if self.confirm_ttl_secs < 60 || self.resend_wait_secs < 0 || self.max_per_day < 1 {
            return Err(ConfigError::Invalid(
                "email: confirm_ttl_secs ≥ 60, resend_wait_secs ≥ 0, max_per_day ≥ 1".into(),
            ));
        }
        Ok(())
    }
}

/// Why mail cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The transport failed (connection, TLS, SMTP answer).
    #[error("mail transport failed: {0}")]
    Transport(String),
    /// The address or message cannot be built.
    #[error("mail not sendable: {0}")]
    Message(String),
    /// Local storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stored data cannot be decrypted.
    #[error(transparent)]
    Crypto(#[from] crypto::CryptoError),
}

/// Sends one plain-text message.
#[async_trait]
pub trait Mailer: Send + Sync + std::fmt::Debug {
    /// Sends `body` with `subject` to `to`.
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError>;
}

/// The local outbox: messages are stored (encrypted) instead of sent.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    store: Arc<dyn Store>,
    keys: DataKeys,
    clock: Arc<dyn Clock>,
}

impl OutboxMailer {
    /// An outbox in `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys, clock: Arc<dyn Clock>) -> Self {
        Self { store, keys, clock }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        let text = format!("Subject: {subject}\n\n{body}");
        self.store
            .insert_email_outbox(
                &self.keys.encrypt(to.as_bytes()),
                &self.keys.encrypt(text.as_bytes()),
                self.clock.now(),
            )
            .await?;
        tracing::info!("e-mail stored in the local outbox");
        Ok(())
    }
}

/// SMTP through `lettre` (tokio, rustls with the webpki roots; no native TLS).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for the `[email]` settings.
    pub fn new(config: &EmailConfig) -> Result<Self, MailError> {
        use lettre::AsyncSmtpTransport;
        use lettre::transport::smtp::authentication::Credentials;
        let host = config.smtp_host.as_deref().unwrap_or_default();
        let builder = match config.smtp_tls {
            SmtpTls::Tls => AsyncSmtpTransport::<lettre::Tokio1Executor>::relay(host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
            SmtpTls::Starttls => AsyncSmtpTransport::<lettre::Tokio1Executor>::starttls_relay(host)
                .map_err(|e| MailError::Transport(e.to_string()))?,
            SmtpTls::None => AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host),
        };
        let port = config.smtp_port.unwrap_or(match config.smtp_tls {
            SmtpTls::Tls => 465,
            SmtpTls::Starttls => 587,
            SmtpTls::None => 25,
        });
        let mut builder = builder.port(port).timeout(Some(Duration::from_millis(config.timeout_ms)));
        if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        let from = config.from.parse().map_err(|e: lettre::address::AddressError| MailError::Message(e.to_string()))?;
        Ok(Self { transport: builder.build(), from })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), MailError> {
        use lettre::AsyncTransport as _;
        let to: lettre::message::Mailbox = to.parse().map_err(|_| MailError::Message("recipient address".into()))?;
        let message = lettre::Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(lettre::message::header::ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| MailError::Message(e.to_string()))?;
        self.transport.send(message).await.map_err(|e| MailError::Transport(e.to_string()))?;
        tracing::info!("e-mail sent over SMTP");
        Ok(())
    }
}

/// The mailer the configuration names.
pub fn mailer(
    config: &EmailConfig,
    store: &Arc<dyn Store>,
    keys: &DataKeys,
    clock: &Arc<dyn Clock>,
) -> Result<Arc<dyn Mailer>, MailError> {
    Ok(match config.kind {
        MailerKind::Outbox => Arc::new(OutboxMailer::new(Arc::clone(store), keys.clone(), Arc::clone(clock))),
        MailerKind::Smtp => Arc::new(SmtpMailer::new(config)?),
    })
}

/// A message of the local e-mail outbox, decrypted (for QA).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailOutboxEntry {
    /// Sequence number.
    pub id: i64,
    /// The address.
    pub to: String,
    /// `Subject: …` line, blank line, body.
    pub text: String,
    /// The confirmation link in the text, if any.
    pub link: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// The newest outbox messages, newest first, optionally only those to `to` (lower-cased).
pub async fn read_email_outbox(
    store: &dyn Store,
    keys: &DataKeys,
    to: Option<&str>,
    limit: i64,
) -> Result<Vec<EmailOutboxEntry>, MailError> {
    let wanted = to.map(|t| t.trim().to_lowercase());
    let mut out = Vec::new();
    // Filtering happens after decryption, so read a bounded window.
    for m in store.list_email_outbox(if wanted.is_some() { 1000 } else { limit.clamp(1, 1000) }).await? {
        let to = keys.decrypt_string(&m.to_enc)?;
        if wanted.as_ref().is_some_and(|w| *w != to) {
            continue;
        }
        let text = keys.decrypt_string(&m.body_enc)?;
        out.push(EmailOutboxEntry { id: m.id, link: link_in(&text), to, text, created_at: m.created_at });
        if out.len() as i64 >= limit {
            break;
        }
    }
    Ok(out)
}

/// The confirmation link in a message's text.
pub fn link_in(text: &str) -> Option<String> {
    text.split_whitespace().find(|w| w.contains(CONFIRM_PATH) && w.contains("token=")).map(str::to_owned)
}

/// E-mail confirmation links: sending, the resend wait, confirming (cheap to clone; put
/// together in `lib.rs`).
#[derive(Debug, Clone)]
pub struct Confirmations {
    store: Arc<dyn Store>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    origin: String,
    config: EmailConfig,
}

impl Confirmations {
    /// Confirmations sent through `mailer` with links to `origin`.
    pub fn new(
        store: Arc<dyn Store>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        origin: String,
        config: EmailConfig,
    ) -> Self {
        Self { store, mailer, clock, origin, config }
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether the account's e-mail address is confirmed.
    pub async fn email_confirmed(&self, account: &Account) -> ServerResult<bool> {
        Ok(self.store.email_confirmed_at(&account.id).await?.is_some())
    }

    /// Sends a confirmation link to the account's address, within the resend wait and the
    /// daily number.
    pub async fn send_confirmation(&self, account: &Account) -> ServerResult<()> {
        let cfg = &self.config;
        let now = self.now();
        let token = crypto::random_token(TOKEN_PREFIX);
        let window =
            SendWindow { none_after: now - cfg.resend_wait_secs, count_after: now - 86_400, max: cfg.max_per_day };
        let stored = self
            .store
            .insert_email_confirmation(
                &crypto::token_hash(&token),
                &account.id,
                now,
                now + cfg.confirm_ttl_secs,
                window,
            )
            .await?;
        if !stored {
            let wait = match self.store.last_email_confirmation(&account.id).await? {
                Some(last) if last + cfg.resend_wait_secs > now => last + cfg.resend_wait_secs - now,
                _ => 0,
            };
            let err = ServerError::new(
                ErrorCode::EmailResendTooEarly,
                "A confirmation e-mail was sent moments ago (or too many today). Please wait before asking again.",
            );
            return Err(if wait > 0 { err.with_detail(format!("retry_after={wait}")) } else { err });
        }
        let link = format!("{}{CONFIRM_PATH}?token={token}", self.origin);
        let hours = (cfg.confirm_ttl_secs + 3599) / 3600;
        let body = format!(
            "请点击以下链接确认您的邮箱（{hours} 小时内有效，需在已登录该账号的浏览器中打开）：\n\
             Confirm your e-mail address with this link (valid for {hours} h; open it in a browser signed in to the account):\n\n\
             {link}\n\n\
             如果您没有注册实名认证中心账号，请忽略本邮件。 If you did not create a Realname account, ignore this message.\n"
        );
        self.mailer
            .send(&account.email, "实名认证中心：确认您的邮箱 / Realname: confirm your e-mail", &body)
            .await
            .map_err(|e| {
                ServerError::unavailable(
                    ErrorCode::EmailUnavailable,
                    "The confirmation e-mail could not be sent. Please try again later.",
                    e,
                )
            })?;
        tracing::info!(account = %account.id, "confirmation e-mail sent");
        Ok(())
    }

    /// A confirmation link opened by the signed-in `account`: confirms it once; another
    /// account's, a used or an unknown link all give `email_token_invalid`.
    pub async fn confirm_email(&self, account: &Account, token: &str) -> ServerResult<()> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
            return Err(token_invalid());
        }
        match self.store.confirm_email(&crypto::token_hash(token), &account.id, self.now()).await? {
            ConfirmOutcome::Confirmed => {
                tracing::info!(account = %account.id, "e-mail confirmed");
                Ok(())
            }
            ConfirmOutcome::Expired => Err(ServerError::new(
                ErrorCode::EmailTokenExpired,
                "This confirmation link has expired. Ask for a new one.",
            )),
            ConfirmOutcome::Invalid => Err(token_invalid()),
        }
    }
}

fn token_invalid() -> ServerError {
    ServerError::new(
        ErrorCode::EmailTokenInvalid,
        "This confirmation link is not valid for the account you are signed in to, or was used already.",
    )
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;

    /// A minimal plain SMTP server on port 0 that accepts one message and hands it back.
    async fn smtp_sink() -> (u16, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.expect("accept");
            let (read, mut write) = socket.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 sink ESMTP\r\n").await.expect("greet");
            let (mut data, mut in_data, mut transcript) = (String::new(), false, String::new());
            while let Ok(Some(line)) = lines.next_line().await {
                if in_data {
                    if line == "." {
                        in_data = false;
                        write.write_all(b"250 queued\r\n").await.expect("write");
                    } else {
                        data.push_str(&line);
                        data.push('\n');
                    }
                    continue;
                }
                transcript.push_str(&line);
                transcript.push('\n');
                let upper = line.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-sink\r\n250 AUTH PLAIN LOGIN\r\n"
                } else if upper.starts_with("DATA") {
                    in_data = true;
                    b"354 go ahead\r\n"
                } else if upper.starts_with("QUIT") {
                    write.write_all(b"221 bye\r\n").await.expect("write");
                    break;
                } else if upper.starts_with("AUTH") {
                    b"235 ok\r\n"
                } else {
                    b"250 ok\r\n"
                };
                write.write_all(reply).await.expect("write");
            }
            let _ = tx.send(format!("{transcript}\n{data}"));
        });
        (port, rx)
    }

    #[tokio::test]
    async fn the_smtp_adapter_delivers_with_authentication() {
        let (port, rx) = smtp_sink().await;
        let config = EmailConfig {
            kind: MailerKind::Smtp,
            from: "Realname <no-reply@example.com>".into(),
            smtp_host: Some("127.0.0.1".into()),
            smtp_port: Some(port),
            smtp_username: Some("mailer".into()),
            smtp_password: Some(Secret::new("smtp-pass-word")),
            smtp_tls: SmtpTls::None,
            ..EmailConfig::default()
        };
        config.validate().expect("valid");
        assert!(!format!("{config:?}").contains("smtp-pass-word"), "the password is redacted");
        let mailer = SmtpMailer::new(&config).expect("mailer");
        mailer
            .send("person@example.com", "Confirm", "open http://x/account/confirm-email?token=rn_ec_abc")
            .await
            .expect("sent");
        let got = tokio::time::timeout(Duration::from_secs(10), rx).await.expect("in time").expect("message");
        assert!(
            got.contains("MAIL FROM:<no-reply@example.com>") && got.contains("RCPT TO:<person@example.com>"),
            "{got}"
        );
        assert!(got.contains("AUTH"), "credentials are used: {got}");
        assert!(got.contains("token=rn_ec_abc"), "{got}");
    }

    #[test]
    fn smtp_needs_a_host_and_links_are_found() {
        let c = EmailConfig { kind: MailerKind::Smtp, ..EmailConfig::default() };
        assert!(c.validate().is_err());
        assert_eq!(
            link_in("x\n\nhttp://h/account/confirm-email?token=rn_ec_1\n\ny").as_deref(),
            Some("http://h/account/confirm-email?token=rn_ec_1")
        );
        assert_eq!(link_in("no link"), None);
    }
}
