//! Credentials (personal sign-in tokens or a kiosk station credential), one per server origin,
//! kept in the OS keyring or in an explicit 0600 file for machines without a keyring service.
//!
//! Secrets never appear in `Debug` output, logs or `--json` output: they are wrapped in
//! [`Secret`] (the one `realname-settings` defines for the server and the companion).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{CompanionConfig, CredentialStoreKind};
use crate::error::CompanionError;

/// Keyring service name under which credentials are stored (the user is the server origin).
pub const KEYRING_SERVICE: &str = "realname-companion";

/// The secret wrapper, shared with the server's configuration (`realname-settings`).
pub use realname_settings::Secret;

/// What this device holds for one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A personal device signed in to an account.
    Personal {
        /// Short-lived access token.
        access_token: Secret,
        /// Refresh token (rotated on every refresh).
        refresh_token: Secret,
        /// When the access token expires, Unix seconds (device clock).
        access_expires_at: i64,
        /// The account id.
        account_id: String,
        /// The account's masked e-mail.
        email_masked: String,
    },
    /// A registered kiosk station.
    Station {
        /// The station credential printed by `realname-server devices register`.
        token: Secret,
    },
}

impl Credential {
    /// The bearer token to send.
    pub fn bearer(&self) -> &str {
        match self {
            Self::Personal { access_token, .. } => access_token.expose(),
            Self::Station { token } => token.expose(),
        }
    }

    /// `personal` or `station`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Personal { .. } => "personal",
            Self::Station { .. } => "station",
        }
    }
}

/// Where credentials live.
pub trait CredentialStore: Send + Sync + fmt::Debug {
    /// The credential for `server` (a normalised origin), if any.
    ///
    /// # Errors
    /// [`CompanionError::Credentials`] when the store cannot be read.
    fn load(&self, server: &str) -> Result<Option<Credential>, CompanionError>;

    /// Stores (replaces) the credential for `server`.
    ///
    /// # Errors
    /// [`CompanionError::Credentials`] when the store cannot be written.
    fn save(&self, server: &str, credential: &Credential) -> Result<(), CompanionError>;

    /// Removes the credential for `server`; `Ok(false)` when there was none.
    ///
    /// # Errors
    /// [`CompanionError::Credentials`] when the store cannot be written.
    fn delete(&self, server: &str) -> Result<bool, CompanionError>;

    /// Short description for `whoami` (`keyring`, `file:/path`).
    fn describe(&self) -> String;
}

/// Opens the store the configuration names.
///
/// # Errors
/// [`CompanionError::Credentials`] when the keyring backend cannot be set up.
pub fn open_store(config: &CompanionConfig) -> Result<Box<dyn CredentialStore>, CompanionError> {
    Ok(match config.credential_store {
        CredentialStoreKind::File => Box::new(FileStore::new(config.credential_file())),
        CredentialStoreKind::Keyring => Box::new(KeyringStore::new(KeyringBackend::SecretService)),
        CredentialStoreKind::Keyutils => Box::new(KeyringStore::new(KeyringBackend::Keyutils)),
    })
}

// ---------------------------------------------------------------------------------------------
// Memory store

/// Credentials held only in memory (load generator's virtual users, tests). Never persisted.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: std::sync::Mutex<BTreeMap<String, Credential>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Credential>> {
        // A panic elsewhere while holding the lock leaves the map itself consistent.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl CredentialStore for MemoryStore {
    fn load(&self, server: &str) -> Result<Option<Credential>, CompanionError> {
        Ok(self.lock().get(server).cloned())
    }

    fn save(&self, server: &str, credential: &Credential) -> Result<(), CompanionError> {
        self.lock().insert(server.to_owned(), credential.clone());
        Ok(())
    }

    fn delete(&self, server: &str) -> Result<bool, CompanionError> {
        Ok(self.lock().remove(server).is_some())
    }

    fn describe(&self) -> String {
        "memory".into()
    }
}

// ---------------------------------------------------------------------------------------------
// File store

/// On-disk layout of the credential file.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CredentialFile {
    version: u32,
    servers: BTreeMap<String, Credential>,
}

/// Credentials in a JSON file readable only by its owner (mode 0600, folder 0700), replaced
/// atomically on every write.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path` (created on first save).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &str, e: impl fmt::Display) -> CompanionError {
        CompanionError::Credentials(format!("{what} {}: {e}", self.path.display()))
    }

    fn read(&self) -> Result<CredentialFile, CompanionError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => {
                check_private(&self.path).map_err(|e| self.err("refusing to use", e))?;
                serde_json::from_slice(&bytes).map_err(|e| self.err("cannot parse", e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(CredentialFile { version: 1, ..Default::default() })
            }
            Err(e) => Err(self.err("cannot read", e)),
        }
    }

    fn write(&self, file: &CredentialFile) -> Result<(), CompanionError> {
        let json = serde_json::to_vec_pretty(file).map_err(|e| self.err("cannot encode", e))?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(|e| self.err("cannot create folder for", e))?;
        }
        let tmp = self.path.with_extension(format!("tmp{}", std::process::id()));
        write_private(&tmp, &json).map_err(|e| self.err("cannot write", e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| self.err("cannot replace", e))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // An existing file keeps its old mode through `open`: force it.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Refuses a credential file that others can read or write (as ssh does with keys).
#[cfg(unix)]
fn check_private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).map_err(|e| e.to_string())?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(format!("mode {:o} lets other users read it; run chmod 600", mode & 0o777));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path) -> Result<(), String> {
    Ok(())
}

impl CredentialStore for FileStore {
    fn load(&self, server: &str) -> Result<Option<Credential>, CompanionError> {
        Ok(self.read()?.servers.get(server).cloned())
    }

    fn save(&self, server: &str, credential: &Credential) -> Result<(), CompanionError> {
        let mut file = self.read()?;
        file.version = 1;
        file.servers.insert(server.to_owned(), credential.clone());
        self.write(&file)
    }

    fn delete(&self, server: &str) -> Result<bool, CompanionError> {
        let mut file = self.read()?;
        let had = file.servers.remove(server).is_some();
        if had {
            self.write(&file)?;
        }
        Ok(had)
    }

    fn describe(&self) -> String {
        format!("file:{}", self.path.display())
    }
}

// ---------------------------------------------------------------------------------------------
// Keyring store

/// Which OS keyring backend to use (chosen explicitly: keyring v3 silently falls back to an
/// in-memory mock when no backend is selected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringBackend {
    /// freedesktop Secret Service over D-Bus (GNOME Keyring, KWallet) on Linux/BSD; the
    /// platform store (Keychain, Credential Manager) elsewhere.
    SecretService,
    /// Linux kernel keyutils (session keyring).
    Keyutils,
}

/// Credentials in the OS keyring: service [`KEYRING_SERVICE`], user = server origin, secret =
/// the credential as JSON.
#[derive(Debug, Clone)]
pub struct KeyringStore {
    backend: KeyringBackend,
    service: String,
}

impl KeyringStore {
    /// A store on `backend` under [`KEYRING_SERVICE`].
    pub fn new(backend: KeyringBackend) -> Self {
        Self { backend, service: KEYRING_SERVICE.to_owned() }
    }

    /// A store under another service name (tests use their own).
    pub fn with_service(backend: KeyringBackend, service: &str) -> Self {
        Self { backend, service: service.to_owned() }
    }

    fn entry(&self, server: &str) -> Result<keyring::Entry, CompanionError> {
        let err = |e: keyring::Error| CompanionError::Credentials(format!("keyring: {e}"));
        match self.backend {
            #[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
            KeyringBackend::SecretService => {
                let cred =
                    keyring::secret_service::SsCredential::new_with_target(None, &self.service, server).map_err(err)?;
                Ok(keyring::Entry::new_with_credential(Box::new(cred)))
            }
            #[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")))]
            KeyringBackend::SecretService => keyring::Entry::new(&self.service, server).map_err(err),
            #[cfg(target_os = "linux")]
            KeyringBackend::Keyutils => {
                let cred =
                    keyring::keyutils::KeyutilsCredential::new_with_target(None, &self.service, server).map_err(err)?;
                Ok(keyring::Entry::new_with_credential(Box::new(cred)))
            }
            #[cfg(not(target_os = "linux"))]
            KeyringBackend::Keyutils => Err(CompanionError::Credentials("keyutils exists only on Linux".into())),
        }
    }
}

fn keyring_error(e: keyring::Error) -> CompanionError {
    let hint = match &e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            " (no keyring service reachable: start one, or set REALNAME_CREDENTIAL_STORE=file)"
        }
        _ => "",
    };
    CompanionError::Credentials(format!("keyring: {e}{hint}"))
}

impl CredentialStore for KeyringStore {
    fn load(&self, server: &str) -> Result<Option<Credential>, CompanionError> {
        match self.entry(server)?.get_password() {
            Ok(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| CompanionError::Credentials(format!("keyring entry for {server} is malformed: {e}"))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn save(&self, server: &str, credential: &Credential) -> Result<(), CompanionError> {
        let json = serde_json::to_string(credential)
            .map_err(|e| CompanionError::Credentials(format!("cannot encode credential: {e}")))?;
        self.entry(server)?.set_password(&json).map_err(keyring_error)
    }

    fn delete(&self, server: &str) -> Result<bool, CompanionError> {
        match self.entry(server)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_error(e)),
        }
    }

    fn describe(&self) -> String {
        match self.backend {
            KeyringBackend::SecretService => "keyring".into(),
            KeyringBackend::Keyutils => "keyutils".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn personal() -> Credential {
        Credential::Personal {
            access_token: Secret::new("acc-SECRET"),
            refresh_token: Secret::new("ref-SECRET"),
            access_expires_at: 1_700_000_000,
            account_id: "a1".into(),
            email_masked: "a***@example.com".into(),
        }
    }

    #[test]
    fn debug_never_shows_tokens() {
        let text = format!("{:?}", personal());
        assert!(!text.contains("SECRET"), "{text}");
        let station = Credential::Station { token: Secret::new("st-SECRET") };
        assert!(!format!("{station:?}").contains("SECRET"));
    }

    #[test]
    fn file_store_round_trips_with_private_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("sub/credentials.json"));
        assert_eq!(store.load("http://a").expect("load"), None);
        store.save("http://a", &personal()).expect("save");
        store.save("http://b", &Credential::Station { token: Secret::new("t") }).expect("save");
        assert_eq!(store.load("http://a").expect("load"), Some(personal()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(store.path()).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(store.delete("http://a").expect("delete"));
        assert!(!store.delete("http://a").expect("delete again"));
        assert_eq!(store.load("http://a").expect("load"), None);
        assert!(store.load("http://b").expect("load").is_some());
    }

    #[cfg(unix)]
    #[test]
    fn file_store_refuses_a_world_readable_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("c.json"));
        store.save("http://a", &personal()).expect("save");
        std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = store.load("http://a").expect_err("must refuse");
        assert_eq!(e.code(), "credentials");
    }
}
