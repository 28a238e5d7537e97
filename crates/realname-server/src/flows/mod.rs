//! The verification flows, below the HTTP layer: [`face`] (authority check, face session,
//! capture), [`partner`] (sign-in with a partner) and [`mobile`] (carrier check by SMS code).
//! Flows use the store, the directories and the services; they never import `crate::http`.

pub mod core;
pub mod face;
pub mod mobile;
pub mod partner;
