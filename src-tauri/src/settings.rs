//! The desktop app's own settings file (`desktop.toml` in the app's config folder, or in
//! `REALNAME_DESKTOP_DIR`): backend, language, mode, sources, kiosk admin PIN (salted hash).
//! The companion configuration is derived from it; credentials live in the companion's store.

use std::path::{Path, PathBuf};

use realname_companion::{CompanionConfig, Language, Mode};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::ipc::{CommandError, CommandErrorCode, SettingsView, UiLanguage, UiMode};

/// What is stored on disk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredSettings {
    /// Settings shown in the UI.
    #[serde(flatten)]
    pub view: StoredView,
    /// `salt:sha256(salt || pin)` of the kiosk admin PIN.
    pub admin_pin: Option<String>,
    /// Personal mode: the masked e-mail of the signed-in account (shown, never sent).
    pub account_masked: Option<String>,
}

/// Serde mirror of [`SettingsView`] with defaults for missing keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredView {
    /// See [`SettingsView::backend_url`].
    pub backend_url: String,
    /// See [`SettingsView::language`].
    pub language: UiLanguage,
    /// See [`SettingsView::mode`].
    pub mode: UiMode,
    /// See [`SettingsView::qr_source`].
    pub qr_source: String,
    /// See [`SettingsView::face_source`].
    pub face_source: String,
    /// See [`SettingsView::tester_mode`].
    pub tester_mode: bool,
    /// See [`SettingsView::kiosk_reset_secs`].
    pub kiosk_reset_secs: u32,
}

impl Default for StoredView {
    fn default() -> Self {
        Self {
            backend_url: String::new(),
            language: UiLanguage::En,
            mode: UiMode::Personal,
            qr_source: "webcam:0".into(),
            face_source: String::new(),
            tester_mode: false,
            kiosk_reset_secs: 8,
        }
    }
}

impl From<&StoredView> for SettingsView {
    fn from(v: &StoredView) -> Self {
        Self {
            backend_url: v.backend_url.clone(),
            language: v.language,
            mode: v.mode,
            qr_source: v.qr_source.clone(),
            face_source: v.face_source.clone(),
            tester_mode: v.tester_mode,
            kiosk_reset_secs: v.kiosk_reset_secs,
        }
    }
}

impl From<SettingsView> for StoredView {
    fn from(v: SettingsView) -> Self {
        Self {
            backend_url: v.backend_url.trim().trim_end_matches('/').to_owned(),
            language: v.language,
            mode: v.mode,
            qr_source: v.qr_source.trim().to_owned(),
            face_source: v.face_source.trim().to_owned(),
            tester_mode: v.tester_mode,
            kiosk_reset_secs: v.kiosk_reset_secs.clamp(2, 120),
        }
    }
}

/// The folder for `desktop.toml` (and the credential file when the file store is used).
pub fn settings_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REALNAME_DESKTOP_DIR") {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("", "", "realname")
        .map(|d| d.config_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}

impl StoredSettings {
    /// Reads `dir/desktop.toml`; `Ok(None)` before the first run.
    ///
    /// # Errors
    /// `config` for an unreadable or malformed file.
    pub fn load(dir: &Path) -> Result<Option<Self>, CommandError> {
        let path = dir.join("desktop.toml");
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text)
                .map(Some)
                .map_err(|e| CommandError::new(CommandErrorCode::Config, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(CommandError::new(CommandErrorCode::Config, format!("{}: {e}", path.display()))),
        }
    }

    /// Writes `dir/desktop.toml`.
    ///
    /// # Errors
    /// `config` when the file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<(), CommandError> {
        let text =
            toml::to_string_pretty(self).map_err(|e| CommandError::new(CommandErrorCode::Config, e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| CommandError::new(CommandErrorCode::Config, e.to_string()))?;
        std::fs::write(dir.join("desktop.toml"), text)
            .map_err(|e| CommandError::new(CommandErrorCode::Config, e.to_string()))
    }

    /// Checks the settings before they are saved.
    ///
    /// # Errors
    /// `config` naming the field.
    pub fn validate(view: &StoredView) -> Result<(), CommandError> {
        url_origin(&view.backend_url).ok_or_else(|| {
            CommandError::new(CommandErrorCode::BackendUrlInvalid, "the backend URL must be http(s)://host[:port]")
        })?;
        for spec in [&view.qr_source, &view.face_source] {
            if !spec.is_empty() {
                realname_scan::SourceSpec::parse(spec)
                    .map_err(|e| CommandError::new(CommandErrorCode::SourceInvalid, e.to_string()))?;
            }
        }
        Ok(())
    }

    /// Sets the kiosk admin PIN (4–12 digits).
    ///
    /// # Errors
    /// `pin_invalid` for anything else.
    pub fn set_pin(&mut self, pin: &str) -> Result<(), CommandError> {
        if !(4..=12).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CommandError::new(CommandErrorCode::PinInvalid, "the admin PIN must be 4 to 12 digits"));
        }
        let salt: [u8; 16] = rand::random();
        self.admin_pin = Some(format!("{}:{}", hex::encode(salt), hex::encode(pin_hash(&salt, pin))));
        Ok(())
    }

    /// Whether `pin` is the admin PIN.
    pub fn check_pin(&self, pin: &str) -> bool {
        let Some((salt, hash)) = self.admin_pin.as_deref().and_then(|s| s.split_once(':')) else { return false };
        let (Ok(salt), Ok(hash)) = (hex::decode(salt), hex::decode(hash)) else { return false };
        let fresh = pin_hash(&salt, pin);
        // Constant-time comparison: the PIN guards leaving the kiosk.
        fresh.len() == hash.len() && fresh.iter().zip(&hash).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }

    /// The companion configuration: defaults, then the environment (credential store, models),
    /// then these settings (the backend is the only trusted origin).
    ///
    /// # Errors
    /// `config` for malformed environment variables.
    pub fn companion_config(&self, dir: &Path) -> Result<CompanionConfig, CommandError> {
        let mut config =
            CompanionConfig { credential_file: Some(dir.join("credentials.json")), ..CompanionConfig::default() };
        config.apply_env(|k| std::env::var(k).ok())?;
        let origin = url_origin(&self.view.backend_url).unwrap_or_default();
        config.trusted_origins = vec![origin.clone()];
        config.server = Some(origin);
        config.mode = match self.view.mode {
            UiMode::Personal => Mode::Personal,
            UiMode::Kiosk => Mode::Kiosk,
        };
        config.language = match self.view.language {
            UiLanguage::ZhCn => Language::ZhCn,
            UiLanguage::En => Language::En,
        };
        config.camera = self.view.qr_source.clone();
        Ok(config)
    }
}

fn pin_hash(salt: &[u8], pin: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(pin.as_bytes());
    h.finalize().to_vec()
}

/// `scheme://host[:port]` of an http(s) URL, without path.
pub fn url_origin(url: &str) -> Option<String> {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let host = rest.split('/').next()?;
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_round_trip_and_rejects() {
        let mut s = StoredSettings::default();
        assert!(s.set_pin("12ab").is_err());
        assert!(s.set_pin("123").is_err());
        s.set_pin("4711").expect("pin");
        assert!(s.check_pin("4711"));
        assert!(!s.check_pin("4712"));
        assert!(!s.check_pin(""));
    }

    #[test]
    fn origins() {
        assert_eq!(url_origin("http://127.0.0.1:8080/"), Some("http://127.0.0.1:8080".into()));
        assert_eq!(url_origin("https://v.example.com/x/y"), Some("https://v.example.com".into()));
        assert_eq!(url_origin("ftp://x"), None);
        assert_eq!(url_origin("https://"), None);
    }

    #[test]
    fn settings_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(StoredSettings::load(dir.path()).expect("load"), None);
        let mut s = StoredSettings::default();
        s.view.backend_url = "http://127.0.0.1:1".into();
        s.view.mode = UiMode::Kiosk;
        s.save(dir.path()).expect("save");
        assert_eq!(StoredSettings::load(dir.path()).expect("load"), Some(s));
    }
}
