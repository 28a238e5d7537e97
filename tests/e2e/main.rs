//! End-to-end tests of the whole Realname flow.
