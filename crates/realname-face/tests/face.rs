//! Integration tests of the face engine against the original face-api's golden outputs (one test binary).
// The tests report their measured margins (worst errors, accuracy) on stderr.
#![allow(clippy::print_stderr)]

mod face {
    pub(crate) mod common;
    mod end_to_end;
    pub(crate) mod pairs;
    mod robustness;
    mod signals;
    mod stages;
    mod verification;
    mod weights;
}
