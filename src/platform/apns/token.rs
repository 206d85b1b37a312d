//! APNS provider tokens: a JWT with header `{"alg":"ES256","kid":<key id>}` and claims
//! `{"iss":<team id>,"iat":<seconds>}`, signed with the `.p8` key (ECDSA P-256, SHA-256,
//! the raw 64-byte `r || s` signature), base64url without padding.
//!
//! Apple refuses a token older than an hour and throttles one renewed too often, so one
//! token is kept and reused until [`RENEW_AFTER_SECS`] (55 minutes, the TypeScript server's
//! choice) have passed, or until APNS rejected it ([`ProviderToken::renew`]).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey as _;

use super::ApnsError;

/// How long a provider token is reused (Apple accepts one for an hour).
pub const RENEW_AFTER_SECS: u64 = 55 * 60;

/// The signing key and the cached token.
pub struct ProviderToken {
    key: SigningKey,
    key_id: String,
    team_id: String,
    cached: Mutex<Option<(String, u64)>>,
    generated: AtomicU64,
}

impl std::fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key, never the token.
        f.debug_struct("ProviderToken").field("key_id", &self.key_id).field("team_id", &self.team_id).finish()
    }
}

impl ProviderToken {
    /// Reads the key from the `.p8` file at `path`; `config` is named in the error when the
    /// file cannot be read.
    pub fn load(path: &Path, config: &Path, key_id: &str, team_id: &str) -> Result<Self, ApnsError> {
        let pem = std::fs::read_to_string(path).map_err(|source| ApnsError::KeyRead {
            path: path.to_owned(),
            config: config.to_owned(),
            source,
        })?;
        Self::from_pem(&pem, path, key_id, team_id)
    }

    /// A signer from the PEM text of a key (`path` names it in errors).
    pub fn from_pem(pem: &str, path: &Path, key_id: &str, team_id: &str) -> Result<Self, ApnsError> {
        let key = SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|e| ApnsError::BadKey { path: path.to_owned(), detail: e.to_string() })?;
        Ok(Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            cached: Mutex::new(None),
            generated: AtomicU64::new(0),
        })
    }

    /// A freshly signed token issued at `iat` (seconds since the epoch).
    pub fn sign(&self, iat: u64) -> String {
        let header = serde_json::json!({"alg": "ES256", "kid": self.key_id});
        let claims = serde_json::json!({"iss": self.team_id, "iat": iat});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.key.sign(input.as_bytes());
        self.generated.fetch_add(1, Ordering::Relaxed);
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// The token to use at `now`: the cached one while it is younger than
    /// [`RENEW_AFTER_SECS`], else a new one (which is cached).
    pub fn current(&self, now: u64) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((token, iat)) if now < iat + RENEW_AFTER_SECS => token.clone(),
            _ => {
                let token = self.sign(now);
                *cached = Some((token.clone(), now));
                token
            }
        }
    }

    /// A new token after APNS rejected `stale` (`ExpiredProviderToken`): signed anew
    /// unless another request already replaced it.
    pub fn renew(&self, stale: &str, now: u64) -> String {
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        match &*cached {
            Some((token, _)) if token != stale => token.clone(),
            _ => {
                let token = self.sign(now);
                *cached = Some((token.clone(), now));
                token
            }
        }
    }

    /// How many tokens were signed so far.
    pub fn generated(&self) -> u64 {
        self.generated.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier as _;
    use p256::ecdsa::VerifyingKey;
    use p256::pkcs8::{EncodePrivateKey as _, LineEnding};

    fn key() -> (String, VerifyingKey) {
        let secret = loop {
            let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
            if let Ok(k) = p256::SecretKey::from_slice(&bytes) {
                break k;
            }
        };
        let pem = secret.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
        (pem, VerifyingKey::from(&SigningKey::from(&secret)))
    }

    #[test]
    fn tokens_are_es256_jwts_that_verify_with_the_public_key() {
        let (pem, public) = key();
        let t = ProviderToken::from_pem(&pem, Path::new("k.p8"), "KEY123", "TEAM45").unwrap();
        let jwt = t.sign(1_700_000_000);
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "ES256", "kid": "KEY123"}));
        assert_eq!(claims, serde_json::json!({"iss": "TEAM45", "iat": 1_700_000_000}));
        let sig = Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).unwrap();
        public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
    }

    #[test]
    fn a_token_is_reused_until_it_is_55_minutes_old_or_rejected() {
        let (pem, _) = key();
        let t = ProviderToken::from_pem(&pem, Path::new("k.p8"), "K", "T").unwrap();
        let first = t.current(1000);
        assert_eq!(t.current(1000 + RENEW_AFTER_SECS - 1), first);
        assert_eq!(t.generated(), 1);
        let second = t.current(1000 + RENEW_AFTER_SECS);
        assert_ne!(second, first);
        assert_eq!(t.generated(), 2);
        // A rejected token is replaced once; a second caller holding the same stale token
        // gets the replacement instead of signing again.
        let third = t.renew(&second, 5000);
        assert_eq!(t.renew(&second, 5000), third);
        assert_eq!(t.generated(), 3);
    }

    #[test]
    fn a_bad_key_is_a_clear_error_without_the_key() {
        let e = ProviderToken::from_pem(
            "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----",
            Path::new("/k/AuthKey_X.p8"),
            "X",
            "T",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/k/AuthKey_X.p8 is not an APNS auth key"), "{e}");
        assert!(!e.contains("not a key"));
        let e = ProviderToken::load(Path::new("/nope/k.p8"), Path::new("/c.json"), "X", "T")
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the APNS key /nope/k.p8") && e.contains("/c.json"), "{e}");
    }
}
