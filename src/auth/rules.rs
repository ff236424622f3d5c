//! Access rules in the spirit of `pg_hba.conf`: the first rule whose address range, transport
//! and user or group match decides the authentication method.
//!
//! Without configured rules, loopback clients use SCRAM with or without TLS and every other
//! client must use TLS (then SCRAM); a plaintext connection from elsewhere is refused before
//! any credential is exchanged.

use std::net::IpAddr;

use serde::Deserialize;

use super::AuthMethod;

/// One rule of `[[auth.rules]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessRule {
    /// `all` (default), an address, or a CIDR range such as `10.0.0.0/8` or `::1/128`.
    #[serde(default)]
    pub address: Option<String>,
    /// `true`: TLS connections only; `false`: plaintext only; unset: either.
    #[serde(default)]
    pub tls: Option<bool>,
    /// User names this rule applies to (unset with `groups` unset: every user).
    #[serde(default)]
    pub users: Vec<String>,
    /// Groups (from the users file) whose members this rule applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    pub method: AuthMethod,
}

/// The connection facts a rule is matched against.
#[derive(Debug, Clone)]
pub struct Connecting<'a> {
    pub address: IpAddr,
    pub tls: bool,
    pub user: &'a str,
    /// The user's groups in the users file (empty for users only a token knows).
    pub groups: &'a [String],
}

/// The rules in force, with their address ranges parsed.
#[derive(Debug, Clone)]
pub struct AccessRules {
    rules: Vec<(Option<IpRange>, AccessRule)>,
}

impl AccessRules {
    pub fn new(rules: &[AccessRule]) -> Result<Self, String> {
        let rules = if rules.is_empty() {
            default_rules()
        } else {
            rules.to_vec()
        };
        let parsed = rules
            .into_iter()
            .enumerate()
            .map(|(i, rule)| {
                let range = match rule.address.as_deref() {
                    None | Some("all") => None,
                    Some(text) => Some(
                        IpRange::parse(text)
                            .map_err(|e| format!("auth.rules[{i}]: address {text:?}: {e}"))?,
                    ),
                };
                Ok((range, rule))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self { rules: parsed })
    }

    /// The method of the first matching rule; no match is a refusal.
    pub fn method_for(&self, who: &Connecting) -> AuthMethod {
        let address = canonical(who.address);
        self.rules
            .iter()
            .find(|(range, rule)| {
                range.as_ref().is_none_or(|r| r.contains(address))
                    && rule.tls.is_none_or(|tls| tls == who.tls)
                    && applies_to(rule, who)
            })
            .map_or(AuthMethod::Reject, |(_, rule)| rule.method)
    }
}

fn applies_to(rule: &AccessRule, who: &Connecting) -> bool {
    if rule.users.is_empty() && rule.groups.is_empty() {
        return true;
    }
    rule.users.iter().any(|u| u == who.user) || rule.groups.iter().any(|g| who.groups.contains(g))
}

fn default_rules() -> Vec<AccessRule> {
    let rule = |address: Option<&str>, tls, method| AccessRule {
        address: address.map(str::to_owned),
        tls,
        users: Vec::new(),
        groups: Vec::new(),
        method,
    };
    vec![
        rule(Some("127.0.0.0/8"), None, AuthMethod::Scram),
        rule(Some("::1/128"), None, AuthMethod::Scram),
        rule(None, Some(true), AuthMethod::Scram),
    ]
}

/// IPv4 clients of a dual-stack listener arrive as `::ffff:a.b.c.d`; rules name them as IPv4.
fn canonical(address: IpAddr) -> IpAddr {
    address.to_canonical()
}

#[derive(Debug, Clone, Copy)]
struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr.parse().map_err(|e| format!("{e}"))?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= bits)
                .ok_or_else(|| format!("prefix length must be 0..={bits}"))?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        let (net, addr, bits) = match (self.network, address) {
            (IpAddr::V4(n), IpAddr::V4(a)) => (u32::from(n) as u128, u32::from(a) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
            _ => return false,
        };
        let shift = bits - u32::from(self.prefix);
        shift >= bits || (net >> shift) == (addr >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(
        address: &str,
        tls: bool,
        user: &'static str,
        groups: &'static [String],
    ) -> Connecting<'static> {
        Connecting {
            address: address.parse().unwrap(),
            tls,
            user,
            groups,
        }
    }

    #[test]
    fn defaults_require_tls_off_loopback() {
        let rules = AccessRules::new(&[]).unwrap();
        assert_eq!(
            rules.method_for(&who("127.0.0.1", false, "a", &[])),
            AuthMethod::Scram
        );
        assert_eq!(
            rules.method_for(&who("::ffff:127.0.0.1", false, "a", &[])),
            AuthMethod::Scram
        );
        assert_eq!(
            rules.method_for(&who("10.1.2.3", true, "a", &[])),
            AuthMethod::Scram
        );
        assert_eq!(
            rules.method_for(&who("10.1.2.3", false, "a", &[])),
            AuthMethod::Reject
        );
    }

    #[test]
    fn first_match_wins_by_range_transport_user_and_group() {
        let rules: Vec<AccessRule> = toml::from_str::<toml::Table>(
            r#"r = [
              { users = ["dbt"], method = "scram" },
              { address = "10.0.0.0/8", tls = true, groups = ["bi"], method = "jwt" },
              { address = "10.0.0.0/8", method = "reject" },
              { tls = true, method = "cert" },
            ]"#,
        )
        .unwrap()["r"]
            .clone()
            .try_into()
            .unwrap();
        let rules = AccessRules::new(&rules).unwrap();
        static BI: [String; 0] = [];
        let bi: &'static [String] = Box::leak(Box::new(["bi".to_owned()]));
        assert_eq!(
            rules.method_for(&who("10.9.9.9", false, "dbt", &BI)),
            AuthMethod::Scram
        );
        assert_eq!(
            rules.method_for(&who("10.9.9.9", true, "ann", bi)),
            AuthMethod::Jwt
        );
        assert_eq!(
            rules.method_for(&who("10.9.9.9", false, "ann", bi)),
            AuthMethod::Reject
        );
        assert_eq!(
            rules.method_for(&who("192.168.1.1", true, "x", &BI)),
            AuthMethod::Cert
        );
        assert_eq!(
            rules.method_for(&who("192.168.1.1", false, "x", &BI)),
            AuthMethod::Reject
        );
    }

    #[test]
    fn bad_ranges_are_config_errors() {
        let rule = |address: &str| AccessRule {
            address: Some(address.into()),
            tls: None,
            users: vec![],
            groups: vec![],
            method: AuthMethod::Scram,
        };
        assert!(AccessRules::new(&[rule("10.0.0.0/33")]).is_err());
        assert!(AccessRules::new(&[rule("example.com")]).is_err());
        assert!(AccessRules::new(&[rule("0.0.0.0/0")]).is_ok());
    }
}
