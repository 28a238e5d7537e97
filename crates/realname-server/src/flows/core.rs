//! What every verification path shares: storage, keys, the clock, the configuration and the
//! identity authority, and the identity rules each path applies (the form, one verified
//! account per ID number, the daily lockouts, the authority's name ↔ ID check).

use std::sync::Arc;

use realname_protocol::{ErrorCode, PersonName, ResidentId};

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::DataKeys;
use crate::directories::IdentityAuthority;
use crate::error::{ID_ALREADY_VERIFIED_MESSAGE, ServerError, ServerResult, format_time};
use crate::flows::face::authority::AuthorityVerdict;
use crate::flows::face::{FAILURE_WINDOW_SECS, FormError};
use crate::store::{Store, StoreError};

/// The parts every flow reads and writes (cheap to clone).
#[derive(Debug, Clone)]
pub struct FlowCore {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Data keys.
    pub keys: DataKeys,
    /// Clock.
    pub clock: Arc<dyn Clock>,
    /// Configuration.
    pub config: Arc<Config>,
    /// Identity authority.
    pub authority: Arc<dyn IdentityAuthority>,
}

impl FlowCore {
    /// Now, Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Today's date (UTC+8, the ID numbers' civil calendar), for "birth date in the future".
    pub fn today(&self) -> time::Date {
        crate::clock::today(self.now())
    }

    /// The lockout end if the account or the ID number has too many failures today.
    ///
    /// Policy: every failure (a name or phone that does not match the ID number, a code
    /// entered wrongly too often, a failed face decision) counts against the account that
    /// made it. Only failed *face decisions* count against the ID number across accounts:
    /// mismatching names need no face, so counting them per ID number would let anyone lock
    /// a person out with a few throwaway accounts.
    pub async fn lockout_until(&self, account_id: &str, id_hash: &[u8]) -> Result<Option<i64>, StoreError> {
        use crate::store::hardening::{FAILURE_FACE, HardeningStore};
        let since = self.now() - FAILURE_WINDOW_SECS;
        let limits = &self.config.limits;
        let mut until = None;
        for (times, limit) in [
            // Reservations of face attempts in flight are left out here: they count only when
            // another attempt reserves its place (`api::upload`).
            (
                HardeningStore::settled_failures_of_account(&*self.store, account_id, since).await?,
                limits.failures_per_account_per_day,
            ),
            (
                HardeningStore::failures_of_id_kind(&*self.store, id_hash, FAILURE_FACE, since).await?,
                limits.failures_per_id_per_day,
            ),
        ] {
            let limit = limit as usize;
            if limit > 0 && times.len() >= limit {
                // Locked until enough failures age out of the window to go below the limit.
                let end = times[times.len() - limit] + FAILURE_WINDOW_SECS;
                until = Some(until.map_or(end, |u: i64| u.max(end)));
            }
        }
        Ok(until)
    }

    /// Records a failure that says nothing about the ID number's holder (a name or phone that
    /// does not match it, a code entered wrongly too often): it locks only this account.
    pub(crate) async fn record_identity_failure(&self, account_id: &str, id_hash: &[u8]) -> Result<(), StoreError> {
        use crate::store::hardening::{FAILURE_IDENTITY, HardeningStore};
        HardeningStore::record_failure_kind(&*self.store, account_id, id_hash, FAILURE_IDENTITY, self.now()).await
    }

    pub(crate) fn locked_out_error(until: i64) -> ServerError {
        ServerError::new(
            ErrorCode::LockedOut,
            format!("Too many failed verification attempts. Verification is locked until {}.", format_time(until)),
        )
        .with_detail(format!("until={until}"))
    }

    /// The identity form's name and ID number, or the error naming the field.
    pub(crate) fn parse_identity_form(
        &self,
        name_input: &str,
        id_input: &str,
    ) -> Result<(PersonName, ResidentId), FormError> {
        let name = PersonName::parse(name_input).map_err(|e| FormError {
            field: Some("name"),
            error: ServerError::new(ErrorCode::NameInvalid, e.to_string()).with_detail(e.code()),
        })?;
        let id = ResidentId::parse(id_input, self.today()).map_err(|e| FormError {
            field: Some("id_number"),
            error: ServerError::new(ErrorCode::IdNumberInvalid, e.to_string()).with_detail(e.code()),
        })?;
        Ok((name, id))
    }

    /// Every path's first rule: an account is verified at most once.
    pub(crate) async fn ensure_account_unverified(&self, account_id: &str) -> ServerResult<()> {
        if self.store.verified_identity_of_account(account_id).await?.is_some() {
            return Err(ServerError::new(
                ErrorCode::AccountAlreadyVerified,
                "This account has completed real-name verification already.",
            ));
        }
        Ok(())
    }

    /// Every path's ID rules: the number verifies no other account and is not locked out.
    /// Returns its keyed hash.
    pub(crate) async fn id_rules(&self, account_id: &str, id: &ResidentId) -> Result<Vec<u8>, FormError> {
        let id_hash = self.id_lockout(account_id, id).await?;
        self.ensure_id_unverified(&id_hash).await?;
        Ok(id_hash)
    }

    /// The ID number's keyed hash, unless the account or the number is locked out.
    pub(crate) async fn id_lockout(&self, account_id: &str, id: &ResidentId) -> Result<Vec<u8>, FormError> {
        let id_hash = self.keys.id_hash(id.as_str());
        if let Some(until) = self.lockout_until(account_id, &id_hash).await? {
            return Err(Self::locked_out_error(until).into());
        }
        Ok(id_hash)
    }

    /// "This ID number verifies another account". Asked only after the authority confirmed
    /// the name belongs to the number: answered earlier, it would tell anyone whether a
    /// number they type is verified here (an existence oracle).
    pub(crate) async fn ensure_id_unverified(&self, id_hash: &[u8]) -> Result<(), FormError> {
        if self.store.verified_identity_by_id_hash(id_hash).await?.is_some() {
            return Err(FormError {
                field: Some("id_number"),
                error: ServerError::new(ErrorCode::IdAlreadyVerified, ID_ALREADY_VERIFIED_MESSAGE),
            });
        }
        Ok(())
    }

    /// The identity authority's name ↔ ID check shared by every path; a mismatch or an unknown
    /// number counts as a failed attempt.
    pub(crate) async fn authority_match(
        &self,
        account_id: &str,
        id_hash: &[u8],
        name: &PersonName,
        id: &ResidentId,
    ) -> Result<(), FormError> {
        let verdict = self.authority.check(name, id).await.map_err(|e| {
            ServerError::unavailable(
                ErrorCode::AuthorityUnavailable,
                "The identity authority cannot be reached. Please try again later.",
                e,
            )
        })?;
        match verdict {
            AuthorityVerdict::Match => Ok(()),
            AuthorityVerdict::Mismatch => {
                self.record_identity_failure(account_id, id_hash).await?;
                Err(FormError {
                    field: None,
                    error: ServerError::new(ErrorCode::IdentityMismatch, "The name and the ID number do not match."),
                })
            }
            AuthorityVerdict::Unknown => {
                self.record_identity_failure(account_id, id_hash).await?;
                Err(FormError {
                    field: Some("id_number"),
                    error: ServerError::new(
                        ErrorCode::IdentityUnknown,
                        "The identity authority has no record of this ID number.",
                    ),
                })
            }
        }
    }
}
