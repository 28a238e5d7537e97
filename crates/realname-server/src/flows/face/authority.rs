//! The identity authority: does this name belong to this ID number, and what does the holder
//! look like? [`LocalRegistry`] answers from the backend's own database (filled by
//! [`import_registry`], the `authority import` admin command); [`HttpAuthority`] asks a remote
//! provider.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use realname_face::{Descriptor, ImageLimits};
use realname_protocol::{PersonName, ResidentId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypto::DataKeys;
pub use crate::directories::authority::{AuthorityError, AuthorityVerdict, IdentityAuthority};
use crate::face::SharedAnalyzer;
use crate::settings::Secret;
use crate::store::{AuthorityRecord, Store, StoreError};

/// Which identity authority answers name ↔ ID checks and provides reference faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorityKind {
    /// The local registry in the backend's own database (filled by `authority import`).
    #[default]
    Local,
    /// A remote provider over HTTP (see [`AuthorityConfig`]).
    Http,
}

/// Identity authority settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthorityConfig {
    /// `local` or `http`.
    pub kind: AuthorityKind,
    /// Base URL of the HTTP provider (`{url}/v1/check`, `{url}/v1/reference`).
    pub url: Option<String>,
    /// Bearer token for the HTTP provider.
    pub api_key: Option<Secret>,
    /// Per-request timeout, milliseconds.
    pub timeout_ms: u64,
    /// Retries after a failed request (timeouts and 5xx only).
    pub retries: u32,
}

impl Default for AuthorityConfig {
    fn default() -> Self {
        Self { kind: AuthorityKind::Local, url: None, api_key: None, timeout_ms: 3000, retries: 2 }
    }
}

/// The local registry in the backend's database.
#[derive(Debug, Clone)]
pub struct LocalRegistry {
    store: Arc<dyn Store>,
    keys: DataKeys,
}

impl LocalRegistry {
    /// A registry over `store`.
    pub fn new(store: Arc<dyn Store>, keys: DataKeys) -> Self {
        Self { store, keys }
    }
}

/// Names compare after the same normalisation as the form (whitespace collapsed), ignoring
/// ASCII case for Latin-script names.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    norm(a) == norm(b)
}

#[async_trait]
impl IdentityAuthority for LocalRegistry {
    async fn check(&self, name: &PersonName, id: &ResidentId) -> Result<AuthorityVerdict, AuthorityError> {
        let Some(record) = self.store.authority_record(&self.keys.id_hash(id.as_str())).await? else {
            return Ok(AuthorityVerdict::Unknown);
        };
        let stored = self.keys.decrypt_string(&record.name_enc)?;
        Ok(if same_name(&stored, name.as_str()) { AuthorityVerdict::Match } else { AuthorityVerdict::Mismatch })
    }

    async fn reference(&self, id: &ResidentId) -> Result<Option<Descriptor>, AuthorityError> {
        let record = self.store.authority_record(&self.keys.id_hash(id.as_str())).await?;
        Ok(record.and_then(|r| r.descriptor).and_then(|d| Descriptor::from_bytes(&d)))
    }
}

/// A remote identity provider.
///
/// Protocol: `POST {url}/v1/check` with `{"name", "id_number"}` → `{"result": "match" |
/// "mismatch" | "unknown"}`; `POST {url}/v1/reference` with `{"id_number"}` →
/// `{"descriptor": [128 numbers]}` or `{"photo_base64": "…"}` (a JPEG/PNG the server analyses)
/// or 404. `Authorization: Bearer <api_key>` when configured. Timeouts and 5xx answers are
/// retried with a short backoff.
#[derive(Debug, Clone)]
pub struct HttpAuthority {
    client: reqwest::Client,
    base: String,
    api_key: Option<crate::settings::Secret>,
    retries: u32,
    analyzer: SharedAnalyzer,
}

#[derive(Serialize)]
struct CheckBody<'a> {
    name: &'a str,
    id_number: &'a str,
}

#[derive(Deserialize)]
struct CheckAnswer {
    result: AuthorityVerdict,
}

#[derive(Serialize)]
struct ReferenceBody<'a> {
    id_number: &'a str,
}

#[derive(Deserialize)]
struct ReferenceAnswer {
    #[serde(default)]
    descriptor: Option<Vec<f32>>,
    #[serde(default)]
    photo_base64: Option<String>,
}

impl HttpAuthority {
    /// A client for the provider at `base` (no trailing slash needed).
    pub fn new(
        base: &str,
        api_key: Option<crate::settings::Secret>,
        timeout: Duration,
        retries: u32,
        analyzer: SharedAnalyzer,
    ) -> Result<Self, AuthorityError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| AuthorityError::Unavailable(e.to_string()))?;
        Ok(Self { client, base: base.trim_end_matches('/').to_owned(), api_key, retries, analyzer })
    }

    async fn post<B: Serialize + Sync>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<Option<reqwest::Response>, AuthorityError> {
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        for attempt in 0..=self.retries {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            let mut req = self.client.post(&url).json(body);
            if let Some(key) = &self.api_key {
                req = req.bearer_auth(key.expose());
            }
            match req.send().await {
                Ok(resp) if resp.status() == reqwest::StatusCode::NOT_FOUND => return Ok(None),
                Ok(resp) if resp.status().is_success() => return Ok(Some(resp)),
                Ok(resp) if resp.status().is_server_error() => last = format!("status {}", resp.status()),
                Ok(resp) => return Err(AuthorityError::Unavailable(format!("status {}", resp.status()))),
                Err(e) if e.is_timeout() || e.is_connect() => last = "timeout or connection failure".into(),
                Err(e) => return Err(AuthorityError::Unavailable(e.without_url().to_string())),
            }
            tracing::warn!(attempt, reason = %last, "identity authority request failed");
        }
        Err(AuthorityError::Unavailable(last))
    }
}

#[async_trait]
impl IdentityAuthority for HttpAuthority {
    async fn check(&self, name: &PersonName, id: &ResidentId) -> Result<AuthorityVerdict, AuthorityError> {
        let body = CheckBody { name: name.as_str(), id_number: id.as_str() };
        let Some(resp) = self.post("/v1/check", &body).await? else { return Ok(AuthorityVerdict::Unknown) };
        let answer: CheckAnswer =
            resp.json().await.map_err(|_| AuthorityError::Unavailable("malformed check answer".into()))?;
        Ok(answer.result)
    }

    async fn reference(&self, id: &ResidentId) -> Result<Option<Descriptor>, AuthorityError> {
        let Some(resp) = self.post("/v1/reference", &ReferenceBody { id_number: id.as_str() }).await? else {
            return Ok(None);
        };
        let answer: ReferenceAnswer =
            resp.json().await.map_err(|_| AuthorityError::Unavailable("malformed reference answer".into()))?;
        if let Some(values) = answer.descriptor {
            let arr: [f32; 128] = values
                .try_into()
                .map_err(|_| AuthorityError::Unavailable("reference descriptor is not 128 numbers".into()))?;
            return Ok(Some(Descriptor(arr)));
        }
        let Some(photo) = answer.photo_base64 else { return Ok(None) };
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(photo.trim())
            .map_err(|_| AuthorityError::Unavailable("reference photo is not base64".into()))?;
        let analyzer = self.analyzer.clone();
        let descriptor = tokio::task::spawn_blocking(move || reference_descriptor(&*analyzer, &bytes))
            .await
            .map_err(|e| AuthorityError::Unavailable(e.to_string()))?;
        Ok(descriptor.ok())
    }
}

/// Why a reference photo gives no descriptor.
#[derive(Debug, thiserror::Error)]
pub enum ReferencePhotoError {
    /// Not a decodable image within the limits.
    #[error("photo cannot be decoded: {0}")]
    Decode(String),
    /// No face, or more than one.
    #[error("photo shows {0} faces, expected exactly one")]
    FaceCount(usize),
    /// The engine failed.
    #[error("face engine: {0}")]
    Engine(String),
}

/// The descriptor of the single face in a reference photo. Blocking.
pub fn reference_descriptor(
    analyzer: &dyn crate::face::FaceAnalyzer,
    bytes: &[u8],
) -> Result<Descriptor, ReferencePhotoError> {
    let image = realname_face::decode_image(bytes, &ImageLimits::default())
        .map_err(|e| ReferencePhotoError::Decode(e.to_string()))?;
    let faces = analyzer.analyze(&image).map_err(|e| ReferencePhotoError::Engine(e.to_string()))?;
    match faces.as_slice() {
        [one] => Ok(one.descriptor),
        other => Err(ReferencePhotoError::FaceCount(other.len())),
    }
}

/// Outcome of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Rows stored.
    pub imported: usize,
    /// Rows refused: `(line number, reason)` — reasons never contain the row's data.
    pub rejected: Vec<(usize, String)>,
}

/// Imports `name,id_number,photo` rows (a header row is recognised and skipped; fields may
/// be double-quoted) with photos relative to `photos_dir`, storing each reference descriptor.
pub async fn import_registry(
    store: &dyn Store,
    keys: &DataKeys,
    analyzer: SharedAnalyzer,
    csv_text: &str,
    photos_dir: &Path,
    today: time::Date,
    now: i64,
) -> Result<ImportReport, StoreError> {
    let mut report = ImportReport::default();
    for (line_no, fields) in csv_records(csv_text, "name") {
        let [name, id, photo] = fields.as_slice() else {
            report.rejected.push((line_no, "expected 3 fields: name,id_number,photo".into()));
            continue;
        };
        let (name, id) = match parse_person(name, id, today) {
            Ok(person) => person,
            Err(code) => {
                report.rejected.push((line_no, code.into()));
                continue;
            }
        };
        // Demo numbers come only from `demo enroll` (flagged, demo mode only).
        if crate::flows::face::demo::is_demo_id(id.as_str()) {
            report.rejected.push((line_no, "id_number_demo_range (use `demo enroll`)".into()));
            continue;
        }
        let path = photos_dir.join(photo);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) => {
                report.rejected.push((line_no, format!("photo cannot be read: {}", e.kind())));
                continue;
            }
        };
        let sha = hex::encode(Sha256::digest(&bytes));
        let engine = analyzer.clone();
        let descriptor = match tokio::task::spawn_blocking(move || reference_descriptor(&*engine, &bytes)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                report.rejected.push((line_no, format!("photo: {e}")));
                continue;
            }
            Err(e) => {
                report.rejected.push((line_no, format!("photo: {e}")));
                continue;
            }
        };
        store
            .upsert_authority_record(&AuthorityRecord {
                id_hash: keys.id_hash(id.as_str()),
                id_enc: keys.encrypt(id.as_str().as_bytes()),
                name_enc: keys.encrypt(name.as_str().as_bytes()),
                descriptor: Some(descriptor.to_bytes().to_vec()),
                photo_sha256: sha,
                imported_at: now,
            })
            .await?;
        report.imported += 1;
    }
    Ok(report)
}

/// The records of an import CSV as `(line number, fields)`: blank lines, `#` comments and a
/// header row (first field equal to `header`, any case) are skipped.
pub(crate) fn csv_records<'a>(csv_text: &'a str, header: &'a str) -> impl Iterator<Item = (usize, Vec<String>)> + 'a {
    csv_text.lines().enumerate().filter_map(move |(index, line)| {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            return None;
        }
        let fields = split_csv_line(line);
        if index == 0 && fields.first().is_some_and(|f| f.eq_ignore_ascii_case(header)) {
            return None;
        }
        Some((index + 1, fields))
    })
}

/// The name and resident ID number of an import row, or the stable code of the first error.
pub(crate) fn parse_person(name: &str, id: &str, today: time::Date) -> Result<(PersonName, ResidentId), &'static str> {
    let name = PersonName::parse(name).map_err(|e| e.code())?;
    let id = ResidentId::parse(id, today).map_err(|e| e.code())?;
    Ok((name, id))
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if cur.trim().is_empty() => {
                cur.clear();
                quoted = true;
            }
            (',', false) => fields.push(std::mem::take(&mut cur).trim().to_owned()),
            (c, _) => cur.push(c),
        }
    }
    fields.push(cur.trim().to_owned());
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_split_with_quotes() {
        assert_eq!(split_csv_line("张三, 11010519491231002X ,a.jpg"), ["张三", "11010519491231002X", "a.jpg"]);
        assert_eq!(split_csv_line("\"Smith, John\",1,\"x \"\"y\"\".png\""), ["Smith, John", "1", "x \"y\".png"]);
    }

    #[test]
    fn names_compare_normalised() {
        assert!(same_name("Barack  Obama", "barack obama"));
        assert!(!same_name("张三", "李四"));
    }
}
