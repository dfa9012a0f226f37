//! Accounts and sessions: registration and login with argon2-hashed passwords, short-lived
//! access JWTs (the broker accepts the same tokens), and opaque refresh tokens that are
//! stored only as SHA-256 digests, rotated on every use (the old one stays usable for a
//! minute, so a lost answer does not sign the client out) and revocable.
//!
//! With an RS256 public key configured, tokens come from an outside identity provider:
//! this server cannot mint them, so registration, login and refresh are refused, and an
//! account is created on first sight of a valid token.

use super::{validate, ChatError, ChatResult};
use crate::auth::{Authenticator, Principal};
use crate::config::AuthConfig;
use crate::rate::RateLimiter;
use crate::store::{RefreshRecord, Store, UserRecord};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use subtle::ConstantTimeEq;
use tidings_proto::api::{LoginRequest, RegisterRequest};
use tidings_proto::Timestamp;

/// How long a refresh token, once exchanged, is still accepted: a client whose answer was
/// lost (the connection dropped mid-request) retries with the same token and is not signed
/// out. After that, presenting it again is refused (a stolen copy stops working).
const REUSE_GRACE_MS: i64 = 60_000;

/// A new session for a user.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: UserRecord,
}

#[derive(Debug)]
pub struct Accounts {
    store: Arc<dyn Store>,
    auth: Authenticator,
    config: AuthConfig,
    login_rate: RateLimiter,
    service_digest: Option<[u8; 32]>,
    external: bool,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// A hash to verify against when the user does not exist, so that a login for an unknown
/// name takes as long as one with a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

fn hash_password(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ChatResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ChatError::Internal(format!("password hashing failed: {e}")))
}

impl Accounts {
    pub fn new(store: Arc<dyn Store>, auth: Authenticator, config: AuthConfig) -> Accounts {
        Accounts {
            login_rate: RateLimiter::new(config.login_attempts_per_minute),
            service_digest: config
                .service_token
                .as_deref()
                .map(|t| digest(t.as_bytes())),
            external: !auth.can_mint(),
            store,
            auth,
            config,
        }
    }

    /// Whether `token` is the configured service token (compared in constant time).
    pub fn is_service_token(&self, token: &str) -> bool {
        self.service_digest
            .is_some_and(|d| bool::from(d.ct_eq(&digest(token.as_bytes()))))
    }

    fn refuse_external(&self) -> ChatResult<()> {
        if self.external {
            return Err(ChatError::Forbidden(
                "accounts are managed by the identity provider that issues this server's tokens"
                    .into(),
            ));
        }
        Ok(())
    }

    pub async fn register(&self, req: RegisterRequest) -> ChatResult<SignedIn> {
        self.refuse_external()?;
        if !self.config.allow_registration {
            return Err(ChatError::Forbidden(
                "registration is closed on this server".into(),
            ));
        }
        let name = req.username.trim().to_owned();
        validate::username(&name)?;
        let n = req.password.chars().count();
        if !(8..=256).contains(&n) {
            return Err(ChatError::Invalid(
                "password must be 8-256 characters".into(),
            ));
        }
        let display_name = req.display_name.unwrap_or_else(|| name.clone());
        validate::text("displayName", &display_name, validate::MAX_DISPLAY_NAME)?;
        if self.store.user(&name).await?.is_some() {
            return Err(ChatError::Conflict(format!("the username {name} is taken")));
        }
        let password = req.password;
        let hash = blocking(move || hash_password(&password))
            .await?
            .map_err(ChatError::Internal)?;
        let user = self
            .store
            .create_user(UserRecord {
                name,
                display_name: display_name.trim().to_owned(),
                password_hash: Some(hash),
                roles: Vec::new(),
                created_at: Timestamp::now(),
            })
            .await?;
        self.sign_in(user).await
    }

    /// Creates an account directly (demo data, administration).
    pub async fn create(
        &self,
        name: &str,
        display_name: &str,
        password: &str,
        roles: &[&str],
    ) -> ChatResult<UserRecord> {
        validate::username(name)?;
        let password = password.to_owned();
        let hash = blocking(move || hash_password(&password))
            .await?
            .map_err(ChatError::Internal)?;
        Ok(self
            .store
            .create_user(UserRecord {
                name: name.to_owned(),
                display_name: display_name.to_owned(),
                password_hash: Some(hash),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                created_at: Timestamp::now(),
            })
            .await?)
    }

    pub async fn login(&self, req: LoginRequest) -> ChatResult<SignedIn> {
        self.refuse_external()?;
        let name = req.username.trim().to_ascii_lowercase();
        if name.len() > 256 || req.password.len() > 1024 {
            return Err(ChatError::Unauthorized("wrong username or password".into()));
        }
        if !self.login_rate.allow(&name, Instant::now()) {
            return Err(ChatError::RateLimited(format!(
                "too many login attempts for {name}: at most {} per minute",
                self.config.login_attempts_per_minute
            )));
        }
        let user = self.store.user(&name).await?;
        let hash = user
            .as_ref()
            .and_then(|u| u.password_hash.clone())
            .unwrap_or_else(|| decoy_hash().to_owned());
        let password = req.password;
        let ok = blocking(move || verify_password(&password, &hash)).await?;
        match user {
            Some(user) if ok && user.password_hash.is_some() => self.sign_in(user).await,
            _ => Err(ChatError::Unauthorized("wrong username or password".into())),
        }
    }

    pub async fn refresh(&self, refresh_token: &str) -> ChatResult<SignedIn> {
        self.refuse_external()?;
        let (token, hash) = new_refresh_token();
        let now = Timestamp::now();
        let user = self
            .store
            .rotate_refresh_token(
                digest(refresh_token.trim().as_bytes()),
                hash,
                self.refresh_expiry(now),
                now,
                REUSE_GRACE_MS,
            )
            .await?
            .ok_or_else(|| {
                ChatError::Unauthorized("the refresh token is invalid, expired or revoked".into())
            })?;
        let user = self
            .store
            .user(&user)
            .await?
            .ok_or_else(|| ChatError::Unauthorized("the account no longer exists".into()))?;
        self.session(user, token)
    }

    pub async fn logout(&self, refresh_token: &str) -> ChatResult<()> {
        if self
            .store
            .revoke_refresh_token(digest(refresh_token.trim().as_bytes()))
            .await?
        {
            Ok(())
        } else {
            Err(ChatError::Unauthorized(
                "the refresh token is invalid, expired or revoked".into(),
            ))
        }
    }

    /// The account behind a verified access token.
    pub async fn resolve(&self, who: &Principal) -> ChatResult<UserRecord> {
        if let Some(u) = self.store.user(&who.name).await? {
            return Ok(u);
        }
        if self.external && validate::username(&who.name).is_ok() {
            let user = UserRecord {
                name: who.name.to_string(),
                display_name: who.name.to_string(),
                password_hash: None,
                roles: who.roles.to_vec(),
                created_at: Timestamp::now(),
            };
            return match self.store.create_user(user.clone()).await {
                Ok(u) => Ok(u),
                // Created meanwhile by another request.
                Err(crate::store::StoreError::Conflict(_)) => Ok(user),
                Err(e) => Err(e.into()),
            };
        }
        Err(ChatError::Unauthorized(format!(
            "there is no account {} on this server",
            who.name
        )))
    }

    /// With tokens from an outside issuer, creates the account of a token seen first on a
    /// STOMP connection (so others can start conversations with that user).
    pub async fn provision(&self, who: &Principal) {
        if self.external {
            if let Err(e) = self.resolve(who).await {
                tracing::warn!(error = %e, "could not create the account of a connected user");
            }
        }
    }

    fn refresh_expiry(&self, now: Timestamp) -> Timestamp {
        Timestamp(now.millis() + (self.config.refresh_ttl_secs as i64) * 1000)
    }

    async fn sign_in(&self, user: UserRecord) -> ChatResult<SignedIn> {
        let (token, hash) = new_refresh_token();
        self.store
            .add_refresh_token(RefreshRecord {
                hash,
                user: user.name.clone(),
                expires_at: self.refresh_expiry(Timestamp::now()),
            })
            .await?;
        self.session(user, token)
    }

    fn session(&self, user: UserRecord, refresh_token: String) -> ChatResult<SignedIn> {
        let ttl = self.config.access_ttl_secs;
        let access_token = self
            .auth
            .mint(&user.name, &user.roles, ttl)
            .map_err(|e| ChatError::Internal(e.to_string()))?;
        Ok(SignedIn {
            access_token,
            refresh_token,
            expires_in: ttl,
            user,
        })
    }
}

/// A fresh refresh token and its digest.
fn new_refresh_token() -> (String, [u8; 32]) {
    let bytes: [u8; 32] = rand::random();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = digest(token.as_bytes());
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
