//! The local partner stand-in's side of OAuth 2.0 (the authorization server a real partner
//! runs): it checks authorization requests (registered client and redirect URI, PKCE S256),
//! signs its own users in (partner login + password from `partners import`), asks for consent,
//! issues single-use short-lived codes bound to client, redirect URI and PKCE challenge, and at
//! its token endpoint answers a code + verifier with the verified person of that partner user.
//! Its pages live under `/partner/{name}/oauth/…` (`web/trust.rs`).

use realname_protocol::ErrorCode;
use serde::{Deserialize, Serialize};

use crate::crypto::{self, DataKeys};
use crate::error::{ServerError, ServerResult};
use crate::flows::partner::{PartnerError, PartnerVerification, TokenGrant, pkce_challenge};
use crate::store::Store;
use crate::store::trust::{CodeUse, PartnerAuthCode};

/// Lifetime of the signed ticket between the stand-in's sign-in and consent steps, seconds.
const TICKET_TTL_SECS: i64 = 600;

/// `/partner/{partner}/oauth/{leaf}` with the partner name percent-encoded.
pub fn path(partner: &str, leaf: &str) -> String {
    let encoded: String =
        url::form_urlencoded::byte_serialize(partner.as_bytes()).collect::<String>().replace('+', "%20");
    format!("/partner/{encoded}/oauth/{leaf}")
}

/// The absolute URL of a stand-in endpoint on `origin`.
pub fn endpoint(origin: &str, partner: &str, leaf: &str) -> String {
    format!("{origin}{}", path(partner, leaf))
}

/// The parameters of an authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3), carried
/// through the sign-in and consent steps as hidden fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    #[serde(default)]
    pub response_type: String,
    /// The client.
    #[serde(default)]
    pub client_id: String,
    /// Where the code goes.
    #[serde(default)]
    pub redirect_uri: String,
    /// Asked scope (informational).
    #[serde(default)]
    pub scope: String,
    /// The client's CSRF state, returned unchanged.
    #[serde(default)]
    pub state: String,
    /// PKCE S256 challenge.
    #[serde(default)]
    pub code_challenge: String,
    /// Must be `S256`.
    #[serde(default)]
    pub code_challenge_method: String,
}

/// The client secret the stand-in checks token request signatures with.
pub fn client_secret(flow: &super::PartnerFlow) -> String {
    match &flow.core.config.partners.secret {
        Some(s) => s.expose().to_owned(),
        None => flow.core.keys.csrf_token("partner-client-secret\n"),
    }
}

/// The redirect URIs the stand-in accepts for our client id.
fn registered_redirects(flow: &super::PartnerFlow) -> Vec<String> {
    let mut list = vec![flow.partner_redirect_uri()];
    list.extend(flow.core.config.partners.redirect_uris.iter().cloned());
    list
}

/// Checks an authorization request. An unknown client or redirect URI is never redirected to
/// (RFC 6749 §4.1.2.1): the error is shown on the stand-in's own page.
pub async fn check_authorize(flow: &super::PartnerFlow, partner: &str, p: &AuthorizeParams) -> ServerResult<()> {
    if !flow.core.store.partner_names().await?.iter().any(|n| n == partner) {
        return Err(ServerError::new(ErrorCode::NotFound, "No such partner."));
    }
    if p.client_id != flow.core.config.partners.client_id {
        return Err(ServerError::new(ErrorCode::PartnerClientInvalid, "Unknown client."));
    }
    if !registered_redirects(flow).contains(&p.redirect_uri) {
        return Err(ServerError::new(
            ErrorCode::PartnerRedirectInvalid,
            "The redirect URI is not registered for this client.",
        ));
    }
    let challenge_ok = p.code_challenge.len() == 43
        && p.code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if p.response_type != "code"
        || p.code_challenge_method != "S256"
        || !challenge_ok
        || p.state.is_empty()
        || p.state.len() > 200
    {
        return Err(ServerError::new(
            ErrorCode::BadRequest,
            "The authorization request needs response_type=code, a state and a PKCE S256 code_challenge.",
        ));
    }
    Ok(())
}

fn ticket_text(partner: &str, login: &str, p: &AuthorizeParams, expires: i64) -> String {
    format!(
        "partner-consent\n{partner}\n{login}\n{}\n{}\n{}\n{}\n{expires}",
        p.client_id, p.redirect_uri, p.code_challenge, p.state
    )
}

/// A signed ticket: "`login` signed in at `partner` for this authorization request", valid
/// until `expires` (the consent step needs it; it cannot be moved to another request).
pub fn ticket(keys: &DataKeys, partner: &str, login: &str, p: &AuthorizeParams, now: i64) -> (String, i64) {
    let expires = now + TICKET_TTL_SECS;
    (keys.csrf_token(&ticket_text(partner, login, p, expires)), expires)
}

/// Checks a ticket from the consent form.
pub fn ticket_valid(
    keys: &DataKeys,
    partner: &str,
    login: &str,
    p: &AuthorizeParams,
    expires: i64,
    ticket: &str,
    now: i64,
) -> bool {
    expires > now && keys.csrf_valid(&ticket_text(partner, login, p, expires), ticket)
}

/// Checks a partner user's password (constant work for unknown logins).
pub async fn sign_in(flow: &super::PartnerFlow, partner: &str, login: &str, password: &str) -> ServerResult<bool> {
    let found = if login.is_empty() || login.chars().count() > 128 {
        None
    } else {
        flow.core.store.partner_login(partner, login).await?
    };
    let stored = found.and_then(|(_, hash)| hash).unwrap_or_else(|| crypto::dummy_password_hash().to_owned());
    let password = password.to_owned();
    Ok(tokio::task::spawn_blocking(move || crypto::verify_password(&password, &stored)).await.unwrap_or(false))
}

/// After consent: a fresh single-use code for `login`, and the redirect back to the client.
pub async fn issue_code(
    flow: &super::PartnerFlow,
    partner: &str,
    login: &str,
    p: &AuthorizeParams,
) -> ServerResult<String> {
    let code = crypto::random_token("");
    let now = flow.core.now();
    flow.core
        .store
        .insert_partner_auth_code(&PartnerAuthCode {
            code_hash: crypto::token_hash(&code),
            partner: partner.to_owned(),
            login: login.to_owned(),
            client_id: p.client_id.clone(),
            redirect_uri: p.redirect_uri.clone(),
            code_challenge: p.code_challenge.clone(),
            created_at: now,
            expires_at: now + flow.core.config.partners.code_ttl_secs,
            used_at: None,
        })
        .await?;
    redirect_with(&p.redirect_uri, &[("code", &code), ("state", &p.state)])
}

/// `redirect_uri` with query parameters added.
pub fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)]) -> ServerResult<String> {
    let mut url = url::Url::parse(redirect_uri).map_err(ServerError::internal)?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}

/// The token endpoint's checks (RFC 6749 §4.1.3, RFC 7636 §4.6), in-process or behind the
/// HTTP route alike: the code is used up first (a second exchange is refused even if the
/// first one failed a later check), then partner, client, lifetime, redirect URI and verifier
/// are checked; the answer is the verified person of the partner user who approved.
pub async fn exchange_code(
    store: &dyn Store,
    keys: &DataKeys,
    now: i64,
    partner: &str,
    grant: &TokenGrant,
) -> Result<Result<PartnerVerification, ErrorCode>, PartnerError> {
    if grant.grant_type != "authorization_code" || grant.code.is_empty() || grant.code.len() > 200 {
        return Ok(Err(ErrorCode::PartnerCodeInvalid));
    }
    let code = match store.use_partner_auth_code(&crypto::token_hash(&grant.code), now).await? {
        CodeUse::First(code) => code,
        CodeUse::Reused => return Ok(Err(ErrorCode::PartnerCodeUsed)),
        CodeUse::Unknown => return Ok(Err(ErrorCode::PartnerCodeInvalid)),
    };
    if code.partner != partner {
        return Ok(Err(ErrorCode::PartnerCodeInvalid));
    }
    if code.client_id != grant.client_id {
        return Ok(Err(ErrorCode::PartnerClientInvalid));
    }
    if code.expires_at <= now {
        return Ok(Err(ErrorCode::PartnerCodeExpired));
    }
    if code.redirect_uri != grant.redirect_uri {
        return Ok(Err(ErrorCode::PartnerRedirectInvalid));
    }
    let verifier_ok = (43..=128).contains(&grant.code_verifier.len())
        && crate::crypto::same_secret(&pkce_challenge(&grant.code_verifier), &code.code_challenge);
    if !verifier_ok {
        return Ok(Err(ErrorCode::PartnerVerifierInvalid));
    }
    let Some((record, _)) = store.partner_login(partner, &code.login).await? else {
        return Ok(Err(ErrorCode::PartnerNotVerified));
    };
    Ok(Ok(PartnerVerification {
        partner: record.partner,
        name: keys.decrypt_string(&record.name_enc)?,
        id_number: keys.decrypt_string(&record.id_enc)?,
        verified_at: record.verified_at,
    }))
}

/// The OAuth `error` value of a refusal.
pub fn oauth_error(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::PartnerClientInvalid => "invalid_client",
        _ => "invalid_grant",
    }
}
