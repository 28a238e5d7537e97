//! The interfaces of the outside services a flow talks to — the identity authority, the partner
//! directory, the carrier directory and the SMS gateway — with their verdicts and errors. The
//! flows hold them as `Arc<dyn …>`; their local and HTTP implementations live beside the flows.
//! This module imports only the store's error type, `crypto` and `settings`.

pub mod authority;
pub mod mobile;
pub mod partner;

pub use authority::{AuthorityError, AuthorityVerdict, IdentityAuthority};
pub use mobile::{CarrierDirectory, CarrierVerdict, ChannelError, MobileNumber, MobileNumberError, SmsGateway};
pub use partner::{PartnerDirectory, PartnerError, PartnerVerification, TokenGrant};
