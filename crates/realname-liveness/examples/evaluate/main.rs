//! Liveness evaluation on `shared/data/liveness`: builds genuine challenge responses and
//! attacks from `labels.json`, decides them with [`realname_liveness::evaluate`] and prints
//! BPCER and APCER per attack type (ISO/IEC 30107-3), plus the passive networks' scores per
//! clip. `cargo run --release -p realname-liveness --example evaluate [-- --cache FILE]`
//! (`FILE`: JSON lines from the `measure` example, to skip re-analysing frames).
#![allow(clippy::print_stdout)]

mod harness;

use std::collections::BTreeMap;
use std::path::PathBuf;

use realname_liveness::LivenessConfig;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let nets = realname_liveness::PassiveNets::load(&harness::models_dir())?;
    let analyzer = harness::Analyzer::load(Some(Box::new(nets)))?;
    if let Some(i) = args.iter().position(|a| a == "--cache") {
        let path = PathBuf::from(args.get(i + 1).ok_or_else(|| anyhow::anyhow!("--cache FILE"))?);
        let n = analyzer.load_cache(&path)?;
        println!("cache: {n} analysed frames from {}", path.display());
    }
    let plan = harness::Plan { pairs: true, max_per_attack: 100, clips: &[] };
    let cases = harness::build_cases(&analyzer, &plan)?;
    let config = LivenessConfig::default();
    let results: Vec<_> = cases
        .into_iter()
        .map(|c| {
            let r = harness::decide(&c, &config);
            (c, r)
        })
        .collect();

    println!("\n## Decisions\n");
    println!("| kind | case | actions | result |");
    println!("|---|---|---|---|");
    for (c, r) in &results {
        let acts: Vec<&str> = c.actions.iter().map(|a| a.as_str()).collect();
        let res = match r {
            Ok(()) => "accepted".to_string(),
            Err(e) => format!("{:?}: {}", e.reason, serde_json::to_string(&e.detail).unwrap_or_default()),
        };
        println!("| {} | {} | {} | {} |", c.kind, c.name, acts.join(", "), res);
    }
    println!("\n## Error rates (ISO/IEC 30107-3)\n");
    println!("| presentations | n | accepted | rate |");
    println!("|---|---|---|---|");
    for (kind, (n, accepted)) in harness::rates(&results) {
        let (label, errors) =
            if kind == "genuine" { ("BPCER (genuine rejected)", n - accepted) } else { ("APCER", accepted) };
        let rate = 100.0 * errors as f64 / n.max(1) as f64;
        println!("| {kind} | {n} | {accepted} | {label} {rate:.1} % |");
    }
    // Rejection reasons of genuine cases.
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for (c, r) in &results {
        if let (true, Err(e)) = (c.kind == "genuine", r) {
            *reasons.entry(format!("{:?}", e.reason)).or_default() += 1;
        }
    }
    println!("\nGenuine rejections by reason: {reasons:?}");

    // Passive scores per clip over the frames analysed for the cases.
    println!("\n## Passive networks (median over the analysed frames with one face)\n");
    println!("| clip | frames | antispoof median [min, max] | liveness median [min, max] |");
    println!("|---|---|---|---|");
    let mut per: BTreeMap<String, (Vec<f32>, Vec<f32>)> = BTreeMap::new();
    for (c, _) in &results {
        let clip = c.name.split([' ', '#']).next().unwrap_or_default().to_string();
        for f in &c.frames {
            if let [one] = f.faces.as_slice()
                && let Some(p) = one.evidence.as_ref().and_then(|e| e.passive)
            {
                let e = per.entry(format!("{} ({})", clip, c.kind)).or_default();
                e.0.push(p.antispoof);
                e.1.push(p.liveness);
            }
        }
    }
    for (clip, (mut a, mut l)) in per {
        a.sort_by(f32::total_cmp);
        l.sort_by(f32::total_cmp);
        let m = |v: &[f32]| format!("{:.2} [{:.2}, {:.2}]", v[v.len() / 2], v[0], v[v.len() - 1]);
        println!("| {clip} | {} | {} | {} |", a.len(), m(&a), m(&l));
    }
    Ok(())
}
