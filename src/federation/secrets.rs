//! Credentials of remote databases, found by the secret id a connection names. A secret has the
//! shape of an AWS Secrets Manager database secret, `{"username": …, "password": …}`, and comes
//! from the environment (`LAKEGATE_SECRET_<ID>`) or the secrets file. It is read when a pool is
//! built, so a rotated secret is used by the next pool, and it never enters a message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::FederationError;

/// A database login.
#[derive(Deserialize)]
pub struct Credentials {
    pub username: String,
    #[serde(default)]
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Where secrets are looked up.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub file: Option<PathBuf>,
}

impl Secrets {
    /// The credentials of `connection`, from its secret.
    pub fn credentials(
        &self,
        connection: &str,
        secret_id: Option<&str>,
    ) -> Result<Credentials, FederationError> {
        let missing = |problem: String| FederationError::Misconfigured {
            connection: connection.to_owned(),
            problem,
        };
        let Some(id) = secret_id else {
            return Err(missing(
                "it names no secret (SECRET_ID) with its credentials".into(),
            ));
        };
        let variable = env_name(id);
        if let Ok(text) = std::env::var(&variable) {
            return serde_json::from_str(&text).map_err(|_| {
                missing(format!(
                    "{variable} is not {{\"username\": …, \"password\": …}}"
                ))
            });
        }
        let Some(file) = &self.file else {
            return Err(missing(format!(
                "secret {id:?} is not set: set {variable} or federation.secrets_file"
            )));
        };
        let mut all = read_file(file).map_err(missing)?;
        all.remove(id).ok_or_else(|| {
            missing(format!(
                "secret {id:?} is neither in {variable} nor in the secrets file"
            ))
        })
    }
}

/// `ops/pg-reader` → `LAKEGATE_SECRET_OPS_PG_READER`.
fn env_name(id: &str) -> String {
    let suffix: String = id
        .chars()
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_uppercase(),
            false => '_',
        })
        .collect();
    format!("LAKEGATE_SECRET_{suffix}")
}

fn read_file(path: &Path) -> Result<HashMap<String, Credentials>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("the secrets file cannot be read ({})", e.kind()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "the secrets file is not a JSON object of {{\"username\", \"password\"}} secrets (line {})",
            e.line()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_come_from_the_file_and_errors_never_show_them() {
        let dir = std::env::temp_dir().join(format!("lakegate-secrets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secrets.json");
        std::fs::write(
            &file,
            r#"{"ops": {"username": "reader", "password": "s3cret"}}"#,
        )
        .unwrap();
        let secrets = Secrets { file: Some(file) };
        let found = secrets.credentials("c", Some("ops")).unwrap();
        assert_eq!(found.username, "reader");
        assert_eq!(found.password.unwrap().expose_secret(), "s3cret");
        assert!(
            !format!("{:?}", secrets.credentials("c", Some("ops")).unwrap()).contains("s3cret")
        );
        let error = secrets
            .credentials("c", Some("other"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("LAKEGATE_SECRET_OTHER"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn env_names_are_upper_case_identifiers() {
        assert_eq!(env_name("ops/pg-reader"), "LAKEGATE_SECRET_OPS_PG_READER");
    }
}
