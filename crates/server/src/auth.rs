//! Access tokens: JWTs whose `sub` is the user name. HS256 with a shared secret, or RS256
//! with a public key. Tokens are secrets: nothing here logs one or puts one in an error.

use anyhow::Context;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

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
}

/// Who is on the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: Arc<str>,
    pub roles: Arc<[String]>,
}

impl Principal {
    pub fn new(name: &str, roles: &[&str]) -> Principal {
        Principal {
            name: name.into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        }
    }
}

/// Why a token was refused. The text goes to the client in an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("missing access token: send it as 'Authorization: Bearer <jwt>', as the passcode header, or as ?token= on the URL")]
    Missing,
    #[error("malformed access token: not a JWT")]
    Malformed,
    #[error("access token expired")]
    Expired,
    #[error("access token signature is invalid")]
    BadSignature,
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
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Authenticator {
            decoding: DecodingKey::from_secret(secret),
            encoding: Some(EncodingKey::from_secret(secret)),
            validation,
        }
    }

    pub fn rs256(public_key_pem: &[u8], leeway_secs: u64) -> anyhow::Result<Authenticator> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = leeway_secs;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Authenticator {
            decoding: DecodingKey::from_rsa_pem(public_key_pem)
                .context("jwt.rs256_public_key is not an RSA public key in PEM")?,
            encoding: None,
            validation,
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
        Ok(Principal {
            name: claims.sub.into(),
            roles: claims.roles.into(),
        })
    }

    /// Whether this server can mint tokens (it has the HS256 secret).
    pub fn can_mint(&self) -> bool {
        self.encoding.is_some()
    }

    /// Mints an HS256 token for `sub` valid for `ttl_secs` (tools, demo data and tests).
    pub fn mint(&self, sub: &str, roles: &[String], ttl_secs: u64) -> anyhow::Result<String> {
        let key = self
            .encoding
            .as_ref()
            .context("tokens can only be minted with an HS256 secret")?;
        let claims = Claims {
            sub: sub.to_owned(),
            exp: Some(jsonwebtoken::get_current_timestamp() + ttl_secs),
            roles: roles.to_vec(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)
            .context("cannot sign the token")
    }
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
            },
            &EncodingKey::from_secret(b"0123456789abcdef0123"),
        )
        .unwrap();
        assert_eq!(auth.verify(&expired), Err(TokenError::Expired));
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
