//! Who the virtual users are: the people CSV (name, ID number, clip) and the mix of flow
//! kinds assigned to them.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Kind of a virtual user's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum FlowKind {
    Genuine,
    Wrong,
    Cancel,
}

#[derive(Debug, Clone)]
pub(super) struct Person {
    pub(super) name: String,
    pub(super) id_number: String,
    pub(super) clip: PathBuf,
}

pub(super) fn parse_mix(text: &str) -> Result<Vec<(FlowKind, u32)>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("--mix: {part:?} is not kind=percent"))?;
        let kind = match k.trim() {
            "genuine" => FlowKind::Genuine,
            "wrong" | "wrong_person" | "wrong-person" => FlowKind::Wrong,
            "cancel" | "cancelled" => FlowKind::Cancel,
            other => return Err(format!("--mix: unknown flow {other:?} (genuine, wrong, cancel)")),
        };
        let pct: u32 = v.trim().parse().map_err(|_| format!("--mix: {v:?} is not a number"))?;
        out.push((kind, pct));
    }
    if out.iter().map(|(_, p)| p).sum::<u32>() == 0 {
        return Err("--mix: the percentages add up to 0".into());
    }
    Ok(out)
}

/// Deterministic assignment of kinds to users that follows the mix exactly in proportion.
pub(super) fn assign_kinds(mix: &[(FlowKind, u32)], users: usize) -> Vec<FlowKind> {
    let total: u32 = mix.iter().map(|(_, p)| p).sum();
    let mut out = Vec::with_capacity(users);
    let mut credit: Vec<f64> = vec![0.0; mix.len()];
    for _ in 0..users {
        for (c, (_, p)) in credit.iter_mut().zip(mix) {
            *c += f64::from(*p) / f64::from(total);
        }
        let (best, _) = credit.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap_or((0, &0.0));
        credit[best] -= 1.0;
        out.push(mix[best].0);
    }
    out
}

fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    fields.push(cur);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

pub(super) fn read_people(path: &Path) -> Result<Vec<Person>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let f = split_csv_line(line);
        if i == 0 && f.first().is_some_and(|h| h.eq_ignore_ascii_case("name")) {
            continue;
        }
        let [name, id_number, clip] = f.as_slice() else {
            return Err(format!("{} line {}: expected name,id_number,clip_folder", path.display(), i + 1));
        };
        let clip = PathBuf::from(clip);
        let clip = if clip.is_absolute() { clip } else { base.join(clip) };
        out.push(Person { name: name.clone(), id_number: id_number.clone(), clip });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_is_followed_in_proportion() {
        let mix = parse_mix("genuine=60,wrong=20,cancel=20").expect("mix");
        let kinds = assign_kinds(&mix, 50);
        assert_eq!(kinds.iter().filter(|k| **k == FlowKind::Genuine).count(), 30);
        assert_eq!(kinds.iter().filter(|k| **k == FlowKind::Wrong).count(), 10);
        assert!(parse_mix("robots=5").is_err());
        assert!(parse_mix("genuine=0").is_err());
    }
}
