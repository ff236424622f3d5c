//! Policy files: a casbin model (`model.conf`) and policy (`policy.csv`), loaded through casbin,
//! then read back as typed rules.
//!
//! casbin is the authoring and storage format, and its role manager resolves role inheritance
//! (`g` rows). Its `enforce` evaluates every row per call (milliseconds at thousands of rows,
//! see deps.md), so statements never call it: [`super::compile`] indexes the rules instead. The
//! model's matcher still states the grant semantics, and a test checks the index against
//! `enforce` for table and column grants.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use casbin::function_map::OperatorFunction;
use casbin::rhai::Dynamic;
use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi, Model, RbacApi, StringAdapter};

use super::rules::{self, DataFilter, Grant, Mask};

const DEMO_MODEL: &str = include_str!("../../policies/model.conf");
const DEMO_POLICY: &str = include_str!("../../policies/policy.csv");

/// Where policies come from.
#[derive(Debug, Clone)]
pub enum PolicyFiles {
    /// The demo policy for the demo principals, built into the binary.
    Demo,
    /// `DIR/model.conf` and `DIR/policy.csv`.
    Dir(PathBuf),
}

impl PolicyFiles {
    pub fn model_path(dir: &Path) -> PathBuf {
        dir.join("model.conf")
    }

    pub fn policy_path(dir: &Path) -> PathBuf {
        dir.join("policy.csv")
    }

    /// The texts of the model and the policy.
    pub fn read(&self) -> Result<(String, String), String> {
        match self {
            PolicyFiles::Demo => Ok((DEMO_MODEL.to_owned(), DEMO_POLICY.to_owned())),
            PolicyFiles::Dir(dir) => {
                let read = |path: PathBuf| {
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot read policy file {}: {e}", path.display()))
                };
                Ok((read(Self::model_path(dir))?, read(Self::policy_path(dir))?))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            PolicyFiles::Demo => "the built-in demo policy".to_owned(),
            PolicyFiles::Dir(dir) => dir.display().to_string(),
        }
    }
}

/// Every rule of a policy, typed, plus each subject's inherited roles.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub grants: Vec<Grant>,
    pub filters: Vec<DataFilter>,
    pub masks: Vec<Mask>,
    /// Subject → every role it inherits through `g` rows (transitively).
    pub roles: HashMap<String, Vec<String>>,
}

impl RuleSet {
    pub fn len(&self) -> usize {
        self.grants.len() + self.filters.len() + self.masks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Loads model and policy through casbin and types every row; any row that does not parse is an
/// error naming it.
pub async fn load(model: &str, policy: &str) -> Result<RuleSet, String> {
    check_row_kinds(policy)?;
    let enforcer = enforcer(model, policy).await?;
    let mut set = RuleSet::default();
    for row in enforcer.get_policy() {
        set.grants.push(typed(&row, "p", rules::parse_grant)?);
    }
    for row in enforcer.get_named_policy("p2") {
        set.filters
            .push(typed(&row, "p2", rules::parse_data_filter)?);
    }
    for row in enforcer.get_named_policy("p3") {
        set.masks.push(typed(&row, "p3", rules::parse_mask)?);
    }
    let mut subjects: Vec<String> = Vec::new();
    for row in enforcer.get_grouping_policy() {
        let [member, role] = row.as_slice() else {
            return Err(format!(
                "role row {} must be: g, SUBJECT, ROLE",
                row.join(", ")
            ));
        };
        rules::check_subject(member)?;
        rules::check_subject(role)?;
        subjects.push(member.clone());
    }
    for subject in subjects {
        let roles = enforcer.get_implicit_roles_for_user(&subject, None);
        set.roles.insert(subject, roles);
    }
    Ok(set)
}

/// casbin with lakegate's matcher function registered.
pub async fn enforcer(model: &str, policy: &str) -> Result<Enforcer, String> {
    let model = DefaultModel::from_str(model)
        .await
        .map_err(|e| format!("invalid policy model: {e}"))?;
    for (section, kind) in [("p", "p"), ("p", "p2"), ("p", "p3"), ("g", "g")] {
        if !model
            .get_model()
            .get(section)
            .is_some_and(|s| s.contains_key(kind))
        {
            return Err(format!(
                "the policy model must define {kind} (see policies/model.conf)"
            ));
        }
    }
    let adapter = StringAdapter::new(policy.to_owned());
    let mut enforcer = Enforcer::new(model, adapter)
        .await
        .map_err(|e| format!("invalid policy: {e}"))?;
    enforcer.add_function("lakeMatch", OperatorFunction::Arg3(lake_match));
    Ok(enforcer)
}

/// casbin drops rows of a kind its model lacks; a dropped mask would show raw data, so every row
/// must be of a known kind before casbin sees it.
fn check_row_kinds(policy: &str) -> Result<(), String> {
    for line in policy.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let kind = line.split(',').next().unwrap_or_default().trim();
        if !matches!(kind, "p" | "p2" | "p3" | "g") {
            return Err(format!(
                "policy row {line:?}: unknown kind {kind:?} (expected p, p2, p3 or g)"
            ));
        }
    }
    Ok(())
}

fn typed<T>(
    row: &[String],
    kind: &str,
    parse: impl Fn(&[String], &str) -> Result<T, String>,
) -> Result<T, String> {
    let source = format!("{kind}, {}", row.join(", "));
    parse(row, &source).map_err(|e| format!("policy row {source:?}: {e}"))
}

/// The matcher's `lakeMatch(r.obj, p.obj, p.cols)`: a request object `db.table.column` (or
/// `db.table`, `db`) against a grant's resource and columns. Tag and data-filter resources need
/// the catalog and the filter definitions, so casbin cannot decide them; they never match here.
fn lake_match(request: Dynamic, resource: Dynamic, columns: Dynamic) -> Dynamic {
    let (request, resource, columns) = (
        request.into_string().unwrap_or_default(),
        resource.into_string().unwrap_or_default(),
        columns.into_string().unwrap_or_default(),
    );
    Dynamic::from(request_matches(&request, &resource, &columns))
}

pub fn request_matches(request: &str, resource: &str, columns: &str) -> bool {
    let parts: Vec<&str> = request.split('.').collect();
    let (Ok(resource), Ok(columns)) = (
        rules::parse_resource(resource),
        rules::ColumnSet::parse(columns),
    ) else {
        return false;
    };
    match (resource, parts.as_slice()) {
        (rules::Resource::Database(d), [db]) => rules::pattern_matches(&d, db),
        (rules::Resource::Table { database, table }, [db, t, rest @ ..]) => {
            rules::pattern_matches(&database, db)
                && rules::pattern_matches(&table, t)
                && rest.first().is_none_or(|c| columns.contains(c))
        }
        _ => false,
    }
}
