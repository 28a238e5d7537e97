//! Decisions with the real face engine on real photos and frames (`../shared/data`).
