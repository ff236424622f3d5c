//! Who is connecting: the users file (SCRAM-SHA-256 secrets, groups) and the principal a session
//! runs as.
//!
//! pgwire 0.41's SCRAM server needs the *salted password* (PBKDF2 output) rather than PostgreSQL's
//! StoredKey/ServerKey pair, so that is what the users file stores. It is not the password, but
//! it is password-equivalent for SCRAM; the users file must be protected like PostgreSQL's
//! pg_authid. Moving to StoredKey/ServerKey verifiers needs pgwire 0.42 (see issue 5).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;

use async_trait::async_trait;
use base64::Engine;
use pgwire::api::auth::{AuthSource, LoginInfo, Password};
use pgwire::error::PgWireResult;
use serde::Deserialize;

/// pgwire's SCRAM server uses one iteration count for every user.
pub const SCRAM_ITERATIONS: usize = pgwire::api::auth::sasl::scram::SCRAM_ITERATIONS;

const DEMO_USERS: &str = include_str!("../../policies/demo-users.toml");

/// An authenticated identity: what policies and `current_user` see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub groups: Vec<String>,
    pub superuser: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserRecord {
    name: String,
    #[serde(default)]
    superuser: bool,
    #[serde(default)]
    groups: Vec<String>,
    iterations: usize,
    salt: String,
    salted_password: String,
}

#[derive(Debug, Deserialize)]
struct UsersFile {
    #[serde(default)]
    user: Vec<UserRecord>,
}

#[derive(Debug, Clone)]
struct UserSecret {
    principal: Principal,
    salt: Vec<u8>,
    salted_password: Vec<u8>,
}

/// The users a gateway accepts.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, UserSecret>,
    /// Per-process key for the fake salts of unknown users.
    fake_salt_key: std::collections::hash_map::RandomState,
}

impl Users {
    /// The demo principals of DESIGN.md.
    pub fn demo() -> Result<Self, String> {
        Self::parse(DEMO_USERS, "the built-in demo users")
    }

    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read users file {}: {e}", path.display()))?;
        Self::parse(&text, &path.display().to_string())
    }

    fn parse(text: &str, origin: &str) -> Result<Self, String> {
        let file: UsersFile =
            toml::from_str(text).map_err(|e| format!("invalid users file {origin}: {e}"))?;
        let decode = |field: &str, user: &str, value: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(value)
                .map_err(|e| {
                    format!("users file {origin}: user {user}: {field} is not base64: {e}")
                })
        };
        let mut by_name = HashMap::new();
        for record in file.user {
            if record.iterations != SCRAM_ITERATIONS {
                return Err(format!(
                    "users file {origin}: user {} uses {} SCRAM iterations; this version supports {SCRAM_ITERATIONS}",
                    record.name, record.iterations
                ));
            }
            let secret = UserSecret {
                salt: decode("salt", &record.name, &record.salt)?,
                salted_password: decode("salted_password", &record.name, &record.salted_password)?,
                principal: Principal {
                    user: record.name.clone(),
                    groups: record.groups,
                    superuser: record.superuser,
                },
            };
            by_name.insert(record.name, secret);
        }
        Ok(Self {
            by_name,
            fake_salt_key: Default::default(),
        })
    }

    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.by_name.get(name).map(|s| &s.principal)
    }

    /// All user names, sorted (for `pg_roles`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().cloned().collect();
        names.sort();
        names
    }

    /// A salt for a user that does not exist: stable per name within this process, so a client
    /// cannot tell unknown users from known ones by the salt they are offered.
    fn fake_salt(&self, name: &str) -> Vec<u8> {
        (0u8..2)
            .flat_map(|round| {
                let mut hasher = self.fake_salt_key.build_hasher();
                hasher.write_u8(round);
                hasher.write(name.as_bytes());
                hasher.finish().to_le_bytes()
            })
            .collect()
    }
}

/// The SCRAM secret lookup for pgwire.
#[derive(Debug)]
pub struct ScramSecrets(pub std::sync::Arc<Users>);

#[async_trait]
impl AuthSource for ScramSecrets {
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let name = login.user().unwrap_or_default();
        Ok(match self.0.by_name.get(name) {
            Some(secret) => {
                Password::new(Some(secret.salt.clone()), secret.salted_password.clone())
            }
            // No password hashes to this random value, so the exchange fails at its last step
            // with the same error a wrong password gives.
            None => Password::new(
                Some(self.0.fake_salt(name)),
                rand::random::<[u8; 32]>().to_vec(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_users_match_design() {
        let users = Users::demo().unwrap();
        assert_eq!(
            users.names(),
            ["admin", "analyst", "dbt", "emea_analyst", "marketing"]
        );
        assert!(users.principal("admin").unwrap().superuser);
        assert!(!users.principal("analyst").unwrap().superuser);
    }

    #[test]
    fn demo_secrets_are_salted_passwords_not_plaintext() {
        let users = Users::demo().unwrap();
        let secret = &users.by_name["analyst"];
        let expected = pgwire::api::auth::sasl::scram::gen_salted_password(
            "analyst",
            &secret.salt,
            SCRAM_ITERATIONS,
        );
        assert_eq!(secret.salted_password, expected);
        assert!(!DEMO_USERS.contains("password = \"analyst\""));
    }

    #[test]
    fn unknown_users_get_a_stable_fake_salt() {
        let users = Users::demo().unwrap();
        assert_eq!(users.fake_salt("mallory"), users.fake_salt("mallory"));
        assert_ne!(users.fake_salt("mallory"), users.fake_salt("eve"));
        assert_eq!(users.fake_salt("mallory").len(), 16);
    }
}
