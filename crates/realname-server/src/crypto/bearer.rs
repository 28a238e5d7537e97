//! Reading an `Authorization: Bearer <token>` header (the companion API, the admin pages and
//! `/metrics` all take their token this way).

use axum::http::{HeaderMap, header};

/// The token of an `Authorization: Bearer <token>` header (scheme in any case, token trimmed).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    bearer_of(headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

/// The token of an `Authorization` value, if its scheme is `Bearer`.
pub fn bearer_of(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bearer_scheme_only() {
        assert_eq!(bearer_of("Bearer abc"), Some("abc"));
        assert_eq!(bearer_of("bearer  abc "), Some("abc"));
        assert_eq!(bearer_of("Basic abc"), None);
        assert_eq!(bearer_of("Bearer"), None);
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, "BEARER t-1".parse().expect("header value"));
        assert_eq!(bearer_token(&headers), Some("t-1"));
    }
}
