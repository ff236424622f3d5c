//! CancelRequest: a client opens a second connection with the backend's (pid, secret key) and
//! asks to stop the running statement. The registry maps keys to live sessions; a guard kept in
//! the connection's state removes the entry when the connection closes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use bytes::Bytes;
use pgwire::api::cancel::CancelHandler;
use pgwire::messages::cancel::CancelRequest;

use crate::session::Session;

type Key = (i32, Bytes);

#[derive(Debug, Default)]
pub struct CancelRegistry {
    sessions: Mutex<HashMap<Key, Weak<Session>>>,
}

impl CancelRegistry {
    /// Registers a session; dropping the returned guard unregisters it.
    pub fn register(
        self: &Arc<Self>,
        pid: i32,
        secret: Bytes,
        session: &Arc<Session>,
    ) -> CancelRegistration {
        let key = (pid, secret);
        self.sessions
            .lock()
            .expect("cancel registry")
            .insert(key.clone(), Arc::downgrade(session));
        CancelRegistration {
            registry: Arc::clone(self),
            key,
        }
    }

    fn cancel(&self, key: &Key) -> bool {
        let session = self
            .sessions
            .lock()
            .expect("cancel registry")
            .get(key)
            .and_then(Weak::upgrade);
        session.map(|s| s.cancel_running()).is_some()
    }
}

/// Kept in the connection's session extensions for as long as the connection lives.
#[derive(Debug)]
pub struct CancelRegistration {
    registry: Arc<CancelRegistry>,
    key: Key,
}

impl Drop for CancelRegistration {
    fn drop(&mut self) {
        self.registry
            .sessions
            .lock()
            .expect("cancel registry")
            .remove(&self.key);
    }
}

/// pgwire's hook for CancelRequest messages.
#[derive(Debug)]
pub struct LakeCancelHandler(pub Arc<CancelRegistry>);

#[async_trait]
impl CancelHandler for LakeCancelHandler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes());
        // An unknown key is ignored silently, as PostgreSQL does: no oracle for valid keys.
        if !self.0.cancel(&key) {
            tracing::debug!(pid = request.pid, "cancel request for an unknown session");
        }
    }
}
