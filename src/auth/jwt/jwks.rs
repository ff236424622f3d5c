//! The signing keys: a JWKS read from a file or fetched from an https URL, kept by `kid`.
//!
//! A token naming an unknown `kid` triggers one refresh (keys rotate), shared by every login
//! waiting on it and at most one per `jwks_min_refresh_seconds`, so forged `kid`s cannot turn
//! logins into a flood of fetches. A `kid` is only ever a map key: never a path or a URL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::JwtSettings;

/// Largest JWKS document read.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

pub struct SigningKey {
    pub key: DecodingKey,
    /// The one algorithm this key verifies.
    pub algorithm: Algorithm,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({:?})", self.algorithm)
    }
}

#[derive(Debug, Default)]
struct KeySet {
    by_kid: HashMap<String, Arc<SigningKey>>,
    /// Keys without a `kid`; usable only when they are the set's only key.
    anonymous: Vec<Arc<SigningKey>>,
}

#[derive(Debug)]
enum Source {
    File(PathBuf),
    Url(String, reqwest::Client),
}

#[derive(Debug)]
pub struct JwksCache {
    source: Source,
    keys: ArcSwap<(KeySet, Instant)>,
    /// Held while refreshing (single flight); records the last attempt.
    refresh: tokio::sync::Mutex<Instant>,
    min_refresh: Duration,
    max_age: Duration,
}

impl JwksCache {
    pub async fn new(settings: &JwtSettings) -> Result<Self, String> {
        let source = match (&settings.jwks_file, &settings.jwks_url) {
            (Some(path), None) => Source::File(path.clone()),
            (None, Some(url)) => Source::Url(url.clone(), http_client(settings, url)?),
            _ => return Err("auth.jwt needs exactly one of jwks_file and jwks_url".into()),
        };
        let initial = match fetch(&source).await {
            Ok(keys) => keys,
            Err(e) if matches!(source, Source::Url(..)) => {
                tracing::warn!(error = %e, "JWKS not reachable yet; token logins fetch it on demand");
                KeySet::default()
            }
            Err(e) => return Err(e),
        };
        let past = Instant::now() - Duration::from_secs(3600);
        Ok(Self {
            source,
            keys: ArcSwap::from_pointee((initial, Instant::now())),
            refresh: tokio::sync::Mutex::new(past),
            min_refresh: Duration::from_secs(settings.jwks_min_refresh_seconds),
            max_age: Duration::from_secs(settings.jwks_max_age_seconds.max(1)),
        })
    }

    /// The key a token's `kid` names, refreshing once if it is unknown or the set is old.
    pub async fn find(&self, kid: Option<&str>) -> Option<Arc<SigningKey>> {
        let current = self.keys.load_full();
        if current.1.elapsed() < self.max_age {
            if let Some(key) = lookup(&current.0, kid) {
                return Some(key);
            }
        }
        self.refresh(current.1).await;
        lookup(&self.keys.load().0, kid)
    }

    /// Re-reads the keys unless another login already did since `seen`, or one was tried
    /// within the minimum interval.
    async fn refresh(&self, seen: Instant) {
        let mut last_attempt = self.refresh.lock().await;
        if self.keys.load().1 > seen || last_attempt.elapsed() < self.min_refresh {
            return;
        }
        *last_attempt = Instant::now();
        match fetch(&self.source).await {
            Ok(keys) => {
                tracing::info!(
                    keys = keys.by_kid.len() + keys.anonymous.len(),
                    "JWKS refreshed"
                );
                self.keys.store(Arc::new((keys, Instant::now())));
            }
            Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the previous keys"),
        }
    }
}

fn lookup(keys: &KeySet, kid: Option<&str>) -> Option<Arc<SigningKey>> {
    match kid {
        Some(kid) => keys.by_kid.get(kid).cloned(),
        None if keys.by_kid.len() + keys.anonymous.len() == 1 => keys
            .anonymous
            .first()
            .or_else(|| keys.by_kid.values().next())
            .cloned(),
        None => None,
    }
}

fn http_client(settings: &JwtSettings, url: &str) -> Result<reqwest::Client, String> {
    if !url.starts_with("https://") {
        return Err(format!(
            "auth.jwt.jwks_url must be an https URL, not {url:?}"
        ));
    }
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &settings.jwks_ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read auth.jwt.jwks_ca_file {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("auth.jwt.jwks_ca_file {}: {e}", path.display()))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the JWKS client: {e}"))
}

async fn fetch(source: &Source) -> Result<KeySet, String> {
    let bytes = match source {
        Source::File(path) => tokio::fs::read(path)
            .await
            .map_err(|e| format!("cannot read JWKS file {}: {e}", path.display()))?,
        Source::Url(url, client) => fetch_url(url, client).await?,
    };
    if bytes.len() > MAX_JWKS_BYTES {
        return Err("JWKS document is larger than 1 MiB".into());
    }
    let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| format!("invalid JWKS: {e}"))?;
    Ok(key_set(&set.keys))
}

/// The document at `url`, read no further than [`MAX_JWKS_BYTES`].
async fn fetch_url(url: &str, client: &reqwest::Client) -> Result<Vec<u8>, String> {
    let failed = |e: reqwest::Error| format!("cannot fetch JWKS from {url}: {e}");
    let mut response = client
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(failed)?;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(failed)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_JWKS_BYTES {
            return Err("JWKS document is larger than 1 MiB".into());
        }
    }
    Ok(body)
}

fn key_set(jwks: &[Jwk]) -> KeySet {
    let mut keys = KeySet::default();
    for jwk in jwks {
        let kid = jwk.common.key_id.clone();
        match signing_key(jwk) {
            Ok(key) => match kid {
                Some(kid) => {
                    keys.by_kid.insert(kid, Arc::new(key));
                }
                None => keys.anonymous.push(Arc::new(key)),
            },
            Err(reason) => tracing::warn!(?kid, %reason, "JWKS key skipped"),
        }
    }
    keys
}

/// The key and its pinned algorithm; symmetric and unknown key types are never used.
fn signing_key(jwk: &Jwk) -> Result<SigningKey, String> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return Err("not a signing key".into());
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            Algorithm::EdDSA
        }
        _ => return Err("unsupported key type (RSA, EC P-256 and Ed25519 are accepted)".into()),
    };
    if let Some(declared) = jwk.common.key_algorithm {
        if format!("{declared:?}") != format!("{algorithm:?}") {
            return Err(format!(
                "declares {declared:?}, but its type means {algorithm:?}"
            ));
        }
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    Ok(SigningKey { key, algorithm })
}
