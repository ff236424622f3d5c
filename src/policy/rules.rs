//! The rows of a policy file, typed: grants (`p`), data filters (`p2`), column masks (`p3`) and
//! role inheritance (`g`), in Lake Formation's terms. Parsing rejects anything it does not
//! understand, so a typo fails the load instead of granting or hiding something by accident.

use std::fmt;

/// A permission, as Lake Formation names it. `ALL` stands for every one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Select,
    Describe,
    Insert,
    Delete,
    CreateTable,
    CreateDatabase,
    Alter,
    Drop,
    All,
}

impl Permission {
    fn parse(text: &str) -> Result<Self, String> {
        Ok(match text.to_ascii_uppercase().as_str() {
            "SELECT" => Self::Select,
            "DESCRIBE" => Self::Describe,
            "INSERT" => Self::Insert,
            "DELETE" => Self::Delete,
            "CREATE_TABLE" => Self::CreateTable,
            "CREATE_DATABASE" => Self::CreateDatabase,
            "ALTER" => Self::Alter,
            "DROP" => Self::Drop,
            "ALL" => Self::All,
            other => {
                return Err(format!(
                    "unknown permission {other:?} (expected SELECT, DESCRIBE, INSERT, DELETE, \
                     CREATE_TABLE, CREATE_DATABASE, ALTER, DROP or ALL)"
                ))
            }
        })
    }

    /// Whether a rule for `self` speaks about `wanted`. SELECT includes DESCRIBE: what one may
    /// read, one may see in the catalog.
    pub fn covers(self, wanted: Permission) -> bool {
        self == wanted
            || self == Permission::All
            || (self == Permission::Select && wanted == Permission::Describe)
    }
}

/// What a rule is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// A database (`analytics`, or a pattern such as `*`): CREATE_TABLE and DESCRIBE on it.
    Database(String),
    /// Tables by database and table pattern (`sales.orders`, `sales.*`, `*.*`).
    Table { database: String, table: String },
    /// A named data filter (`filter:emea_orders`), defined by a `p2` row.
    DataFilter(String),
    /// Every table and column whose tags satisfy the expression (`tag:domain=web`).
    Tag(TagExpression),
}

/// An LF-Tag expression: every key must match (AND), any of a key's values will do (OR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagExpression {
    pub terms: Vec<(String, Vec<String>)>,
}

/// Which columns of the matched tables a rule names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnSet {
    All,
    Only(Vec<String>),
    AllExcept(Vec<String>),
}

impl ColumnSet {
    /// `*`, `* -email -phone`, or `order_id amount`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.split_first() {
            None => Err("empty column list (use * for all columns)".to_owned()),
            Some((&"*", rest)) => {
                let excluded = rest
                    .iter()
                    .map(|w| {
                        w.strip_prefix('-').map(str::to_owned).ok_or_else(|| {
                            format!("after * only exclusions such as -{w} may follow")
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(match excluded.is_empty() {
                    true => Self::All,
                    false => Self::AllExcept(excluded),
                })
            }
            Some(_) => {
                if let Some(bad) = words.iter().find(|w| w.starts_with('-') || **w == "*") {
                    return Err(format!("{bad:?} may only follow a leading *"));
                }
                Ok(Self::Only(words.iter().map(|w| (*w).to_owned()).collect()))
            }
        }
    }

    /// Names compare case-insensitively, as Glue's (lower-cased) names do.
    pub fn contains(&self, column: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(names) => names.iter().any(|n| n.eq_ignore_ascii_case(column)),
            Self::AllExcept(names) => !names.iter().any(|n| n.eq_ignore_ascii_case(column)),
        }
    }

    /// The column names the set spells out (none for `*`).
    pub fn named(&self) -> &[String] {
        match self {
            Self::All => &[],
            Self::Only(names) | Self::AllExcept(names) => names,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// A `p` row: subject, resource, columns, permission, effect.
#[derive(Debug, Clone)]
pub struct Grant {
    pub subject: String,
    pub resource: Resource,
    pub columns: ColumnSet,
    pub permission: Permission,
    pub effect: Effect,
    /// The row as written, to say which rule decided.
    pub source: String,
}

/// A `p2` row: a Lake Formation data cells filter. Granting SELECT on `filter:NAME` gives the
/// rows where `row_filter` holds, and in them only `columns`; other granted cells read as NULL.
#[derive(Debug, Clone)]
pub struct DataFilter {
    pub name: String,
    pub database: String,
    pub table: String,
    pub row_filter: String,
    pub columns: ColumnSet,
    pub source: String,
}

/// A `p3` row: the subject sees `column` through `expression` (SQL over the raw row).
#[derive(Debug, Clone)]
pub struct Mask {
    pub subject: String,
    pub database: String,
    pub table: String,
    pub column: String,
    pub expression: String,
    pub source: String,
}

/// A subject: `user:NAME`, `group:NAME` or `role:NAME`.
pub fn check_subject(text: &str) -> Result<String, String> {
    match text.split_once(':') {
        Some(("user" | "group" | "role", name)) if !name.is_empty() => Ok(text.to_owned()),
        _ => Err(format!(
            "subject {text:?} must be user:NAME, group:NAME or role:NAME"
        )),
    }
}

pub fn parse_resource(text: &str) -> Result<Resource, String> {
    if let Some(name) = text.strip_prefix("filter:") {
        return Ok(Resource::DataFilter(name.to_owned()));
    }
    if let Some(expression) = text.strip_prefix("tag:") {
        return parse_tag_expression(expression).map(Resource::Tag);
    }
    match text.split('.').collect::<Vec<_>>().as_slice() {
        [database] if !database.is_empty() => Ok(Resource::Database((*database).to_owned())),
        [database, table] if !database.is_empty() && !table.is_empty() => Ok(Resource::Table {
            database: (*database).to_owned(),
            table: (*table).to_owned(),
        }),
        _ => Err(format!(
            "resource {text:?} must be DATABASE, DATABASE.TABLE, filter:NAME or tag:KEY=VALUE"
        )),
    }
}

/// `domain=web`, `domain=web|sales&sensitivity=public`.
fn parse_tag_expression(text: &str) -> Result<TagExpression, String> {
    let terms = text
        .split('&')
        .map(|term| {
            let (key, values) = term
                .split_once('=')
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| format!("tag term {term:?} must be KEY=VALUE[|VALUE…]"))?;
            let values = values.split('|').map(str::to_owned).collect();
            Ok((key.to_owned(), values))
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(TagExpression { terms })
}

/// `sales.customers.email` → (database, table, column).
pub fn parse_column(text: &str) -> Result<(String, String, String), String> {
    match text.split('.').collect::<Vec<_>>().as_slice() {
        [d, t, c] if !d.is_empty() && !t.is_empty() && !c.is_empty() => {
            Ok(((*d).to_owned(), (*t).to_owned(), (*c).to_owned()))
        }
        _ => Err(format!("column {text:?} must be DATABASE.TABLE.COLUMN")),
    }
}

pub fn parse_grant(fields: &[String], source: &str) -> Result<Grant, String> {
    let [subject, resource, columns, permission, effect] = fields else {
        return Err("a grant has 5 fields: subject, resource, columns, permission, effect".into());
    };
    let resource = parse_resource(resource)?;
    let columns = ColumnSet::parse(columns)?;
    if !matches!(resource, Resource::Table { .. }) && columns != ColumnSet::All {
        return Err("column lists apply to DATABASE.TABLE resources only; use *".into());
    }
    Ok(Grant {
        subject: check_subject(subject)?,
        resource,
        columns,
        permission: Permission::parse(permission)?,
        effect: match effect.to_ascii_lowercase().as_str() {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            other => return Err(format!("effect {other:?} must be allow or deny")),
        },
        source: source.to_owned(),
    })
}

pub fn parse_data_filter(fields: &[String], source: &str) -> Result<DataFilter, String> {
    let [name, table, row_filter, columns] = fields else {
        return Err("a data filter has 4 fields: name, table, row filter, columns".into());
    };
    let Resource::Table { database, table } = parse_resource(table)? else {
        return Err(format!(
            "data filter {name}: {table:?} must be DATABASE.TABLE"
        ));
    };
    if database.contains('*') || table.contains('*') {
        return Err(format!("data filter {name}: names one table, without *"));
    }
    if row_filter.trim().is_empty() {
        return Err(format!("data filter {name}: empty row filter (use TRUE)"));
    }
    Ok(DataFilter {
        name: name.clone(),
        database,
        table,
        row_filter: row_filter.clone(),
        columns: ColumnSet::parse(columns)?,
        source: source.to_owned(),
    })
}

pub fn parse_mask(fields: &[String], source: &str) -> Result<Mask, String> {
    let [subject, column, expression] = fields else {
        return Err("a mask has 3 fields: subject, DATABASE.TABLE.COLUMN, expression".into());
    };
    let (database, table, column) = parse_column(column)?;
    if expression.trim().is_empty() {
        return Err(format!(
            "mask on {database}.{table}.{column}: empty expression"
        ));
    }
    Ok(Mask {
        subject: check_subject(subject)?,
        database,
        table,
        column,
        expression: expression.clone(),
        source: source.to_owned(),
    })
}

/// `*` matches any run of characters; everything else matches itself, ignoring ASCII case.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    glob(&pattern.to_ascii_lowercase(), &name.to_ascii_lowercase())
}

fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((prefix, rest)) => {
            let Some(tail) = name.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob(rest, &tail[i..]))
        }
    }
}

impl fmt::Display for ColumnSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => f.write_str("*"),
            Self::Only(names) => f.write_str(&names.join(" ")),
            Self::AllExcept(names) => write!(f, "* -{}", names.join(" -")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(row: &[&str]) -> Vec<String> {
        row.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn column_sets_parse_include_and_exclude_lists() {
        assert_eq!(ColumnSet::parse("*").unwrap(), ColumnSet::All);
        let except = ColumnSet::parse("* -email -phone").unwrap();
        assert!(!except.contains("email") && except.contains("name"));
        let only = ColumnSet::parse("name country").unwrap();
        assert!(only.contains("name") && !only.contains("email"));
        assert!(ColumnSet::parse("name -email").is_err());
        assert!(ColumnSet::parse("* email").is_err());
    }

    #[test]
    fn grants_reject_what_they_do_not_understand() {
        let ok = parse_grant(
            &fields(&["group:a", "sales.*", "*", "SELECT", "allow"]),
            "row",
        );
        assert!(ok.is_ok());
        for bad in [
            ["analysts", "sales.*", "*", "SELECT", "allow"],
            ["group:a", "sales.*", "*", "READ", "allow"],
            ["group:a", "sales.*", "*", "SELECT", "maybe"],
            ["group:a", "sales", "email", "SELECT", "allow"],
            ["group:a", "a.b.c", "*", "SELECT", "allow"],
        ] {
            assert!(parse_grant(&fields(&bad), "row").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tag_expressions_and_patterns() {
        let Resource::Tag(tags) = parse_resource("tag:domain=web|sales&tier=gold").unwrap() else {
            panic!("not a tag resource");
        };
        assert_eq!(tags.terms.len(), 2);
        assert_eq!(tags.terms[0].1, ["web", "sales"]);
        assert!(pattern_matches("sales*", "sales_eu"));
        assert!(pattern_matches("*", "anything"));
        assert!(pattern_matches("a*c", "abbc"));
        assert!(!pattern_matches("a*c", "abcd"));
        assert!(pattern_matches("Sales.*", "sales.orders"));
    }
}
