//! Accounts and sessions: registration and login with argon2-hashed passwords, short-lived
//! access JWTs (the broker accepts the same tokens), and opaque refresh tokens that are
//! stored only as SHA-256 digests, rotated on every use and revocable.
//!
//! A sign-in starts a refresh-token family; its access tokens carry the family as `sid`.
//! The family has one live refresh token. Presenting an exchanged one again within
//! `auth.refresh_reuse_grace_secs` (a lost answer's retry) still answers, and the
//! successor handed out before is revoked; later, it is taken for a stolen copy and the
//! whole family is revoked. Signing out revokes the family and refuses its access tokens
//! from then on (see [`crate::auth::Revocations`]).
//!
//! Abuse limits: logins per (username, client address) and per address, registrations per
//! address, refreshes and sign-outs per address, and password hashing through
//! [`PasswordGate`].
//!
//! With an RS256 public key configured, tokens come from an outside identity provider:
//! this server cannot mint them, so registration, login and refresh are refused, and an
//! account is created on first sight of a valid token.

use super::passwords::{PasswordGate, Queue};
use super::{validate, ChatError, ChatResult};
use crate::auth::{Authenticator, Principal};
use crate::cluster::{Bus, Limiter};
use crate::config::AuthConfig;
use crate::metrics::Metrics;
use crate::rate::RateLimiter;
use crate::store::{RefreshRecord, Rotation, Store, UserRecord};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use tidings_proto::api::{LoginRequest, RegisterRequest};
use tidings_proto::Timestamp;

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
    /// Keyed by (client address, username).
    login_rate: Limiter,
    /// Keyed by client address.
    login_rate_per_address: Limiter,
    registration_rate: Limiter,
    /// Refreshes and sign-outs, keyed by client address.
    refresh_rate_per_address: Limiter,
    /// Sign-outs reach the other nodes through it.
    bus: Bus,
    passwords: PasswordGate,
    metrics: Arc<Metrics>,
    service_digest: Option<[u8; 32]>,
    external: bool,
}

fn digest(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// What rate limits count per client: the IPv4 address, or the /64 of an IPv6 one (a
/// single host commonly holds a whole /64). *(choice)* Forwarded-for headers are not
/// trusted: behind a reverse proxy, raise the per-address limits.
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

impl Accounts {
    pub fn new(
        store: Arc<dyn Store>,
        auth: Authenticator,
        config: AuthConfig,
        metrics: Arc<Metrics>,
        bus: Bus,
    ) -> Accounts {
        Accounts {
            login_rate: bus.limiter("login", RateLimiter::new(config.login_attempts_per_minute)),
            login_rate_per_address: bus.limiter(
                "login_address",
                RateLimiter::new(config.login_attempts_per_minute_per_address),
            ),
            registration_rate: bus.limiter(
                "registration",
                RateLimiter::per_period(
                    config.registrations_per_hour_per_address,
                    Duration::from_secs(3600),
                ),
            ),
            refresh_rate_per_address: bus.limiter(
                "refresh",
                RateLimiter::new(config.refreshes_per_minute_per_address),
            ),
            bus,
            passwords: PasswordGate::new(config.max_concurrent_hashes, config.max_hash_waiters),
            metrics,
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

    /// Counts a refusal in the metrics and passes it on.
    fn refused(&self, kind: &'static str, e: ChatError) -> ChatError {
        self.metrics.error(kind);
        e
    }

    pub async fn register(&self, req: RegisterRequest, from: IpAddr) -> ChatResult<SignedIn> {
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
        let display_name = validate::display_name(&display_name)?;
        if self.store.user(&name).await?.is_some() {
            return Err(ChatError::Conflict(format!("the username {name} is taken")));
        }
        // Counted once the request is valid, so typos do not use up the budget.
        if !self
            .registration_rate
            .allow(&address_key(from), Instant::now())
            .await
        {
            let per = self.config.registrations_per_hour_per_address;
            return Err(self.refused(
                "registration_rate_limited",
                ChatError::RateLimited(format!(
                    "too many accounts created from your address: at most {per} per hour"
                )),
            ));
        }
        let hash = self
            .passwords
            .hash(req.password, Queue::Bounded)
            .await
            .map_err(|e| self.busy(e))?;
        let user = self
            .store
            .create_user(UserRecord {
                name,
                display_name,
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
        let display_name = validate::display_name(display_name)?;
        let hash = self
            .passwords
            .hash(password.to_owned(), Queue::Wait)
            .await?;
        Ok(self
            .store
            .create_user(UserRecord {
                name: name.to_owned(),
                display_name,
                password_hash: Some(hash),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                created_at: Timestamp::now(),
            })
            .await?)
    }

    /// Counts a "busy" refusal in the metrics.
    fn busy(&self, e: ChatError) -> ChatError {
        if matches!(e, ChatError::Busy(_)) {
            self.metrics.error("password_hashing_busy");
        }
        e
    }

    pub async fn login(&self, req: LoginRequest, from: IpAddr) -> ChatResult<SignedIn> {
        self.refuse_external()?;
        let name = req.username.trim().to_lowercase();
        if name.len() > 256 || req.password.len() > 1024 {
            return Err(ChatError::Unauthorized("wrong username or password".into()));
        }
        let now = Instant::now();
        let address = address_key(from);
        if !self.login_rate_per_address.allow(&address, now).await {
            let per = self.config.login_attempts_per_minute_per_address;
            return Err(self.refused(
                "login_rate_limited",
                ChatError::RateLimited(format!(
                    "too many login attempts from your address: at most {per} per minute"
                )),
            ));
        }
        // Per username *and* address: someone else's failures elsewhere do not lock the
        // user out.
        if !self
            .login_rate
            .allow(&format!("{address} {name}"), now)
            .await
        {
            return Err(self.refused(
                "login_rate_limited",
                ChatError::RateLimited(format!(
                    "too many login attempts for {name}: at most {} per minute",
                    self.config.login_attempts_per_minute
                )),
            ));
        }
        let user = self.store.user(&name).await?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = self
            .passwords
            .verify(req.password, hash)
            .await
            .map_err(|e| self.busy(e))?;
        match user {
            Some(user) if ok && user.password_hash.is_some() => self.sign_in(user).await,
            _ => Err(ChatError::Unauthorized("wrong username or password".into())),
        }
    }

    /// Refuses a refresh or sign-out from an address over its budget: each costs a lookup
    /// of a stored token, and a refresh a write.
    async fn charge_refresh(&self, from: IpAddr) -> ChatResult<()> {
        if self
            .refresh_rate_per_address
            .allow(&address_key(from), Instant::now())
            .await
        {
            return Ok(());
        }
        let per = self.config.refreshes_per_minute_per_address;
        Err(self.refused(
            "refresh_rate_limited",
            ChatError::RateLimited(format!(
                "too many token refreshes and sign-outs from your address: at most {per} per minute"
            )),
        ))
    }

    pub async fn refresh(&self, refresh_token: &str, from: IpAddr) -> ChatResult<SignedIn> {
        self.refuse_external()?;
        self.charge_refresh(from).await?;
        let (token, hash) = new_refresh_token();
        let now = Timestamp::now();
        let rotation = self
            .store
            .rotate_refresh_token(
                digest(refresh_token.trim().as_bytes()),
                hash,
                self.refresh_expiry(now),
                now,
                (self.config.refresh_reuse_grace_secs as i64).saturating_mul(1000),
            )
            .await?;
        let (user, family) = match rotation {
            Rotation::Rotated { user, family } => (user, family),
            Rotation::Reused { user, family } => {
                self.revoke_session(&family);
                tracing::warn!(
                    user = %user,
                    "a refresh token was reused after its grace period; the session is revoked"
                );
                return Err(self.refused(
                    "refresh_token_reused",
                    ChatError::Unauthorized(
                        "the refresh token was already used: the session is signed out everywhere; sign in again"
                            .into(),
                    ),
                ));
            }
            Rotation::Refused => {
                return Err(ChatError::Unauthorized(
                    "the refresh token is invalid, expired or revoked".into(),
                ))
            }
        };
        let user = self
            .store
            .user(&user)
            .await?
            .ok_or_else(|| ChatError::Unauthorized("the account no longer exists".into()))?;
        self.session(user, token, &family)
    }

    /// Signs out: revokes the refresh token's whole family and its access tokens.
    pub async fn logout(&self, refresh_token: &str, from: IpAddr) -> ChatResult<()> {
        self.charge_refresh(from).await?;
        match self
            .store
            .revoke_refresh_family(digest(refresh_token.trim().as_bytes()))
            .await?
        {
            Some(family) => {
                self.revoke_session(&family);
                Ok(())
            }
            None => Err(ChatError::Unauthorized(
                "the refresh token is invalid, expired or revoked".into(),
            )),
        }
    }

    /// Refuses the access tokens of sign-in session `sid` until the last of them expires,
    /// and closes its live connections.
    fn revoke_session(&self, sid: &str) {
        let until = jsonwebtoken::get_current_timestamp()
            + self.config.access_ttl_secs
            + self.auth.leeway_secs();
        self.auth.revocations().revoke(sid, until);
        self.bus.revoke(sid, until);
    }

    /// A sign-out on another node: refuse its tokens here too, and close its connections.
    pub(super) fn revoke_from_peer(&self, sid: &str, until: u64) {
        self.auth.revocations().revoke(sid, until);
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
            return match self.store.create_user(user).await {
                Ok(u) => Ok(u),
                // Created meanwhile by another request (or the name is another's display
                // name: then there is no account to give).
                Err(crate::store::StoreError::Conflict(m)) => self
                    .store
                    .user(&who.name)
                    .await?
                    .ok_or(ChatError::Unauthorized(m)),
                Err(e) => Err(e.into()),
            };
        }
        Err(ChatError::Unauthorized(format!(
            "there is no account {} on this server",
            who.name
        )))
    }

    fn refresh_expiry(&self, now: Timestamp) -> Timestamp {
        Timestamp(now.millis() + (self.config.refresh_ttl_secs as i64) * 1000)
    }

    async fn sign_in(&self, user: UserRecord) -> ChatResult<SignedIn> {
        let (token, hash) = new_refresh_token();
        let family = crate::store::new_id("s");
        self.store
            .add_refresh_token(RefreshRecord {
                hash,
                user: user.name.clone(),
                expires_at: self.refresh_expiry(Timestamp::now()),
                family: family.clone(),
            })
            .await?;
        self.session(user, token, &family)
    }

    fn session(&self, user: UserRecord, refresh_token: String, sid: &str) -> ChatResult<SignedIn> {
        let ttl = self.config.access_ttl_secs;
        let access_token = self
            .auth
            .mint_for_session(&user.name, &user.roles, ttl, Some(sid))
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
    fn addresses_are_counted_per_host_and_per_ipv6_64() {
        assert_eq!(address_key("127.0.0.2".parse().unwrap()), "127.0.0.2");
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(
            address_key("2001:db8:1:2:aaaa::1".parse().unwrap()),
            address_key("2001:db8:1:2:bbbb::9".parse().unwrap())
        );
    }
}
