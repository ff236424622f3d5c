//! Session settings (PostgreSQL GUCs) that clients SET, SHOW and read with `current_setting`.
//!
//! Only the settings drivers actually send are known; any other name is an error, as in
//! PostgreSQL, and no setting reaches DataFusion's own configuration (a `SET datafusion.*`
//! could change the shared runtime, so it is refused before it gets here).

use std::collections::BTreeMap;

use crate::error::LakegateError;

/// The server version clients see; psql, pgjdbc and pgcli choose their catalog queries by it.
pub const SERVER_VERSION: &str = "15.0";

/// One known setting.
struct Guc {
    name: &'static str,
    default: &'static str,
    /// Sent as ParameterStatus at startup and whenever it changes (PostgreSQL's GUC_REPORT).
    reported: bool,
    /// Allowed values (lower case); empty means any.
    allowed: &'static [&'static str],
    read_only: bool,
}

const fn guc(name: &'static str, default: &'static str, reported: bool) -> Guc {
    Guc {
        name,
        default,
        reported,
        allowed: &[],
        read_only: false,
    }
}

const fn fixed(name: &'static str, default: &'static str, reported: bool) -> Guc {
    Guc {
        name,
        default,
        reported,
        allowed: &[],
        read_only: true,
    }
}

const GUCS: &[Guc] = &[
    guc("application_name", "", true),
    Guc {
        allowed: &["utf8", "utf-8", "unicode"],
        ..guc("client_encoding", "UTF8", true)
    },
    guc("DateStyle", "ISO, MDY", true),
    Guc {
        allowed: &["postgres", "iso_8601", "sql_standard", "postgres_verbose"],
        ..guc("IntervalStyle", "postgres", true)
    },
    guc("TimeZone", "UTC", true),
    guc("extra_float_digits", "1", false),
    guc("search_path", "\"$user\", public", false),
    guc("statement_timeout", "0", false),
    guc("lock_timeout", "0", false),
    guc("idle_in_transaction_session_timeout", "0", false),
    guc("client_min_messages", "notice", false),
    Guc {
        allowed: &["hex", "escape"],
        ..guc("bytea_output", "hex", false)
    },
    guc("default_transaction_isolation", "read committed", false),
    guc("transaction_isolation", "read committed", false),
    guc("default_transaction_read_only", "off", true),
    guc("transaction_read_only", "off", false),
    guc("jit", "off", false),
    guc("work_mem", "4MB", false),
    guc("row_security", "on", false),
    guc("synchronous_commit", "on", false),
    Guc {
        allowed: &["on"],
        ..guc("standard_conforming_strings", "on", true)
    },
    fixed("server_version", SERVER_VERSION, true),
    fixed("server_version_num", "150000", false),
    fixed("server_encoding", "UTF8", true),
    fixed("integer_datetimes", "on", true),
    fixed("in_hot_standby", "off", true),
    fixed("max_identifier_length", "63", false),
    fixed("max_index_keys", "32", false),
    fixed("is_superuser", "off", true),
    fixed("session_authorization", "", true),
    fixed("lc_collate", "C", false),
    fixed("lc_ctype", "C", false),
];

fn find(name: &str) -> Option<&'static Guc> {
    GUCS.iter().find(|g| g.name.eq_ignore_ascii_case(name))
}

/// The current values of one session's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
    /// What RESET returns to: the startup packet's value where it gave one (PostgreSQL's
    /// session default), else the built-in default.
    session_defaults: BTreeMap<&'static str, String>,
}

impl Settings {
    /// Defaults, then the connection's principal and startup parameters.
    pub fn new(user: &str, superuser: bool, startup: &[(String, String)]) -> Self {
        let mut values: BTreeMap<&'static str, String> = GUCS
            .iter()
            .map(|g| (g.name, g.default.to_owned()))
            .collect();
        values.insert(
            "is_superuser",
            if superuser { "on" } else { "off" }.to_owned(),
        );
        values.insert("session_authorization", user.to_owned());
        let mut settings = Self {
            values,
            session_defaults: BTreeMap::new(),
        };
        for (name, value) in startup {
            // Startup options a client sends that we do not know are ignored, as libpq's are.
            if let Ok((canonical, _)) = settings.set(name, Some(value)) {
                let value = settings.values[canonical].clone();
                settings.session_defaults.insert(canonical, value);
            }
        }
        settings
    }

    /// The canonical name and current value, or an error for an unknown name.
    pub fn get(&self, name: &str) -> Result<(&'static str, &str), LakegateError> {
        let guc = find(name).ok_or_else(|| LakegateError::UnknownSetting(name.to_owned()))?;
        Ok((
            guc.name,
            self.values
                .get(guc.name)
                .map(String::as_str)
                .unwrap_or_default(),
        ))
    }

    /// Sets (or with `None` resets) a setting. Returns the canonical name and whether clients
    /// must be told the new value with a ParameterStatus message.
    pub fn set(
        &mut self,
        name: &str,
        value: Option<&str>,
    ) -> Result<(&'static str, bool), LakegateError> {
        let guc = find(name).ok_or_else(|| LakegateError::UnknownSetting(name.to_owned()))?;
        if guc.read_only {
            return Err(LakegateError::ReadOnlySetting(guc.name.to_owned()));
        }
        let value = match value {
            None => self
                .session_defaults
                .get(guc.name)
                .cloned()
                .unwrap_or_else(|| guc.default.to_owned()),
            Some(v) => normalize(guc, v)?,
        };
        self.values.insert(guc.name, value);
        Ok((guc.name, guc.reported))
    }

    /// Every setting, for `SHOW ALL` (name, value).
    pub fn all(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    /// Settings sent as ParameterStatus at startup.
    pub fn reported(&self) -> impl Iterator<Item = (&'static str, &str)> {
        GUCS.iter()
            .filter(|g| g.reported)
            .map(|g| (g.name, self.values[g.name].as_str()))
    }

    /// `statement_timeout` in milliseconds (0 = none), as PostgreSQL parses it.
    pub fn statement_timeout_ms(&self) -> u64 {
        parse_duration_ms(&self.values["statement_timeout"]).unwrap_or(0)
    }

    /// `idle_in_transaction_session_timeout` in milliseconds (0 = none).
    pub fn idle_in_transaction_timeout_ms(&self) -> u64 {
        parse_duration_ms(&self.values["idle_in_transaction_session_timeout"]).unwrap_or(0)
    }

    /// The schemas of `search_path` that name real schemas (`$user` is skipped).
    pub fn search_path(&self) -> Vec<String> {
        self.values["search_path"]
            .split(',')
            .map(|s| s.trim().trim_matches('"').to_owned())
            .filter(|s| !s.is_empty() && s != "$user")
            .collect()
    }
}

fn normalize(guc: &Guc, value: &str) -> Result<String, LakegateError> {
    let invalid = || LakegateError::InvalidSetting {
        name: guc.name.to_owned(),
        value: value.to_owned(),
    };
    if !guc.allowed.is_empty() && !guc.allowed.contains(&value.to_ascii_lowercase().as_str()) {
        return Err(invalid());
    }
    match guc.name {
        "client_encoding" => Ok("UTF8".to_owned()),
        "TimeZone" => match super::timestamps::parse_zone(value) {
            Some(_) => Ok(value.to_owned()),
            None => Err(invalid()),
        },
        "extra_float_digits" => match value.parse::<i8>() {
            Ok(n) if (-15..=3).contains(&n) => Ok(n.to_string()),
            _ => Err(invalid()),
        },
        "statement_timeout" | "lock_timeout" | "idle_in_transaction_session_timeout" => {
            parse_duration_ms(value)
                .map(|ms| ms.to_string())
                .ok_or_else(invalid)
        }
        _ => Ok(value.to_owned()),
    }
}

/// PostgreSQL's time units for timeouts: a bare number is milliseconds.
fn parse_duration_ms(value: &str) -> Option<u64> {
    let value = value.trim();
    let digits = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "ms" => 1,
        "s" => 1_000,
        "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    number.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_case_insensitive_and_canonical() {
        let mut s = Settings::new("analyst", false, &[]);
        assert_eq!(
            s.set("datestyle", Some("ISO, DMY")).unwrap(),
            ("DateStyle", true)
        );
        assert_eq!(s.get("DATESTYLE").unwrap(), ("DateStyle", "ISO, DMY"));
        assert_eq!(s.get("session_authorization").unwrap().1, "analyst");
    }

    #[test]
    fn unknown_read_only_and_invalid_values_are_errors() {
        let mut s = Settings::new("analyst", false, &[]);
        assert!(matches!(
            s.set("datafusion.execution.batch_size", Some("1")),
            Err(LakegateError::UnknownSetting(_))
        ));
        assert!(matches!(
            s.set("server_version", Some("1")),
            Err(LakegateError::ReadOnlySetting(_))
        ));
        assert!(matches!(
            s.set("client_encoding", Some("LATIN1")),
            Err(LakegateError::InvalidSetting { .. })
        ));
        assert!(s.set("client_encoding", Some("utf-8")).is_ok());
    }

    #[test]
    fn timeouts_use_postgres_units() {
        let mut s = Settings::new("analyst", false, &[]);
        s.set("statement_timeout", Some("2s")).unwrap();
        assert_eq!(s.statement_timeout_ms(), 2000);
        s.set("statement_timeout", None).unwrap();
        assert_eq!(s.statement_timeout_ms(), 0);
        assert!(s.set("statement_timeout", Some("soon")).is_err());
    }
}
