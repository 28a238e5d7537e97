//! The kinds the store keeps as text, as enums: [`DeviceKind`] (`devices.kind`) and
//! [`TokenKind`] (`device_tokens.kind`). Each reads and writes exactly the text the column
//! has always held, so no migration changes; an unknown stored text is a decode error.

/// An enum stored as one of a fixed set of texts: `as_str`, `parse`, `Display`, `Serialize`
/// (as the text), comparison with a `&str`, and sqlx decoding from a text column.
macro_rules! stored_text {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every kind.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Reads the stored text.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            String: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            String: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, DB>>::decode(value)?;
                Self::parse(&text).ok_or_else(|| format!("unknown {} {text:?}", stringify!($name)).into())
            }
        }
    };
}

stored_text! {
    /// What kind of companion a device is.
    DeviceKind {
        /// A personal app signed in to an account.
        Personal => "personal",
        /// A kiosk station (signed in with a station credential, no account).
        Station => "station",
    }
}

stored_text! {
    /// What a companion token is for.
    TokenKind {
        /// Short-lived: authorizes API calls.
        Access => "access",
        /// Long-lived, single-use: buys a new token pair.
        Refresh => "refresh",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_read_back_the_text_they_write() {
        for k in DeviceKind::ALL {
            assert_eq!(DeviceKind::parse(k.as_str()), Some(*k));
        }
        for k in TokenKind::ALL {
            assert_eq!(TokenKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!((DeviceKind::Station.as_str(), TokenKind::Refresh.as_str()), ("station", "refresh"));
        assert_eq!(DeviceKind::parse("kiosk"), None);
        assert_eq!(serde_json::to_string(&TokenKind::Access).expect("json"), "\"access\"");
        assert!(DeviceKind::Personal == "personal");
    }
}
