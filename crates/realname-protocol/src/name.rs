//! A person's legal name as entered on the identity form: normalisation and validation.

use std::fmt;

/// Longest name accepted, in characters (long minority and foreign names exist).
pub const MAX_NAME_CHARS: usize = 50;

/// Why a name was rejected. Each variant maps to a stable [`code`](Self::code).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was entered.
    #[error("the name is empty")]
    Empty,
    /// More than [`MAX_NAME_CHARS`] characters.
    #[error("the name is longer than {MAX_NAME_CHARS} characters")]
    TooLong,
    /// Digits, symbols or control characters.
    #[error("the name contains a character that cannot be part of a name")]
    InvalidCharacter,
}

impl NameError {
    /// Stable machine-readable code for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "name_empty",
            Self::TooLong => "name_too_long",
            Self::InvalidCharacter => "name_character",
        }
    }
}

/// A validated name: trimmed, inner whitespace collapsed to one space, letters of any script
/// plus the separators used in names (`·`, `•`, space, hyphen, apostrophe, full stop).
///
/// `Debug` masks the name so that it cannot reach a log line by accident.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Parses and normalises a name.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let collapsed = input.split_whitespace().collect::<Vec<_>>().join(" ");
        // Normalise the different middle dots to the one used on ID cards.
        let normalised: String =
            collapsed.chars().map(|c| if matches!(c, '•' | '・' | '‧' | '∙') { '·' } else { c }).collect();
        let count = normalised.chars().count();
        if count == 0 {
            return Err(NameError::Empty);
        }
        if count > MAX_NAME_CHARS {
            return Err(NameError::TooLong);
        }
        let allowed = |c: char| c.is_alphabetic() || matches!(c, '·' | ' ' | '-' | '\'' | '.');
        if !normalised.chars().all(allowed) || !normalised.chars().any(char::is_alphabetic) {
            return Err(NameError::InvalidCharacter);
        }
        Ok(Self(normalised))
    }

    /// The full name. Handle with care: never log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name masked for display (`*三`).
    pub fn masked(&self) -> String {
        crate::mask::mask_name(&self.0)
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PersonName").field(&self.masked()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises_names() {
        assert_eq!(PersonName::parse(" 张三 ").map(|n| n.0), Ok("张三".into()));
        assert_eq!(PersonName::parse("买买提•艾力").map(|n| n.0), Ok("买买提·艾力".into()));
        assert_eq!(PersonName::parse("Alex   Lacamoire").map(|n| n.0), Ok("Alex Lacamoire".into()));
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(PersonName::parse("  "), Err(NameError::Empty));
        assert_eq!(PersonName::parse("张三3"), Err(NameError::InvalidCharacter));
        assert_eq!(PersonName::parse("<script>"), Err(NameError::InvalidCharacter));
        assert_eq!(PersonName::parse("··"), Err(NameError::InvalidCharacter));
        assert_eq!(PersonName::parse(&"长".repeat(51)), Err(NameError::TooLong));
    }

    #[test]
    fn debug_is_masked() {
        let name = PersonName::parse("张三").expect("valid");
        assert_eq!(format!("{name:?}"), "PersonName(\"*三\")");
    }
}
