//! `realname load-identities`: valid synthetic identities for load runs (an authority CSV for
//! the server and a people CSV for `realname load`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::output::{Exit, Output};

/// Options of `realname load-identities`.
#[derive(Debug, clap::Args)]
pub(crate) struct IdentityArgs {
    /// How many identities.
    #[arg(long)]
    count: usize,
    /// Reference photo of the person in the clip (copied path goes into authority.csv).
    #[arg(long)]
    photo: PathBuf,
    /// The person's clip folder (goes into people.csv).
    #[arg(long)]
    clip: PathBuf,
    /// Output folder for `authority.csv` (for `realname-server authority import`) and
    /// `people.csv` (for `realname load --people`).
    #[arg(long)]
    out: PathBuf,
    /// Seed, so that repeated runs against one database use fresh ID numbers.
    #[arg(long)]
    seed: Option<u64>,
}

const DIGITS_ZH: [char; 10] = ['零', '一', '二', '三', '四', '五', '六', '七', '八', '九'];

/// A valid resident ID number (region 110101, Beijing) for index `i` under `seed`.
pub(super) fn synthetic_id(seed: u64, i: usize) -> String {
    let n = seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
    let days = (n % 12_000) as i64;
    let date = time::Date::from_calendar_date(1970, time::Month::January, 1)
        .unwrap_or(time::Date::MIN)
        .saturating_add(time::Duration::days(days));
    let seq = (n / 12_000) % 1000;
    let body = format!("110101{:04}{:02}{:02}{seq:03}", date.year(), date.month() as u8, date.day());
    let check = realname_protocol::id_number::check_character(body.as_bytes());
    format!("{body}{check}")
}

/// A name for index `i`: "测试" + the index in Chinese digits.
pub(super) fn synthetic_name(i: usize) -> String {
    let mut s = String::from("测试");
    for c in i.to_string().chars() {
        if let Some(d) = c.to_digit(10) {
            s.push(DIGITS_ZH[d as usize]);
        }
    }
    s
}

/// Writes the two CSV files.
pub(crate) fn write_identities(args: &IdentityArgs, out: &Output) -> ExitCode {
    let seed = args.seed.unwrap_or_else(rand::random);
    let photo_dir = args.photo.parent().map(Path::to_path_buf).unwrap_or_default();
    let photo_name = args.photo.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut authority = String::from("name,id_number,photo\n");
    let mut people = String::from("name,id_number,clip\n");
    let clip = std::fs::canonicalize(&args.clip).unwrap_or_else(|_| args.clip.clone());
    for i in 0..args.count {
        let (name, id) = (synthetic_name(i), synthetic_id(seed, i));
        authority.push_str(&format!("{name},{id},{photo_name}\n"));
        people.push_str(&format!("{name},{id},\"{}\"\n", clip.display()));
    }
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&args.out)?;
        std::fs::write(args.out.join("authority.csv"), &authority)?;
        std::fs::write(args.out.join("people.csv"), &people)
    };
    if let Err(e) = write() {
        return out.fail(Exit::Usage, "io", &e.to_string());
    }
    out.ok(
        serde_json::json!({
            "count": args.count,
            "authority_csv": args.out.join("authority.csv"),
            "photos_dir": photo_dir,
            "people_csv": args.out.join("people.csv"),
        }),
        &format!(
            "Wrote {} identities.\nImport them: realname-server authority import --csv {} --photos {}\nThen: realname load --people {}",
            args.count,
            args.out.join("authority.csv").display(),
            photo_dir.display(),
            args.out.join("people.csv").display()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_identities_are_valid() {
        let today = time::OffsetDateTime::now_utc().date();
        for i in 0..200 {
            let id = synthetic_id(42, i);
            realname_protocol::ResidentId::parse(&id, today).expect("valid id");
            realname_protocol::PersonName::parse(&synthetic_name(i)).expect("valid name");
        }
        assert_ne!(synthetic_id(1, 0), synthetic_id(2, 0));
    }
}
