//! The `lakegate policy` commands.

use crate::auth::Principal;
use crate::config::Config;
use crate::server::Gateway;

/// `lakegate policy check`: loads the policy (as the server would) and checks its filters and
/// masks against the catalog.
pub fn check(config: Config) -> Result<(), String> {
    crate::cli::runtime()?.block_on(async move {
        let gateway = Gateway::build(&config).await?;
        let snapshot = gateway.policies.snapshot();
        let problems = super::explain::check_against_catalog(&gateway.lake, &snapshot.index);
        if problems.is_empty() {
            println!(
                "policy OK: {} rules; every data filter and mask plans against the catalog",
                snapshot.index.rule_count
            );
            return Ok(());
        }
        for problem in &problems {
            let kind = if problem.fatal { "problem" } else { "note" };
            println!("{kind}: {}", problem.message);
        }
        let fatal = problems.iter().filter(|p| p.fatal).count();
        if fatal == 0 {
            return Ok(());
        }
        Err(format!(
            "{fatal} problem(s) in the policy; it would not load"
        ))
    })
}

/// `lakegate policy explain`: a user's effective access, table by table.
pub async fn explain(
    config: Config,
    user: String,
    groups: Option<Vec<String>>,
    table: Option<String>,
) -> Result<(), String> {
    let gateway = Gateway::build(&config).await?;
    let known = gateway.users.current().principal(&user).cloned();
    let principal = match (known, groups) {
        (Some(mut p), Some(groups)) => {
            p.groups = groups;
            p
        }
        (Some(p), None) => p,
        (None, groups) => Principal {
            user: user.clone(),
            groups: groups.unwrap_or_default(),
            superuser: false,
        },
    };
    let access = gateway.policies.access(&principal);
    let tables: Vec<(String, String)> = match &table {
        Some(name) => {
            let (schema, table) = name
                .split_once('.')
                .ok_or_else(|| format!("--table {name}: expected DATABASE.TABLE"))?;
            vec![(schema.to_owned(), table.to_owned())]
        }
        None => access
            .schema_names()
            .into_iter()
            .flat_map(|s| {
                access
                    .table_names(&s)
                    .into_iter()
                    .map(move |t| (s.clone(), t))
            })
            .collect(),
    };
    println!(
        "user {} (groups: {})",
        principal.user,
        principal.groups.join(", ")
    );
    for (schema, name) in tables {
        match access.table(&schema, &name) {
            Some(table) => print!("{}", super::explain::describe(&table)),
            None => {
                println!("{schema}.{name}\n  no access (the table does not exist for this user)")
            }
        }
    }
    Ok(())
}
