//! Redirect targets taken from a request (`/lang/{code}?next=…`): only a path on this server
//! is followed, judged the way a browser would read the `Location` header.

/// `next` as a same-origin path (`/path?query`), or `None` when it could lead elsewhere.
///
/// Browsers strip tabs and newlines from URLs and read `\` as `/`, so `/\t/evil.example` and
/// `/\evil.example` mean `//evil.example`, another host. Such input is refused outright, as
/// is anything with control characters or spaces, and anything that decodes (percent-escapes
/// undone) to one of those shapes. What is left is parsed against a fixed base; it must stay
/// on that origin, and the parsed (normalised) path and query are what the redirect carries.
pub(super) fn local_path(next: &str) -> Option<String> {
    if next.len() > 2048 || !next.starts_with('/') {
        return None;
    }
    let looks_foreign =
        |s: &str| s.starts_with("//") || s.contains('\\') || s.chars().any(|c| c.is_control() || c.is_whitespace());
    if looks_foreign(next) || looks_foreign(&percent_decode(next)) {
        return None;
    }
    let base = url::Url::parse("http://realname.invalid/").ok()?;
    let parsed = base.join(next).ok()?;
    if parsed.origin() != base.origin() || !parsed.username().is_empty() || parsed.password().is_some() {
        return None;
    }
    let mut out = parsed.path().to_owned();
    if looks_foreign(&out) {
        return None;
    }
    if let Some(q) = parsed.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

/// Undoes `%XX` escapes (twice-encoded input stays encoded once; that is still checked).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_same_origin_paths_pass() {
        assert_eq!(local_path("/verify").as_deref(), Some("/verify"));
        assert_eq!(local_path("/verify/method?manual=1").as_deref(), Some("/verify/method?manual=1"));
        for bad in [
            "//evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/ /evil.example",
            "/\u{0}x",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?} must be refused");
        }
    }
}
