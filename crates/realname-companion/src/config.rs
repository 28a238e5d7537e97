//! Typed companion configuration: defaults → TOML file → environment.
//!
//! The most important setting is the list of trusted backend origins: a QR code that points
//! anywhere else is refused before anything is sent (see [`TrustedOrigins`]).

use std::path::{Path, PathBuf};

use realname_settings::{ConfigError, EnvVar, env_var};
use serde::{Deserialize, Serialize};

use crate::error::CompanionError;

/// Personal app (signed in to one account) or kiosk station (registered device).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A person's own app, signed in with e-mail and password.
    #[default]
    Personal,
    /// An attended station with a station credential; people type the PC's code.
    Kiosk,
}

/// UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Language {
    /// Simplified Chinese.
    #[serde(rename = "zh-CN")]
    ZhCn,
    /// English.
    #[default]
    #[serde(rename = "en")]
    En,
}

impl Language {
    /// Parses `zh-CN`/`zh`/`en`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "zh-cn" | "zh" | "zh_cn" => Some(Self::ZhCn),
            "en" | "en-us" | "en-gb" => Some(Self::En),
            _ => None,
        }
    }
}

/// Where credentials are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialStoreKind {
    /// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
    #[default]
    Keyring,
    /// The Linux kernel key retention service (session keyring; gone at log-out).
    Keyutils,
    /// A JSON file with mode 0600 (machines without a keyring service: CI, kiosks).
    File,
}

impl CredentialStoreKind {
    /// Parses `keyring`, `keyutils`, `file`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "keyring" => Some(Self::Keyring),
            "keyutils" => Some(Self::Keyutils),
            "file" => Some(Self::File),
            _ => None,
        }
    }
}

/// The whole companion configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompanionConfig {
    /// Backend origins this app trusts (`https://verify.example.com`); QR codes naming any
    /// other origin are refused. `REALNAME_TRUSTED_ORIGINS` (comma-separated).
    pub trusted_origins: Vec<String>,
    /// The server used by commands that do not start from a QR (`login`, `whoami`); defaults
    /// to the first trusted origin. `REALNAME_SERVER`.
    pub server: Option<String>,
    /// Personal or kiosk. `REALNAME_MODE`.
    pub mode: Mode,
    /// Camera source spec (see `realname_scan::spec`). `REALNAME_CAMERA`.
    pub camera: String,
    /// UI language. `REALNAME_LANG`.
    pub language: Language,
    /// Credential store. `REALNAME_CREDENTIAL_STORE` (`keyring`, `keyutils`, `file`).
    pub credential_store: CredentialStoreKind,
    /// File for the `file` store. `REALNAME_CREDENTIAL_FILE`.
    pub credential_file: Option<PathBuf>,
    /// Face model weights for live feedback. `REALNAME_MODELS_DIR`.
    pub models_dir: Option<PathBuf>,
    /// Device name shown on the PC page. `REALNAME_DEVICE_NAME`.
    pub device_name: Option<String>,
    /// HTTP timeout per request, seconds.
    pub http_timeout_secs: u64,
    /// Longest time to look for a QR code, seconds.
    pub scan_timeout_secs: u64,
}

impl Default for CompanionConfig {
    fn default() -> Self {
        Self {
            trusted_origins: Vec::new(),
            server: None,
            mode: Mode::Personal,
            camera: "webcam:0".into(),
            language: Language::En,
            credential_store: CredentialStoreKind::Keyring,
            credential_file: None,
            models_dir: None,
            device_name: None,
            http_timeout_secs: 30,
            scan_timeout_secs: 120,
        }
    }
}

impl CompanionConfig {
    /// The default config file (`~/.config/realname/companion.toml` on Linux).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "realname").map(|d| d.config_dir().join("companion.toml"))
    }

    /// Defaults, then `file` (or `REALNAME_COMPANION_CONFIG`, or the default path when it
    /// exists), then the process environment.
    ///
    /// # Errors
    /// [`CompanionError::Config`] for an unreadable or malformed file or variable.
    pub fn load(file: Option<&Path>) -> Result<Self, CompanionError> {
        let env_file = std::env::var_os("REALNAME_COMPANION_CONFIG").map(PathBuf::from);
        let path = file.map(Path::to_path_buf).or(env_file);
        let mut config = match path {
            Some(p) => Self::from_toml_file(&p)?,
            None => match Self::default_path().filter(|p| p.is_file()) {
                Some(p) => Self::from_toml_file(&p)?,
                None => Self::default(),
            },
        };
        config.apply_env(|k| std::env::var(k).ok())?;
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML file over the defaults.
    ///
    /// # Errors
    /// [`CompanionError::Config`].
    pub fn from_toml_file(path: &Path) -> Result<Self, CompanionError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CompanionError::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| CompanionError::Config(format!("{}: {e}", path.display())))
    }

    /// Overlays environment variables read through `get` (injected in tests).
    ///
    /// # Errors
    /// [`CompanionError::Config`] naming the variable.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), CompanionError> {
        realname_settings::apply_env(self, ENV, &get).map_err(config_error)
    }

    /// Checks the origins and the camera spec.
    ///
    /// # Errors
    /// [`CompanionError::Config`].
    pub fn validate(&self) -> Result<(), CompanionError> {
        TrustedOrigins::new(&self.trusted_origins)?;
        if let Some(server) = &self.server {
            normalise_origin(server)?;
        }
        Ok(())
    }

    /// The trusted origins, normalised.
    ///
    /// # Errors
    /// [`CompanionError::Config`] for a malformed origin.
    pub fn trusted(&self) -> Result<TrustedOrigins, CompanionError> {
        TrustedOrigins::new(&self.trusted_origins)
    }

    /// The server for commands that do not start from a QR.
    ///
    /// # Errors
    /// [`CompanionError::Config`] when neither `server` nor a trusted origin is set.
    pub fn server_origin(&self) -> Result<String, CompanionError> {
        match (&self.server, self.trusted_origins.first()) {
            (Some(s), _) | (None, Some(s)) => normalise_origin(s),
            (None, None) => Err(CompanionError::Config(
                "no server configured: set REALNAME_SERVER or REALNAME_TRUSTED_ORIGINS (or --server)".into(),
            )),
        }
    }

    /// The credential file for the `file` store (`~/.local/share/realname/credentials.json`).
    pub fn credential_file(&self) -> PathBuf {
        self.credential_file.clone().unwrap_or_else(|| {
            directories::ProjectDirs::from("", "", "realname")
                .map(|d| d.data_dir().join("credentials.json"))
                .unwrap_or_else(|| PathBuf::from(".realname-credentials.json"))
        })
    }

    /// The name this device reports (config, else the host name).
    pub fn device_name(&self) -> String {
        self.device_name.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "realname-cli".into())
        })
    }
}

/// The companion's environment variables, applied in this order over the file's values.
const ENV: &[EnvVar<CompanionConfig>] = &[
    env_var!("REALNAME_TRUSTED_ORIGINS", |c, v| {
        c.trusted_origins = v.text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
    }),
    env_var!("REALNAME_SERVER", |c, v| c.server = Some(v.text.trim().to_owned())),
    env_var!("REALNAME_MODE", |c, v| {
        c.mode = match v.text.trim() {
            "personal" => Mode::Personal,
            "kiosk" | "station" => Mode::Kiosk,
            other => return Err(v.invalid(format!("unknown mode {other:?}"))),
        }
    }),
    env_var!("REALNAME_CAMERA", |c, v| c.camera = v.text),
    env_var!("REALNAME_LANG", |c, v| {
        c.language = Language::parse(&v.text).ok_or_else(|| v.invalid(format!("unknown language {:?}", v.text)))?
    }),
    env_var!("REALNAME_CREDENTIAL_STORE", |c, v| {
        c.credential_store = CredentialStoreKind::parse(&v.text)
            .ok_or_else(|| v.invalid(format!("expected keyring, keyutils or file, got {:?}", v.text)))?
    }),
    env_var!("REALNAME_CREDENTIAL_FILE", |c, v| c.credential_file = Some(v.path())),
    env_var!("REALNAME_MODELS_DIR", |c, v| c.models_dir = Some(v.path())),
    env_var!("REALNAME_DEVICE_NAME", |c, v| c.device_name = Some(v.text)),
];

/// A table error as the companion's `configuration: VAR: reason`.
fn config_error(e: ConfigError) -> CompanionError {
    match e {
        ConfigError::Env { var, reason } => CompanionError::Config(format!("{var}: {reason}")),
        other => CompanionError::Config(other.to_string()),
    }
}

/// `scheme://host[:port]` of a URL, lower-cased, default port dropped.
///
/// # Errors
/// [`CompanionError::Config`] for anything but an http(s) URL.
pub fn normalise_origin(url: &str) -> Result<String, CompanionError> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| CompanionError::Config(format!("origin {url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CompanionError::Config(format!("origin {url:?}: only http and https are supported")));
    }
    match parsed.origin() {
        o @ url::Origin::Tuple(..) => Ok(o.ascii_serialization()),
        url::Origin::Opaque(_) => Err(CompanionError::Config(format!("origin {url:?} has no host"))),
    }
}

/// The backend origins the app trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustedOrigins(Vec<String>);

impl TrustedOrigins {
    /// Normalises and stores the list.
    ///
    /// # Errors
    /// [`CompanionError::Config`] for a malformed origin.
    pub fn new(origins: &[String]) -> Result<Self, CompanionError> {
        origins.iter().map(|o| normalise_origin(o)).collect::<Result<Vec<_>, _>>().map(Self)
    }

    /// Ok when `origin` is trusted, else [`CompanionError::UntrustedOrigin`].
    ///
    /// # Errors
    /// [`CompanionError::UntrustedOrigin`].
    pub fn check(&self, origin: &str) -> Result<(), CompanionError> {
        if self.0.iter().any(|t| realname_protocol::qr::same_origin(t, origin)) {
            Ok(())
        } else {
            Err(CompanionError::UntrustedOrigin { origin: origin.to_owned() })
        }
    }

    /// The normalised list.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
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
    fn environment_overrides_the_file() {
        let mut c: CompanionConfig = toml::from_str(
            "trusted_origins = [\"https://a.example\"]\nmode = \"kiosk\"\nlanguage = \"zh-CN\"\ncredential_store = \"file\"\n",
        )
        .expect("toml");
        assert_eq!(c.mode, Mode::Kiosk);
        assert_eq!(c.language, Language::ZhCn);
        assert_eq!(c.credential_store, CredentialStoreKind::File);
        c.apply_env(env(&[
            ("REALNAME_TRUSTED_ORIGINS", "http://127.0.0.1:9000, https://B.example:443/"),
            ("REALNAME_MODE", "personal"),
            ("REALNAME_LANG", "en"),
        ]))
        .expect("env");
        c.validate().expect("valid");
        assert_eq!(c.mode, Mode::Personal);
        let trusted = c.trusted().expect("origins");
        assert_eq!(trusted.as_slice(), ["http://127.0.0.1:9000", "https://b.example"]);
        assert_eq!(c.server_origin().expect("server"), "http://127.0.0.1:9000");
    }

    #[test]
    fn bad_values_are_refused() {
        let mut c = CompanionConfig::default();
        let e = c.apply_env(env(&[("REALNAME_MODE", "robot")])).expect_err("unknown mode");
        assert_eq!(e.to_string(), "configuration: REALNAME_MODE: unknown mode \"robot\"");
        assert!(c.apply_env(env(&[("REALNAME_LANG", "klingon")])).is_err());
        assert!(c.apply_env(env(&[("REALNAME_CREDENTIAL_STORE", "paper")])).is_err());
        assert!(toml::from_str::<CompanionConfig>("unknown_key = 1").is_err());
        c.trusted_origins = vec!["ftp://x".into()];
        assert!(c.validate().is_err());
        assert!(CompanionConfig::default().server_origin().is_err());
    }

    #[test]
    fn only_listed_origins_are_trusted() {
        let t = TrustedOrigins::new(&["https://verify.example.com".into()]).expect("origins");
        t.check("https://VERIFY.example.com:443").expect("same origin");
        for other in ["http://verify.example.com", "https://verify.example.com:8443", "https://evil.example"] {
            let e = t.check(other).expect_err("untrusted");
            assert_eq!(e.code(), "untrusted_origin", "{other}");
        }
    }
}
