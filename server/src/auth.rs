//! Signed tokens: `base64url(claims JSON) "." base64url(HMAC-SHA256)`, scoped to one workshop
//! and one participant, with an expiry. Revocation (a removed participant) is checked against
//! workshop state, not here.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use plenary_protocol::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// What a token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Workshop id.
    pub w: String,
    /// Participant id.
    pub p: String,
    /// Role.
    pub r: Role,
    /// Expiry, Unix milliseconds.
    pub exp: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

/// Signs and verifies tokens with one server secret.
#[derive(Clone)]
pub struct Auth {
    key: Vec<u8>,
}

impl Auth {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: secret.to_vec(),
        }
    }

    /// The secret from configuration, or the one kept in `data_dir/secret.key` (created with
    /// 32 random bytes on first start, readable by the owner only).
    pub fn load(secret: Option<&str>, data_dir: &Path) -> std::io::Result<Self> {
        if let Some(s) = secret {
            return Ok(Self::new(s.as_bytes()));
        }
        let path = data_dir.join("secret.key");
        match fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => return Ok(Self::new(&bytes)),
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is shorter than 32 bytes; delete it to make a new one",
                    path.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        Ok(Self::new(&bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let body = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{body}.{sig}")
    }

    pub fn verify(&self, token: &str, now_ms: u64) -> Result<Claims, AuthError> {
        let (body, sig) = token.split_once('.').ok_or(AuthError::Malformed)?;
        let sig = B64.decode(sig).map_err(|_| AuthError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        // Constant-time comparison.
        mac.verify_slice(&sig)
            .map_err(|_| AuthError::BadSignature)?;
        let json = B64.decode(body).map_err(|_| AuthError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| AuthError::Malformed)?;
        if claims.exp <= now_ms {
            return Err(AuthError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            w: "w1".into(),
            p: "p1".into(),
            r: Role::Attendee,
            exp: 1_000,
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let auth = Auth::new(b"0123456789abcdef0123456789abcdef");
        let token = auth.sign(&claims());
        assert_eq!(auth.verify(&token, 999), Ok(claims()));
        assert_eq!(auth.verify(&token, 1_000), Err(AuthError::Expired));
        let other = Auth::new(b"another secret, just as long....");
        assert_eq!(other.verify(&token, 0), Err(AuthError::BadSignature));
        assert_eq!(auth.verify("garbage", 0), Err(AuthError::Malformed));
        // A forged body with the old signature is rejected.
        let (_, sig) = token.split_once('.').unwrap();
        let forged = Claims {
            r: Role::Facilitator,
            ..claims()
        };
        let forged_body = B64.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            auth.verify(&format!("{forged_body}.{sig}"), 0),
            Err(AuthError::BadSignature)
        );
    }
}
