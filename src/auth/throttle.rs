//! Failed-login throttling per user and per client address (Neon's proxy and PgBouncer do the
//! same). Past the limit, attempts in the window are refused with the very error a wrong
//! password gives, without checking the credential, so guessing stops paying and the refusal
//! reveals nothing. The per-user limit lets an attacker lock a known user out for one window;
//! the per-address limit, counted first, keeps a single source from doing that cheaply.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottleSettings {
    /// Failed logins of one user within the window before further attempts are refused.
    pub max_failures_per_user: u32,
    /// Failed logins from one address within the window before further attempts are refused.
    pub max_failures_per_address: u32,
    pub window_seconds: u64,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_failures_per_user: 10,
            max_failures_per_address: 20,
            window_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// Bounds memory under a flood of distinct names or addresses.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<Key, Window>>,
}

impl LoginThrottle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            windows: Mutex::default(),
        }
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.settings.window_seconds.max(1))
    }

    /// Whether attempts for this user from this address are refused for now.
    pub fn is_throttled(&self, user: &str, address: IpAddr) -> bool {
        let windows = self.windows.lock().expect("throttle");
        let over = |key: Key, limit: u32| {
            windows
                .get(&key)
                .is_some_and(|w| w.started.elapsed() < self.window() && w.failures >= limit)
        };
        over(
            Key::Address(address.to_canonical()),
            self.settings.max_failures_per_address,
        ) || over(
            Key::User(user.to_owned()),
            self.settings.max_failures_per_user,
        )
    }

    pub fn record_failure(&self, user: &str, address: IpAddr) {
        let window = self.window();
        let mut windows = self.windows.lock().expect("throttle");
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, w| w.started.elapsed() < window);
        }
        for key in [
            Key::Address(address.to_canonical()),
            Key::User(user.to_owned()),
        ] {
            let entry = windows.entry(key).or_insert(Window {
                started: Instant::now(),
                failures: 0,
            });
            if entry.started.elapsed() >= window {
                *entry = Window {
                    started: Instant::now(),
                    failures: 0,
                };
            }
            entry.failures += 1;
        }
    }

    /// A successful login clears the user's count (not the address's: one good password must
    /// not reset a source that is guessing others).
    pub fn record_success(&self, user: &str) {
        let mut windows = self.windows.lock().expect("throttle");
        windows.remove(&Key::User(user.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_address_limits_apply_separately() {
        let throttle = LoginThrottle::new(ThrottleSettings {
            max_failures_per_user: 2,
            max_failures_per_address: 3,
            window_seconds: 60,
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        throttle.record_failure("ann", a);
        assert!(!throttle.is_throttled("ann", a));
        throttle.record_failure("ann", a);
        assert!(throttle.is_throttled("ann", b), "per user");
        assert!(!throttle.is_throttled("bob", b));
        throttle.record_failure("bob", a);
        assert!(throttle.is_throttled("carl", a), "per address");
        throttle.record_success("ann");
        assert!(!throttle.is_throttled("ann", b));
    }
}
