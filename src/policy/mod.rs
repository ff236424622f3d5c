//! Access policies: Lake-Formation-style grants, data filters and column masks, enforced inside
//! the query plan.
//!
//! - [`source`] loads the casbin model and policy and types every row ([`rules`]);
//! - [`compile`] indexes rules by subject and decides one table for one principal;
//! - [`access`] is a principal's view of the catalog (what exists for them);
//! - [`secure`] reads a table through that decision: hidden columns absent, row filter on raw
//!   values, masks at the scan, behind a barrier no user expression crosses (D1–D7).
//!
//! Policies reload when their files change: the new load is swapped in atomically, statements
//! already planned keep the snapshot they started with, and a file that does not load leaves
//! the old policy in force.

pub mod access;
pub mod barrier;
pub mod base_tables;
pub mod cli;
pub mod compile;
mod decide;
pub mod explain;
pub mod leakproof;
pub mod rules;
pub mod secure;
pub mod source;
pub mod tags;
#[cfg(test)]
mod tests;
pub mod writes;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;

pub use access::{Access, TableAccess};
pub use compile::{PolicyIndex, TablePolicy};
pub use rules::Permission;
pub use source::PolicyFiles;
pub use writes::WriteTarget;

use crate::auth::Principal;
use crate::catalog::LakeCatalog;

/// How long changed policy files must stay unchanged before they are loaded.
const SETTLE: Duration = Duration::from_millis(200);

/// A principal as far as policies care: superusers share one unrestricted view.
type PrincipalKey = (String, Vec<String>, bool);

fn principal_key(principal: &Principal) -> PrincipalKey {
    if principal.superuser {
        return (String::new(), Vec::new(), true);
    }
    let mut groups = principal.groups.clone();
    groups.sort();
    (principal.user.clone(), groups, false)
}

/// One policy load.
#[derive(Debug)]
pub struct PolicySnapshot {
    pub epoch: u64,
    pub index: PolicyIndex,
    accesses: Mutex<HashMap<PrincipalKey, Arc<Access>>>,
}

/// The policies in force, swapped as a whole on reload.
#[derive(Debug)]
pub struct PolicyStore {
    files: PolicyFiles,
    lake: Arc<LakeCatalog>,
    current: ArcSwap<PolicySnapshot>,
    /// A hash of the files' contents as of the last load attempt.
    seen: Mutex<u64>,
}

impl PolicyStore {
    /// Loads the policy; an invalid policy at start is an error for the operator.
    pub async fn load(files: PolicyFiles, lake: Arc<LakeCatalog>) -> Result<Self, String> {
        let seen = fingerprint(&files).unwrap_or_default();
        let snapshot = load_snapshot(&files, 1, &lake).await.map_err(|e| {
            format!(
                "cannot load the access policy from {}: {e}",
                files.describe()
            )
        })?;
        tracing::info!(
            rules = snapshot.index.rule_count,
            from = %files.describe(),
            "access policy loaded"
        );
        Ok(Self {
            files,
            lake,
            current: ArcSwap::from_pointee(snapshot),
            seen: Mutex::new(seen),
        })
    }

    pub fn snapshot(&self) -> Arc<PolicySnapshot> {
        self.current.load_full()
    }

    pub fn epoch(&self) -> u64 {
        self.current.load().epoch
    }

    /// The principal's view under the current policy.
    pub fn access(&self, principal: &Principal) -> Arc<Access> {
        let snapshot = self.current.load();
        let key = principal_key(principal);
        let mut accesses = snapshot.accesses.lock().expect("access cache");
        let access = accesses.entry(key).or_insert_with(|| {
            let rules = (!principal.superuser).then(|| snapshot.index.rules_for(principal));
            let access = Access::new(Arc::clone(&self.lake), rules, snapshot.epoch);
            Arc::new(access.for_user(&principal.user))
        });
        Arc::clone(access)
    }

    /// Reloads when a policy file's content changed and has stayed the same for a moment (a
    /// file being written is not read half-way). A policy that does not load is logged and the
    /// old one stays in force.
    pub async fn reload_if_changed(&self) {
        let PolicyFiles::Dir(_) = &self.files else {
            return;
        };
        let seen = *self.seen.lock().expect("policy fingerprint");
        let Some(changed) = fingerprint(&self.files).filter(|f| *f != seen) else {
            return;
        };
        tokio::time::sleep(SETTLE).await;
        if fingerprint(&self.files) != Some(changed) {
            return; // still being written; the next check looks again
        }
        *self.seen.lock().expect("policy fingerprint") = changed;
        let epoch = self.epoch() + 1;
        match load_snapshot(&self.files, epoch, &self.lake).await {
            Ok(snapshot) => {
                tracing::info!(
                    rules = snapshot.index.rule_count,
                    epoch,
                    "access policy reloaded"
                );
                self.current.store(Arc::new(snapshot));
            }
            Err(e) => tracing::error!(
                error = %e,
                "the changed access policy is invalid; the previous policy stays in force"
            ),
        }
    }

    /// Polls the policy files for changes.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let store = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(store) = store.upgrade() else { return };
                store.reload_if_changed().await;
            }
        });
    }
}

/// Loads and checks a policy: rules that name columns or expressions the catalog cannot
/// satisfy are refused here, rather than being skipped when a statement meets them (D6).
async fn load_snapshot(
    files: &PolicyFiles,
    epoch: u64,
    lake: &LakeCatalog,
) -> Result<PolicySnapshot, String> {
    let (model, policy) = files.read()?;
    let index = PolicyIndex::build(source::load(&model, &policy).await?)?;
    let mut fatal = Vec::new();
    for problem in explain::check_against_catalog(lake, &index) {
        match problem.fatal {
            true => fatal.push(problem.message),
            false => tracing::warn!(problem = %problem.message, "access policy"),
        }
    }
    if !fatal.is_empty() {
        return Err(fatal.join("; "));
    }
    Ok(PolicySnapshot {
        epoch,
        index,
        accesses: Mutex::default(),
    })
}

/// A hash of the policy files' contents; `None` while one cannot be read.
fn fingerprint(files: &PolicyFiles) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let (model, policy) = files.read().ok()?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (model, policy).hash(&mut hasher);
    Some(hasher.finish())
}
