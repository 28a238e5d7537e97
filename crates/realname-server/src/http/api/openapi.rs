//! The OpenAPI 3 document of the companion API, hand-maintained in `openapi.json` next to the
//! crate's `Cargo.toml` and checked by tests against the router and the shared types.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document text.
pub const OPENAPI_JSON: &str = include_str!("../../../openapi.json");

/// `GET /api/v1/openapi.json`.
pub(super) async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use realname_protocol::ErrorCode;

    fn doc() -> serde_json::Value {
        serde_json::from_str(OPENAPI_JSON).expect("openapi.json parses")
    }

    #[test]
    fn every_error_code_is_documented() {
        let d = doc();
        let codes: Vec<String> = d["components"]["schemas"]["ApiError"]["properties"]["code"]["enum"]
            .as_array()
            .expect("enum")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        for code in [
            ErrorCode::HandleUsed,
            ErrorCode::HandleExpired,
            ErrorCode::SessionWrongAccount,
            ErrorCode::IdAlreadyVerified,
            ErrorCode::LockedOut,
            ErrorCode::StationCodeInvalid,
            ErrorCode::NonceInvalid,
        ] {
            assert!(codes.iter().any(|c| c == code.as_str()), "{code} missing");
        }
        for c in &codes {
            let parsed: ErrorCode = serde_json::from_value(serde_json::Value::String(c.clone())).expect("code");
            assert_ne!(parsed, ErrorCode::Unknown, "{c} is not a known code");
        }
    }

    #[test]
    fn documented_paths_are_the_routes() {
        let d = doc();
        let mut paths: Vec<&str> = d["paths"].as_object().expect("paths").keys().map(String::as_str).collect();
        paths.sort_unstable();
        let mut expected = vec![
            "/auth/login",
            "/auth/logout",
            "/auth/refresh",
            "/companion/claim",
            "/companion/sessions/{id}",
            "/companion/sessions/{id}/cancel",
            "/companion/sessions/{id}/capture",
            "/companion/sessions/{id}/confirm",
            "/me",
            "/openapi.json",
        ];
        expected.sort_unstable();
        assert_eq!(paths, expected, "update openapi.json and api::router together");
    }
}
