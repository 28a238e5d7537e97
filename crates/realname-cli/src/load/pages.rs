//! Reading our own PC pages the way a browser would: attribute values (in double quotes,
//! HTML-escaped), the CSRF token and the error code of an alert.

pub(super) fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
            out.push('&');
            rest = &rest[1..];
            continue;
        };
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            e if e.starts_with("#x") || e.starts_with("#X") => {
                u32::from_str_radix(&e[2..], 16).ok().and_then(char::from_u32)
            }
            e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The value of `attr="…"` in the first tag at or after `anchor`.
pub(super) fn attr_after(html: &str, anchor: &str, attr: &str) -> Option<String> {
    let start = html.find(anchor)?;
    let tag_start = html[..start].rfind('<').unwrap_or(start);
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let key = format!("{attr}=\"");
    let v = tag.find(&key)? + key.len();
    let len = tag[v..].find('"')?;
    Some(unescape(&tag[v..v + len]))
}

pub(super) fn csrf_of(html: &str) -> Option<String> {
    attr_after(html, "name=\"csrf\"", "value")
}

/// The `data-code` of an error alert on a page.
pub(super) fn page_error(html: &str) -> Option<String> {
    attr_after(html, "role=\"alert\"", "data-code")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_attributes_are_found_and_unescaped() {
        let html = r#"<form><input type="hidden" name="csrf" value="a&#x2f;b&amp;c"></form>
            <img id="qr" src="&#x2f;verify&#x2f;sessions&#x2f;s1&#x2f;qr.png?h=abc" alt="QR">
            <div class="alert alert-error" role="alert" data-code="identity_mismatch">x</div>"#;
        assert_eq!(csrf_of(html).as_deref(), Some("a/b&c"));
        assert_eq!(attr_after(html, "id=\"qr\"", "src").as_deref(), Some("/verify/sessions/s1/qr.png?h=abc"));
        assert_eq!(page_error(html).as_deref(), Some("identity_mismatch"));
    }
}
