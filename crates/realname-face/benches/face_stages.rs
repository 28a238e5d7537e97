//! Criterion benchmark of the face engine stages (filled in once the nets are ported).
fn main() {}
