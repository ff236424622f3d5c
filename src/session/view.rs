//! What a session's statements see: the principal's access under the policy in force and the
//! `pg_catalog` built for it. The view is checked at each statement's start and replaced when
//! the policy was reloaded; a statement keeps the view it was planned with.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::auth::Principal;
use crate::error::LakegateError;
use crate::pgcatalog::PgCatalog;
use crate::policy::Access;
use crate::server::Gateway;

#[derive(Debug)]
pub struct PrincipalView {
    pub access: Arc<Access>,
    pub pg_catalog: Arc<PgCatalog>,
}

/// The session's current view, shared with its catalog provider and catalog functions.
pub type ViewHandle = Arc<ArcSwap<PrincipalView>>;

pub fn build(gateway: &Gateway, principal: &Principal) -> Result<PrincipalView, LakegateError> {
    let access = gateway.policies.access(principal);
    let pg_catalog = gateway
        .pg_catalogs
        .for_access(&access)
        .map_err(LakegateError::Internal)?;
    Ok(PrincipalView { access, pg_catalog })
}

/// The view under the current policy: the same one if the policy did not change.
pub fn refresh(
    handle: &ViewHandle,
    gateway: &Gateway,
    principal: &Principal,
) -> Result<Arc<PrincipalView>, LakegateError> {
    let current = handle.load_full();
    if current.access.epoch == gateway.policies.epoch() {
        return Ok(current);
    }
    let fresh = Arc::new(build(gateway, principal)?);
    handle.store(Arc::clone(&fresh));
    Ok(fresh)
}
