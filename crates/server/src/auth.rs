//! Access tokens: JWTs whose `sub` is the user name. HS256 with a shared secret, or RS256
//! with a public key. Tokens are secrets: nothing here logs one or puts one in an error.
//!
//! A token minted at sign-in carries `sid`, the id of its sign-in session (the refresh-token
//! family). Signing out puts the `sid` on [`Revocations`], an in-memory deny list kept until
//! the longest access token of that session has expired: from then on such tokens are
//! refused, and live connections that watch the list close. Tokens without `sid` (minted
//! by `tidings-server token`, or from an outside issuer) stay valid until `exp`.

use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The claims Tidings reads. `exp` is required.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub sub: String,
    /// Required; optional here only so that its absence is reported as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The sign-in session (refresh-token family) the token was minted for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: Arc<str>,
    pub roles: Arc<[String]>,
    /// The token's sign-in session, if it has one (see the module doc).
    pub sid: Option<Arc<str>>,
    /// The token's `exp` (seconds since the epoch), if known.
    pub expires_at: Option<u64>,
}

impl Principal {
    pub fn new(name: &str, roles: &[&str]) -> Principal {
        Principal {
            name: name.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            sid: None,
            expires_at: None,
        }
    }
}

/// Signed-out sign-in sessions whose access tokens may not have expired yet. In memory:
/// after a restart, signed-out access tokens work again until their `exp` (at most
/// `auth.access_ttl_secs`); their refresh tokens stay revoked in the store.
#[derive(Debug)]
pub struct Revocations {
    // A plain mutex: lookups and inserts, no awaits.
    denied: Mutex<HashMap<Arc<str>, u64>>,
    /// Bumped on every revocation, so live connections re-check their `sid`.
    changed: watch::Sender<u64>,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations {
            denied: Mutex::new(HashMap::new()),
            changed: watch::channel(0).0,
        }
    }
}

impl Revocations {
    /// Refuses tokens of `sid` until `until` (seconds since the epoch), and wakes watchers.
    pub fn revoke(&self, sid: &str, until: u64) {
        let now = jsonwebtoken::get_current_timestamp();
        {
            let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
            // Entries whose tokens have all expired carry no information.
            denied.retain(|_, t| *t >= now);
            let t = denied.entry(sid.into()).or_insert(until);
            *t = (*t).max(until);
        }
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn is_revoked(&self, sid: &str) -> bool {
        let now = jsonwebtoken::get_current_timestamp();
        self.denied
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .is_some_and(|t| *t >= now)
    }

    /// Changes whenever a session is revoked; check [`Revocations::is_revoked`] then.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

/// Why a token was refused. The text goes to the client in an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing access token: send it as 'Authorization: Bearer <jwt>', as the passcode header, or over WebSocket as ?token= on the URL")]
    Missing,
    #[error("malformed access token: not a JWT")]
    Malformed,
    #[error("access token expired")]
    Expired,
    #[error("access token signature is invalid")]
    BadSignature,
    #[error("access token revoked: its session was signed out")]
    Revoked,
    #[error("access token is invalid: {0}")]
    Invalid(String),
}

impl TokenError {
    /// A short label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TokenError::Missing => "token_missing",
            TokenError::Malformed => "token_malformed",
            TokenError::Expired => "token_expired",
            TokenError::BadSignature => "token_bad_signature",
            TokenError::Revoked => "token_revoked",
            TokenError::Invalid(_) => "token_invalid",
        }
    }
}

/// Checks access tokens (and, with an HS256 secret, mints them for tools and tests).
#[derive(Clone)]
pub struct Authenticator {
    decoding: DecodingKey,
    encoding: Option<EncodingKey>,
    validation: Validation,
    revocations: Arc<Revocations>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately omits the keys.
        f.debug_struct("Authenticator")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn hs256(secret: &[u8], leeway_secs: u64) -> Authenticator {
        Authenticator {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation: validation(Algorithm::HS256, leeway_secs),
            revocations: Arc::default(),
        }
    }

    pub fn rs256(public_key_pem: &[u8], leeway_secs: u64) -> anyhow::Result<Authenticator> {
        Ok(Authenticator {
            decoding: DecodingKey::from_rsa_pem(public_key_pem)
                .context("jwt.rs256_public_key is not an RSA public key in PEM")?,
            encoding: None,
            validation: validation(Algorithm::RS256, leeway_secs),
            revocations: Arc::default(),
        })
    }

    /// Builds the authenticator the configuration asks for. With neither a secret nor a
    /// public key, a random secret is generated once and kept in `data_dir/jwt-secret`.
    pub fn from_config(jwt: &crate::config::JwtConfig, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(path) = &jwt.rs256_public_key {
            let pem = std::fs::read(path)
                .with_context(|| format!("cannot read jwt.rs256_public_key {}", path.display()))?;
            return Authenticator::rs256(&pem, jwt.leeway_secs);
        }
        let secret = match &jwt.secret {
            Some(s) if s.len() < 16 => {
                anyhow::bail!("the JWT secret must be at least 16 characters long")
            }
            Some(s) => s.clone().into_bytes(),
            None => stored_secret(data_dir)?,
        };
        Ok(Authenticator::hs256(&secret, jwt.leeway_secs))
    }

    /// Verifies a token and returns who it names.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        // Named before decoding: jsonwebtoken cannot parse a header whose `alg` it does not
        // know (`none`), and would report it as bad JSON.
        if let Some(alg) = header_alg(token) {
            if !self
                .validation
                .algorithms
                .iter()
                .any(|a| format!("{a:?}") == alg)
            {
                return Err(TokenError::Invalid(format!(
                    "signed with an algorithm this server does not accept (it accepts {:?})",
                    self.validation.algorithms[0]
                )));
            }
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
                    TokenError::Malformed
                }
                ErrorKind::Json(_) => TokenError::Invalid("claims are not valid JSON".into()),
                ErrorKind::MissingRequiredClaim(c) => {
                    TokenError::Invalid(format!("the {c} claim is required"))
                }
                ErrorKind::InvalidAlgorithm => TokenError::Invalid(
                    "signed with an algorithm this server does not accept".into(),
                ),
                ErrorKind::ImmatureSignature => TokenError::Invalid("not valid yet (nbf)".into()),
                other => TokenError::Invalid(format!("{other:?}")),
            })?;
        let claims = data.claims;
        if claims.sub.is_empty() || claims.sub.contains('/') || claims.sub.len() > 128 {
            return Err(TokenError::Invalid(
                "the sub claim must be 1-128 characters without '/'".into(),
            ));
        }
        if let Some(sid) = &claims.sid {
            if self.revocations.is_revoked(sid) {
                return Err(TokenError::Revoked);
            }
        }
        Ok(Principal {
            name: claims.sub.into(),
            roles: claims.roles.into(),
            sid: claims.sid.map(Into::into),
            expires_at: claims.exp,
        })
    }

    /// Resolves when `who`'s token stops being valid: at its `exp` plus the leeway, or when
    /// its sign-in session is signed out. Live connections end then (see docs/server.md,
    /// "Limits against abuse"); a token without `exp` or `sid` leaves that part out.
    pub fn token_end(
        &self,
        who: &Principal,
    ) -> impl std::future::Future<Output = TokenError> + Send + Sync + 'static {
        let revocations = self.revocations.clone();
        let mut sid = who.sid.clone();
        let deadline = who.expires_at.map(|exp| {
            let left = (exp + self.validation.leeway)
                .saturating_sub(jsonwebtoken::get_current_timestamp());
            tokio::time::Instant::now() + std::time::Duration::from_secs(left)
        });
        async move {
            let mut changes = revocations.watch();
            let expiry = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(expiry);
            loop {
                if sid.as_deref().is_some_and(|s| revocations.is_revoked(s)) {
                    return TokenError::Revoked;
                }
                tokio::select! {
                    () = &mut expiry => return TokenError::Expired,
                    changed = changes.changed(), if sid.is_some() => {
                        if changed.is_err() {
                            sid = None;
                        }
                    }
                }
            }
        }
    }

    /// The sign-in sessions signed out early.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    pub fn leeway_secs(&self) -> u64 {
        self.validation.leeway
    }

    /// Whether this server can mint tokens (it has the HS256 secret).
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    /// Mints an HS256 token for `sub` valid for `ttl_secs` (tools, demo data and tests).
    pub fn mint(&self, sub: &str, roles: &[String], ttl_secs: u64) -> anyhow::Result<String> {
        self.mint_for_session(sub, roles, ttl_secs, None)
    }

    /// Mints a token that belongs to the sign-in session `sid` (see the module doc).
    pub fn mint_for_session(
        &self,
        sub: &str,
        roles: &[String],
        ttl_secs: u64,
        sid: Option<&str>,
    ) -> anyhow::Result<String> {
        let key = self
            .encoding
            .as_ref()
            .context("tokens can only be minted with an HS256 secret")?;
        let claims = Claims {
            sub: sub.to_owned(),
            exp: Some(jsonwebtoken::get_current_timestamp() + ttl_secs),
            roles: roles.to_vec(),
            sid: sid.map(str::to_owned),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .context("cannot sign the token")
    }
}

/// What this server checks: the one algorithm, `exp` and `sub` required, `nbf` if present.
fn validation(alg: Algorithm, leeway_secs: u64) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = leeway_secs;
    v.validate_nbf = true;
    v.set_required_spec_claims(&["exp", "sub"]);
    v
}

/// The `alg` of a token's header, if the header is readable JSON.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine;
    let head = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(head.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

/// Reads `data_dir/jwt-secret`, creating it (mode 0600) on first use.
fn stored_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 16 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => anyhow::bail!("{} is too short to be a JWT secret", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    std::io::Write::write_all(&mut file, secret.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(secret.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_bad_token_is_named() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123", 0);
        let good = auth.mint("alice", &[], 60).unwrap();
        assert_eq!(&*auth.verify(&good).unwrap().name, "alice");
        assert_eq!(auth.verify(""), Err(TokenError::Missing));
        assert_eq!(auth.verify("not-a-jwt"), Err(TokenError::Malformed));
        let other = Authenticator::hs256(b"another-secret-of-16+", 0);
        assert_eq!(
            auth.verify(&other.mint("alice", &[], 60).unwrap()),
            Err(TokenError::BadSignature)
        );
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &Claims {
                sub: "alice".into(),
                exp: Some(1_000),
                roles: vec![],
                sid: None,
            },
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert_eq!(auth.verify(&expired), Err(TokenError::Expired));
    }

    fn unsigned(header: &str, claims: &str) -> String {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.", e.encode(header), e.encode(claims))
    }

    #[test]
    fn alg_none_is_named_as_an_algorithm_not_accepted() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123", 0);
        let t = unsigned(
            r#"{"alg":"none","typ":"JWT"}"#,
            r#"{"sub":"alice","exp":9999999999}"#,
        );
        let e = auth.verify(&t).unwrap_err().to_string();
        assert!(e.contains("algorithm this server does not accept"), "{e}");
    }

    #[test]
    fn a_future_nbf_is_refused() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123", 5);
        let now = jsonwebtoken::get_current_timestamp();
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"sub": "alice", "exp": now + 3600, "nbf": now + 600}),
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        let e = auth.verify(&t).unwrap_err().to_string();
        assert!(e.contains("nbf"), "{e}");
    }

    #[test]
    fn a_revoked_session_is_refused_and_tokens_without_one_are_not() {
        let auth = Authenticator::hs256(b"0123456789abcdef0123", 0);
        let mine = auth
            .mint_for_session("alice", &[], 60, Some("fam1"))
            .unwrap();
        let cli = auth.mint("alice", &[], 60).unwrap();
        let p = auth.verify(&mine).unwrap();
        assert_eq!(p.sid.as_deref(), Some("fam1"));
        let w = auth.revocations().watch();
        auth.revocations()
            .revoke("fam1", jsonwebtoken::get_current_timestamp() + 60);
        assert!(w.has_changed().unwrap());
        assert_eq!(auth.verify(&mine), Err(TokenError::Revoked));
        assert!(auth.verify(&cli).is_ok());
    }

    #[test]
    fn generated_secret_is_kept_and_reused() {
        let dir = std::env::temp_dir().join(format!("tidings-auth-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let a = stored_secret(&dir).unwrap();
        let b = stored_secret(&dir).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
