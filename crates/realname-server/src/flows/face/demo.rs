//! Demo identities (issue 17): a newcomer puts themselves into the local identity authority
//! with a generated, clearly fictitious resident ID number, so that a first verification works
//! within minutes — and such identities can never verify anyone outside demo mode.
//!
//! # The demo range
//!
//! A demo ID number is `710000`, a birth date in the year `1900`, a 3-digit sequence number
//! and the GB 11643 check character (ISO 7064 MOD 11-2). The project's validator accepts it
//! (province prefix 71 is in GB/T 2260, 1900 is its earliest accepted year), yet no real
//! person holds one, for two independent reasons:
//! - `710000` is the province-level code of Taiwan. Mainland public-security offices issue no
//!   resident ID numbers under it (and a province-level code ending in `0000` is never a
//!   person's county code); residents of Taiwan living on the mainland get residence-permit
//!   numbers beginning `830000` instead.
//! - A birth year of 1900 puts any holder beyond the oldest living person; second-generation
//!   18-digit numbers were only issued from 1999/2004 on.
//!
//! The server treats every number of this range as a demo identity whatever its origin:
//! outside demo mode the authority is wrapped in [`DemoGuard`], which answers "unknown" for
//! them, and `authority import` refuses them (only `demo enroll` creates them).
//!
//! Demo mode itself (`--demo`, `REALNAME_DEMO=1`, `[demo] enabled = true`) is off by default
//! and refused together with an HTTP identity authority: demo identities live only in the
//! local registry, and a server that asks a real authority is not a demo.

use std::sync::Arc;

use async_trait::async_trait;
use rand::Rng;
use realname_face::Descriptor;
use realname_protocol::id_number::IdNumberError;
use realname_protocol::{PersonName, ResidentId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::DataKeys;
use crate::face::SharedAnalyzer;
use crate::flows::face::authority::{AuthorityError, AuthorityVerdict, IdentityAuthority};
use crate::settings::{ConfigError, env_var};
use crate::store::{AuthorityRecord, Store, StoreError};

pub use crate::store::demo::DEMO_REGION;
/// Birth year of every demo ID number (no living person was born then).
pub const DEMO_BIRTH_YEAR: i32 = 1900;
/// The name given to a demo identity when none is chosen ("demo user").
pub const DEFAULT_DEMO_NAME: &str = "演示用户";

/// `[demo]` settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Demo mode (`--demo`, `REALNAME_DEMO=1`): demo identities may be enrolled and verify.
    pub enabled: bool,
}

impl DemoConfig {
    /// Reads `REALNAME_DEMO`.
    ///
    /// # Errors
    /// [`ConfigError::Env`] for a value that is not a boolean.
    pub fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        crate::settings::apply_env(self, &[env_var!("REALNAME_DEMO", |c, v| c.enabled = v.bool()?)], get)
    }

    /// Demo mode is refused with an HTTP identity authority.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] with the message an operator sees at start.
    pub fn validate(&self, authority: super::authority::AuthorityKind) -> Result<(), ConfigError> {
        if self.enabled && authority == super::authority::AuthorityKind::Http {
            return Err(ConfigError::Invalid(
                "demo mode (--demo / REALNAME_DEMO=1) is refused with an HTTP identity authority \
                 (REALNAME_AUTHORITY_URL / authority.kind = \"http\"): demo identities live only in the \
                 local registry. Unset one of the two."
                    .into(),
            ));
        }
        Ok(())
    }
}

pub use crate::store::demo::is_demo_id;

/// A random ID number of the demo range: 1900-MM-DD (any day of that year), sequence 000–999.
///
/// # Errors
/// None in practice: every number built this way passes the validator (tested below); the
/// error is passed on rather than assumed away.
pub fn generate_demo_id(rng: &mut impl Rng) -> Result<ResidentId, IdNumberError> {
    let day_of_year: u16 = rng.gen_range(1..=365);
    let date =
        time::Date::from_ordinal_date(DEMO_BIRTH_YEAR, day_of_year).map_err(|_| IdNumberError::InvalidBirthDate)?;
    let sequence: u16 = rng.gen_range(0..1000);
    let first17 = format!("{DEMO_REGION}{:04}{:02}{:02}{sequence:03}", date.year(), u8::from(date.month()), date.day());
    let check = realname_protocol::id_number::check_character(first17.as_bytes());
    ResidentId::parse(&format!("{first17}{check}"), time::macros::date!(9999 - 12 - 31))
}

/// Why a demo enrolment is refused.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The server is not in demo mode.
    #[error(
        "demo enrolment needs demo mode: run with --demo or REALNAME_DEMO=1 (the server that should verify it too)"
    )]
    Disabled,
    /// The name is not a valid name.
    #[error("the name is not valid: {0}")]
    Name(String),
    /// The photo is unusable (not an image, no face, several faces).
    #[error("the photo cannot be used: {0}")]
    Photo(#[from] crate::flows::face::authority::ReferencePhotoError),
    /// A generated number failed validation (never expected; see [`generate_demo_id`]).
    #[error("generated demo ID number is invalid: {0}")]
    Generated(#[from] IdNumberError),
    /// No free number after many draws (the range has 365 000 numbers).
    #[error("no free demo ID number found; the demo range is exhausted")]
    RangeExhausted,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A demo identity as enrolled: what to type on the PC page.
#[derive(Debug, Clone, Serialize)]
pub struct DemoIdentity {
    /// The name (type it on the PC page).
    pub name: String,
    /// The generated ID number (type it on the PC page).
    pub id_number: String,
}

/// Enrols the single face of `photo` under `name` (default [`DEFAULT_DEMO_NAME`]) with a new
/// number of the demo range. Refused unless `demo.enabled`.
///
/// # Errors
/// See [`DemoError`].
pub async fn enroll(
    demo: &DemoConfig,
    store: &dyn Store,
    keys: &DataKeys,
    analyzer: SharedAnalyzer,
    photo: Vec<u8>,
    name: Option<&str>,
    now: i64,
) -> Result<DemoIdentity, DemoError> {
    if !demo.enabled {
        return Err(DemoError::Disabled);
    }
    let name = PersonName::parse(name.unwrap_or(DEFAULT_DEMO_NAME)).map_err(|e| DemoError::Name(e.to_string()))?;
    let sha = hex::encode(Sha256::digest(&photo));
    let descriptor: Descriptor =
        tokio::task::spawn_blocking(move || crate::flows::face::authority::reference_descriptor(&*analyzer, &photo))
            .await
            .map_err(|e| crate::flows::face::authority::ReferencePhotoError::Engine(e.to_string()))??;
    for _ in 0..64 {
        let id = generate_demo_id(&mut rand::thread_rng())?;
        let record = AuthorityRecord {
            id_hash: keys.id_hash(id.as_str()),
            id_enc: keys.encrypt(id.as_str().as_bytes()),
            name_enc: keys.encrypt(name.as_str().as_bytes()),
            descriptor: Some(descriptor.to_bytes().to_vec()),
            photo_sha256: sha.clone(),
            imported_at: now,
        };
        if store.insert_demo_identity(&record).await? {
            tracing::info!("demo identity enrolled");
            return Ok(DemoIdentity { name: name.as_str().to_owned(), id_number: id.as_str().to_owned() });
        }
    }
    Err(DemoError::RangeExhausted)
}

/// The authority outside demo mode: demo-range numbers are unknown and have no reference, so a
/// demo identity never verifies anyone there, whichever way it got into the registry.
#[derive(Debug)]
pub struct DemoGuard(pub Arc<dyn IdentityAuthority>);

#[async_trait]
impl IdentityAuthority for DemoGuard {
    async fn check(&self, name: &PersonName, id: &ResidentId) -> Result<AuthorityVerdict, AuthorityError> {
        if is_demo_id(id.as_str()) {
            tracing::info!("demo identity refused: the server is not in demo mode");
            return Ok(AuthorityVerdict::Unknown);
        }
        self.0.check(name, id).await
    }

    async fn reference(&self, id: &ResidentId) -> Result<Option<Descriptor>, AuthorityError> {
        if is_demo_id(id.as_str()) {
            return Ok(None);
        }
        self.0.reference(id).await
    }
}

pub use crate::store::demo::DemoStore;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_numbers_pass_gb_11643_and_are_in_the_demo_range() {
        let today = time::macros::date!(2026 - 12 - 02);
        let mut rng = rand::thread_rng();
        for _ in 0..2000 {
            let id = generate_demo_id(&mut rng).expect("generated");
            let parsed = ResidentId::parse(id.as_str(), today).expect("valid GB 11643 number");
            assert_eq!(parsed.region_code(), DEMO_REGION);
            assert_eq!(parsed.birth_date().year(), DEMO_BIRTH_YEAR);
            assert!(is_demo_id(id.as_str()));
        }
        assert!(is_demo_id("710000190001010006") && ResidentId::parse("710000190001010006", today).is_ok());
    }

    #[test]
    fn ordinary_numbers_are_not_demo_numbers() {
        for id in ["11010519491231002X", "710101199001010012", "710000190101010011", "11000019000101000"] {
            assert!(!is_demo_id(id), "{id}");
        }
    }

    #[test]
    fn demo_mode_is_refused_with_an_http_authority() {
        use crate::flows::face::authority::AuthorityKind;
        let on = DemoConfig { enabled: true };
        assert!(on.validate(AuthorityKind::Local).is_ok());
        let err = on.validate(AuthorityKind::Http).expect_err("refused");
        assert!(err.to_string().contains("refused with an HTTP identity authority"), "{err}");
        assert!(DemoConfig::default().validate(AuthorityKind::Http).is_ok());
    }
}
