//! Admission at accept: the connection count behind `max_connections`, and a cap on connections
//! from one address that have not signed in yet, so one source cannot hold every slot with
//! sockets that never authenticate (each still ends at the startup timeout).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Counts a connection for as long as it lives.
pub struct ConnectionSlot {
    open: Arc<AtomicUsize>,
    /// Connections open including this one.
    pub count: usize,
}

impl ConnectionSlot {
    pub fn take(open: &Arc<AtomicUsize>) -> Self {
        let count = open.fetch_add(1, Ordering::SeqCst) + 1;
        Self {
            open: Arc::clone(open),
            count,
        }
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections per address that have not finished authentication.
#[derive(Debug, Default)]
pub struct PendingLogins {
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

impl PendingLogins {
    /// A pending-login slot for `address`, or `None` when it already has `max` of them.
    pub fn admit(self: &Arc<Self>, address: IpAddr, max: usize) -> Option<PendingLogin> {
        let address = address.to_canonical();
        let mut counts = self.by_address.lock().expect("pending logins");
        let count = counts.entry(address).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PendingLogin {
            logins: Arc::clone(self),
            address,
        })
    }
}

/// Released when the connection signs in or ends.
pub struct PendingLogin {
    logins: Arc<PendingLogins>,
    address: IpAddr,
}

impl Drop for PendingLogin {
    fn drop(&mut self) {
        let mut counts = self.logins.by_address.lock().expect("pending logins");
        if let Some(count) = counts.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_logins_are_capped_per_address_and_released() {
        let logins = Arc::new(PendingLogins::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let first = logins.admit(a, 2).unwrap();
        let _second = logins.admit(a, 2).unwrap();
        assert!(logins.admit(a, 2).is_none());
        assert!(logins.admit("10.0.0.2".parse().unwrap(), 2).is_some());
        drop(first);
        assert!(logins.admit(a, 2).is_some());
    }
}
