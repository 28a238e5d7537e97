//! Integration tests of realname-scan: every frame source but the webcam end to end, the webcam listing, corpus and synthetic decode rates, and property tests.
#![allow(clippy::print_stderr, clippy::print_stdout)]

#[path = "support/corpus.rs"]
mod corpus;

#[path = "scan/decode.rs"]
mod decode;
#[path = "scan/props.rs"]
mod props;
#[cfg(feature = "screen")]
#[path = "scan/screen.rs"]
mod screen;
#[path = "scan/sources.rs"]
mod sources;
#[cfg(feature = "webcam")]
#[path = "scan/webcam.rs"]
mod webcam;
