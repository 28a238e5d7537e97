//! Project tasks behind `cargo xtask`: benchmarks and accuracy reports.

fn main() -> anyhow::Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    anyhow::bail!("unknown task {task:?}; tasks are added as the crates that own them land")
}
