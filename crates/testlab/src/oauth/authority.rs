//! The lab's token authority: the configuration, the signing key, and the tables of what it
//! issued (access tokens, rotated refresh tokens, device codes), shared by the token
//! endpoint and the mail servers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use ring::digest;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use super::jwt::{self, Claims, Who};
use super::OAuthConfig;
use crate::clock;
use crate::LabError;

/// At most this many remembered tokens of each kind; beyond, expired ones go first, then
/// arbitrary ones (a benchmark minting forever must not grow the lab without bound).
const MAX_ENTRIES: usize = 100_000;
/// Lifetime of app-only tokens, as Entra reports it.
pub(crate) const APP_LIFETIME_S: u32 = 3599;

/// Which API a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    Exchange,
    Graph,
}

/// What the lab remembers about an access token it minted.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    /// The user's UPN; None for app-only tokens.
    pub user: Option<String>,
    pub audience: Audience,
    /// Short scope names (delegated) or roles (app-only).
    pub grants: Vec<String>,
    pub exp: i64,
}

/// A device code waiting for its (scripted) sign-in.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    pub polls: u32,
    pub scopes: Option<String>,
    pub exp: i64,
}

#[derive(Default)]
struct Tables {
    access: HashMap<String, Issued>,
    /// Rotated refresh tokens: token -> account index.
    refresh: HashMap<String, usize>,
    device: HashMap<String, Pending>,
}

pub(crate) struct Authority {
    cfg: Option<OAuthConfig>,
    key: hmac::Key,
    rng: SystemRandom,
    tables: Mutex<Tables>,
    minted: AtomicUsize,
}

impl Authority {
    pub(crate) fn new(cfg: Option<OAuthConfig>) -> Result<Authority, LabError> {
        let rng = SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| LabError::Config("no randomness for the token signing key".into()))?;
        Ok(Authority {
            cfg,
            key,
            rng,
            tables: Mutex::default(),
            minted: AtomicUsize::new(0),
        })
    }

    pub(crate) fn config(&self) -> Option<&OAuthConfig> {
        self.cfg.as_ref()
    }

    /// How many access tokens were minted.
    pub(crate) fn minted(&self) -> usize {
        self.minted.load(Ordering::Relaxed)
    }

    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `n` random bytes as lowercase hex (zeros if the system has no randomness, which only
    /// makes tokens guessable in a test lab).
    fn random_hex(&self, n: usize) -> String {
        let mut bytes = vec![0u8; n];
        let _ = self.rng.fill(&mut bytes);
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A random GUID-shaped id (trace and correlation ids, device codes).
    pub(crate) fn random_id(&self) -> String {
        let h = self.random_hex(16);
        format!(
            "{}-{}-4{}-8{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    /// The account a refresh token belongs to: its configured one or one the lab rotated in.
    pub(crate) fn account_of_refresh(&self, token: &str) -> Option<usize> {
        let cfg = self.cfg.as_ref()?;
        if let Some(i) = cfg.accounts.iter().position(|a| a.refresh_token == token) {
            return Some(i);
        }
        self.tables().refresh.get(token).copied()
    }

    /// Mints a delegated access token (and a new refresh token) for account `idx`.
    pub(crate) fn mint_user(
        &self,
        idx: usize,
        aud: &str,
        audience: Audience,
        scp: &[String],
    ) -> Option<(String, String)> {
        let cfg = self.cfg.as_ref()?;
        let account = cfg.accounts.get(idx)?;
        let iat = clock::unix_now();
        let exp = iat + i64::from(account.lifetime_s);
        let oid = object_id(&account.user.to_ascii_lowercase());
        let uti = self.random_hex(12);
        let token = jwt::sign(
            &self.key,
            &Claims {
                aud,
                appid: &cfg.client_id,
                iat,
                exp,
                uti: &uti,
                who: Who::User {
                    upn: &account.user,
                    oid: &oid,
                    scp,
                },
            },
        );
        let refresh = format!("lab-rt-{}", self.random_hex(24));
        let issued = Issued {
            user: Some(account.user.clone()),
            audience,
            grants: scp.to_vec(),
            exp,
        };
        let mut t = self.tables();
        insert_bounded(&mut t.access, token.clone(), issued, |i| i.exp > iat);
        insert_bounded(&mut t.refresh, refresh.clone(), idx, |_| true);
        self.minted.fetch_add(1, Ordering::Relaxed);
        Some((token, refresh))
    }

    /// Mints an app-only access token carrying `roles`.
    pub(crate) fn mint_app(
        &self,
        aud: &str,
        audience: Audience,
        roles: &[String],
    ) -> Option<String> {
        let cfg = self.cfg.as_ref()?;
        let iat = clock::unix_now();
        let exp = iat + i64::from(APP_LIFETIME_S);
        let oid = object_id(&format!("sp:{}", cfg.client_id));
        let uti = self.random_hex(12);
        let token = jwt::sign(
            &self.key,
            &Claims {
                aud,
                appid: &cfg.client_id,
                iat,
                exp,
                uti: &uti,
                who: Who::App { oid: &oid, roles },
            },
        );
        let issued = Issued {
            user: None,
            audience,
            grants: roles.to_vec(),
            exp,
        };
        insert_bounded(&mut self.tables().access, token.clone(), issued, |i| {
            i.exp > iat
        });
        self.minted.fetch_add(1, Ordering::Relaxed);
        Some(token)
    }

    /// A token the lab minted and that has not expired.
    pub(crate) fn valid_token(&self, token: &str) -> Option<Issued> {
        let issued = self.tables().access.get(token).cloned()?;
        (clock::unix_now() < issued.exp).then_some(issued)
    }

    /// Starts a device code flow: returns (device_code, user_code).
    pub(crate) fn new_device_code(
        &self,
        scopes: Option<String>,
        lifetime_s: i64,
    ) -> (String, String) {
        let code = format!("lab-dc-{}", self.random_hex(24));
        let user_code = self.random_hex(5).to_ascii_uppercase();
        let pending = Pending {
            polls: 0,
            scopes,
            exp: clock::unix_now() + lifetime_s,
        };
        let now = clock::unix_now();
        insert_bounded(&mut self.tables().device, code.clone(), pending, |p| {
            p.exp > now
        });
        (code, user_code)
    }

    /// Counts one poll of a device code; None when unknown or expired.
    pub(crate) fn poll_device_code(&self, code: &str) -> Option<Pending> {
        let mut t = self.tables();
        let p = t.device.get_mut(code)?;
        p.polls += 1;
        let p = p.clone();
        if clock::unix_now() >= p.exp {
            t.device.remove(code);
            return None;
        }
        Some(p)
    }

    /// Forgets a device code once redeemed.
    pub(crate) fn finish_device_code(&self, code: &str) {
        self.tables().device.remove(code);
    }
}

/// A stable GUID-shaped object id derived from a name.
fn object_id(name: &str) -> String {
    let d = digest::digest(&digest::SHA256, name.as_bytes());
    let h: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    keep: impl Fn(&V) -> bool,
) {
    if map.len() >= MAX_ENTRIES {
        map.retain(|_, v| keep(v));
        while map.len() >= MAX_ENTRIES {
            let Some(k) = map.keys().next().cloned() else {
                break;
            };
            map.remove(&k);
        }
    }
    map.insert(key, value);
}
