//! The users file: names, groups, superuser flags and SCRAM-SHA-256 verifiers (never
//! passwords). It is reloaded when it changes; a file that no longer parses keeps the old users.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};

use super::scram::ScramVerifier;
use super::Principal;

const DEMO_USERS: &str = include_str!("../../policies/demo-users.toml");

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub superuser: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `SCRAM-SHA-256$…`; users without one sign in with a token or a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verifier: Option<String>,
    /// A disabled user cannot sign in by any method.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UsersFile {
    #[serde(default)]
    pub user: Vec<UserRecord>,
}

impl UsersFile {
    /// Parse errors name the place, not the text there: it may be a verifier, or a password
    /// pasted by mistake.
    pub fn parse(text: &str, origin: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
            let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
            format!("invalid users file {origin}{at}: {}", e.message())
        })
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("users serialize");
        format!(
            "# lakegate users: SCRAM-SHA-256 verifiers, never passwords. Edit with `lakegate user add`.\n\n{body}"
        )
    }
}

#[derive(Debug, Clone)]
pub struct User {
    pub principal: Principal,
    pub verifier: Option<ScramVerifier>,
    pub disabled: bool,
}

/// The users a gateway accepts, as of one load of the file.
#[derive(Debug)]
pub struct Users {
    by_name: HashMap<String, User>,
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
        let mut by_name = HashMap::new();
        for record in UsersFile::parse(text, origin)?.user {
            let verifier = match &record.verifier {
                Some(text) => Some(ScramVerifier::parse(text).map_err(|e| {
                    format!("users file {origin}: user {}: verifier {e}", record.name)
                })?),
                None => None,
            };
            let user = User {
                principal: Principal {
                    user: record.name.clone(),
                    groups: record.groups,
                    superuser: record.superuser,
                },
                verifier,
                disabled: record.disabled,
            };
            if by_name.insert(record.name.clone(), user).is_some() {
                return Err(format!(
                    "users file {origin}: user {} appears twice",
                    record.name
                ));
            }
        }
        Ok(Self { by_name })
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.by_name.get(name)
    }

    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.by_name.get(name).map(|u| &u.principal)
    }

    /// All user names, sorted (for `pg_roles`).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_name.keys().cloned().collect();
        names.sort();
        names
    }
}

/// The users in force, swapped atomically when the file changes.
#[derive(Debug)]
pub struct UserStore {
    current: ArcSwap<Users>,
    file: Option<PathBuf>,
}

impl UserStore {
    pub fn load(file: Option<PathBuf>) -> Result<Arc<Self>, String> {
        let users = match &file {
            Some(path) => Users::from_file(path)?,
            None => Users::demo()?,
        };
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(users),
            file,
        }))
    }

    pub fn current(&self) -> Arc<Users> {
        self.current.load_full()
    }

    /// Polls the users file; a change takes effect for the next login.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let Some(path) = self.file.clone() else {
            return;
        };
        crate::reload::watch_file(Arc::downgrade(self), path, every, |store, path| {
            match Users::from_file(path) {
                Ok(users) => {
                    tracing::info!(file = %path.display(), users = users.by_name.len(), "users reloaded");
                    store.current.store(Arc::new(users));
                }
                Err(e) => {
                    tracing::error!(error = %e, "users file not reloaded; the previous users stay in force")
                }
            }
        });
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
            [
                "admin",
                "analyst",
                "auditor",
                "dbt",
                "emea_analyst",
                "marketing"
            ]
        );
        assert_eq!(users.principal("auditor").unwrap().groups, ["auditors"]);
        assert!(users.principal("admin").unwrap().superuser);
        assert!(!users.principal("analyst").unwrap().superuser);
        assert!(users.get("analyst").unwrap().verifier.is_some());
    }

    #[test]
    fn plaintext_passwords_and_duplicates_are_refused() {
        let plain = "[[user]]\nname = \"a\"\nverifier = \"hunter2\"\n";
        let err = Users::parse(plain, "t").unwrap_err();
        assert!(
            err.contains("plaintext passwords are not accepted"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        let twice = "[[user]]\nname = \"a\"\n[[user]]\nname = \"a\"\n";
        assert!(Users::parse(twice, "t").unwrap_err().contains("twice"));
    }
}
