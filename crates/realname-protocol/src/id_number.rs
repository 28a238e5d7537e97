//! Mainland China resident identity numbers (GB 11643-1999): parsing, validation, masking.
//!
//! Layout of the 18 characters: 6-digit administrative region code, 8-digit birth date
//! (`YYYYMMDD`), 3-digit sequence number (odd = male, even = female) and one check character
//! computed with ISO 7064 MOD 11-2 (`0`–`9` or `X`).

use std::fmt;

use time::{Date, Month};

/// Length of a second-generation resident ID number.
pub const ID_NUMBER_LEN: usize = 18;

/// ISO 7064 MOD 11-2 weights for the first 17 positions: `2^(17 - i) mod 11`.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Province-level prefixes (first two digits) of GB/T 2260, plus 71 (Taiwan), 81 (Hong Kong),
/// 82 (Macao) and 83 (residence permits for Taiwan residents).
const PROVINCE_PREFIXES: [&str; 35] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43", "44",
    "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82", "83",
];

/// Earliest birth year accepted; older dates are typing errors in practice.
const MIN_BIRTH_YEAR: i32 = 1900;

/// Why a resident ID number was rejected. Each variant maps to a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    /// Nothing was entered.
    #[error("the ID number is empty")]
    Empty,
    /// Not 18 characters after trimming whitespace.
    #[error("the ID number must have 18 characters, found {found}")]
    WrongLength {
        /// Number of characters found.
        found: usize,
    },
    /// A character other than a digit (or `X` in the last position).
    #[error("character {position} of the ID number is not allowed (digits only, X only at the end)")]
    InvalidCharacter {
        /// 1-based position of the offending character.
        position: usize,
    },
    /// The first two digits are not a known province-level region.
    #[error("the region code {prefix} is not a known province-level region")]
    UnknownRegion {
        /// The two-digit prefix found.
        prefix: String,
    },
    /// Characters 7–14 are not a real calendar date (or before 1900).
    #[error("the birth date in the ID number is not a valid date")]
    InvalidBirthDate,
    /// The birth date lies after today.
    #[error("the birth date in the ID number is in the future")]
    BirthDateInFuture,
    /// The last character does not match the ISO 7064 MOD 11-2 check character.
    #[error("the check digit does not match (expected {expected}, found {found})")]
    CheckDigitMismatch {
        /// The check character computed from the first 17 digits.
        expected: char,
        /// The check character entered.
        found: char,
    },
}

impl IdNumberError {
    /// Stable machine-readable code for this error (used by forms, the API and the CLI).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "id_number_empty",
            Self::WrongLength { .. } => "id_number_length",
            Self::InvalidCharacter { .. } => "id_number_character",
            Self::UnknownRegion { .. } => "id_number_region",
            Self::InvalidBirthDate => "id_number_birth_date",
            Self::BirthDateInFuture => "id_number_birth_date_future",
            Self::CheckDigitMismatch { .. } => "id_number_check_digit",
        }
    }
}

/// A validated resident ID number, normalised to 18 ASCII characters with an upper-case `X`.
///
/// `Debug` masks the number so that it cannot leak into logs by accident; use
/// [`as_str`](Self::as_str) where the full number is really needed (encryption, hashing).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ResidentId(String);

impl ResidentId {
    /// Parses and validates `input` as of `today` (used for the "birth date in the future" rule).
    ///
    /// Accepts surrounding and embedded whitespace, a lower-case `x` and full-width digits
    /// (as typed with a Chinese input method), and normalises them away.
    pub fn parse(input: &str, today: Date) -> Result<Self, IdNumberError> {
        let normalised: String = input
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| match c {
                '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
                'x' | 'ｘ' | 'Ｘ' => 'X',
                other => other,
            })
            .collect();
        let count = normalised.chars().count();
        if count == 0 {
            return Err(IdNumberError::Empty);
        }
        for (index, c) in normalised.chars().enumerate() {
            let check_x = c == 'X' && index == ID_NUMBER_LEN - 1;
            // An `X` somewhere else in an input of the wrong length is most likely a check
            // character typed too early or late: the length error explains that better.
            let misplaced_x = c == 'X' && count != ID_NUMBER_LEN;
            if !(c.is_ascii_digit() || check_x || misplaced_x) {
                return Err(IdNumberError::InvalidCharacter { position: index + 1 });
            }
        }
        if count != ID_NUMBER_LEN {
            return Err(IdNumberError::WrongLength { found: count });
        }
        let bytes = normalised.as_bytes();
        let prefix = &normalised[0..2];
        if !PROVINCE_PREFIXES.contains(&prefix) {
            return Err(IdNumberError::UnknownRegion { prefix: prefix.to_owned() });
        }
        let birth = birth_date_of(bytes).ok_or(IdNumberError::InvalidBirthDate)?;
        if birth > today {
            return Err(IdNumberError::BirthDateInFuture);
        }
        let expected = check_character(bytes);
        let found = char::from(bytes[ID_NUMBER_LEN - 1]);
        if expected != found {
            return Err(IdNumberError::CheckDigitMismatch { expected, found });
        }
        Ok(Self(normalised))
    }

    /// The full normalised number. Handle with care: never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number masked for display: first and last character shown, the rest as `*`.
    pub fn masked(&self) -> String {
        crate::mask::mask_id_number(&self.0)
    }

    /// The birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> Date {
        // Validated in `parse`, so this cannot fail; fall back to the minimum date defensively.
        birth_date_of(self.0.as_bytes()).unwrap_or(Date::MIN)
    }

    /// The six-digit administrative region code.
    pub fn region_code(&self) -> &str {
        &self.0[0..6]
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ResidentId").field(&self.masked()).finish()
    }
}

/// Computes the ISO 7064 MOD 11-2 check character of the first 17 digits of `digits`.
///
/// `digits` must hold at least 17 ASCII digits.
pub fn check_character(digits: &[u8]) -> char {
    let sum: u32 = digits.iter().take(17).zip(WEIGHTS).map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w).sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        v => char::from(b'0' + v as u8),
    }
}

fn birth_date_of(bytes: &[u8]) -> Option<Date> {
    let field = std::str::from_utf8(bytes.get(6..14)?).ok()?;
    let year: i32 = field[0..4].parse().ok()?;
    let month: u8 = field[4..6].parse().ok()?;
    let day: u8 = field[6..8].parse().ok()?;
    if year < MIN_BIRTH_YEAR {
        return None;
    }
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 25);

    fn parse(s: &str) -> Result<ResidentId, IdNumberError> {
        ResidentId::parse(s, TODAY)
    }

    /// Builds a valid number from 17 digits by appending the right check character.
    fn with_check(first17: &str) -> String {
        format!("{first17}{}", check_character(first17.as_bytes()))
    }

    #[test]
    fn accepts_the_standards_example_with_x() {
        let id = parse("11010519491231002X").expect("standard example is valid");
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.region_code(), "110105");
    }

    #[test]
    fn normalises_lowercase_x_whitespace_and_fullwidth_digits() {
        assert_eq!(parse(" 11010519491231002x\t").map(|i| i.0), Ok("11010519491231002X".into()));
        assert_eq!(parse("110105 19491231 002X").map(|i| i.0), Ok("11010519491231002X".into()));
        assert_eq!(parse("１１０１０５１９４９１２３１００２ｘ").map(|i| i.0), Ok("11010519491231002X".into()));
    }

    #[test]
    fn accepts_numeric_check_digits() {
        for first in ["44030419900101001", "31011519851231123", "65010220000229456"] {
            let id = with_check(first);
            assert!(parse(&id).is_ok(), "{id} should be valid");
        }
    }

    #[test]
    fn reports_each_error_kind() {
        assert_eq!(parse("   "), Err(IdNumberError::Empty));
        assert_eq!(parse("1101051949123100"), Err(IdNumberError::WrongLength { found: 16 }));
        assert_eq!(parse("11010519491231002X1"), Err(IdNumberError::WrongLength { found: 19 }));
        assert_eq!(parse("1101051949A231002X"), Err(IdNumberError::InvalidCharacter { position: 11 }));
        assert_eq!(parse("110105194912X1002X"), Err(IdNumberError::InvalidCharacter { position: 13 }));
        assert_eq!(parse("1101051949123100-"), Err(IdNumberError::InvalidCharacter { position: 17 }));
        assert_eq!(parse(&with_check("99010519491231002")), Err(IdNumberError::UnknownRegion { prefix: "99".into() }));
        assert_eq!(parse(&with_check("11010519490231002")), Err(IdNumberError::InvalidBirthDate));
        assert_eq!(parse(&with_check("11010519491301002")), Err(IdNumberError::InvalidBirthDate));
        assert_eq!(parse(&with_check("11010518991231002")), Err(IdNumberError::InvalidBirthDate));
        assert_eq!(parse(&with_check("11010520270101002")), Err(IdNumberError::BirthDateInFuture));
        assert_eq!(parse("110105194912310021"), Err(IdNumberError::CheckDigitMismatch { expected: 'X', found: '1' }));
    }

    #[test]
    fn leap_days_follow_the_calendar() {
        assert!(parse(&with_check("11010520000229002")).is_ok());
        assert_eq!(parse(&with_check("11010519000229002")), Err(IdNumberError::InvalidBirthDate));
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            IdNumberError::Empty,
            IdNumberError::WrongLength { found: 1 },
            IdNumberError::InvalidCharacter { position: 1 },
            IdNumberError::UnknownRegion { prefix: "00".into() },
            IdNumberError::InvalidBirthDate,
            IdNumberError::BirthDateInFuture,
            IdNumberError::CheckDigitMismatch { expected: '1', found: '2' },
        ];
        let codes: std::collections::HashSet<_> = errors.iter().map(IdNumberError::code).collect();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn debug_never_shows_the_number() {
        let id = parse("11010519491231002X").expect("valid");
        assert_eq!(format!("{id:?}"), "ResidentId(\"1****************X\")");
    }

    proptest! {
        /// MOD 11-2 detects every single-character substitution, so changing any one digit of a
        /// valid number must be rejected (by the check digit or an earlier rule).
        #[test]
        fn a_corrupted_digit_is_caught(
            region in prop::sample::select(&PROVINCE_PREFIXES[..]),
            rest in "[0-9]{4}",
            days in 0i64..40_000,
            seq in "[0-9]{3}",
            position in 0usize..18,
            delta in 1u8..10,
        ) {
            let birth = date!(1910 - 01 - 01) + time::Duration::days(days);
            prop_assume!(birth <= TODAY);
            let first17 = format!(
                "{region}{rest}{:04}{:02}{:02}{seq}",
                birth.year(), u8::from(birth.month()), birth.day()
            );
            let valid = with_check(&first17);
            prop_assert!(parse(&valid).is_ok());
            let mut bytes = valid.into_bytes();
            let original = bytes[position];
            bytes[position] = if original == b'X' {
                b'0' + delta % 10
            } else {
                b'0' + (original - b'0' + delta) % 10
            };
            let corrupted = String::from_utf8(bytes).expect("ascii");
            prop_assert!(parse(&corrupted).is_err(), "{} accepted", corrupted);
        }

        /// Any input at all: an error or a value, never a panic.
        #[test]
        fn never_panics(input in "\\PC{0,40}") {
            let _ = parse(&input);
        }
    }
}
