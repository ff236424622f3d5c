//! LF-Tags from catalog parameters: `lf_tag.KEY = VALUE` on a database, a table or a column.
//! A column's effective tags are its database's, overridden by its table's, overridden by its
//! own (one value per key, as in Lake Formation).

use std::collections::HashMap;

use super::rules::TagExpression;
use crate::catalog::TableEntry;

const TAG_PREFIX: &str = "lf_tag.";

pub type Tags = HashMap<String, String>;

fn tags_of(parameters: &HashMap<String, String>) -> impl Iterator<Item = (String, String)> + '_ {
    parameters.iter().filter_map(|(k, v)| {
        k.strip_prefix(TAG_PREFIX)
            .map(|key| (key.to_owned(), v.clone()))
    })
}

/// Effective tags of every column of a table, in the table's column order.
pub fn column_tags(database: &HashMap<String, String>, entry: &TableEntry) -> Vec<Tags> {
    let mut table: Tags = tags_of(database).collect();
    table.extend(tags_of(&entry.glue.parameters));
    let columns = entry
        .glue
        .storage_descriptor
        .columns
        .iter()
        .chain(&entry.glue.partition_keys);
    columns
        .map(|column| {
            let mut tags = table.clone();
            tags.extend(tags_of(&column.parameters));
            tags
        })
        .collect()
}

impl TagExpression {
    /// Every key present with one of its values.
    pub fn matches(&self, tags: &Tags) -> bool {
        self.terms
            .iter()
            .all(|(key, values)| tags.get(key).is_some_and(|v| values.contains(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_combine_as_in_lake_formation() {
        let expression = TagExpression {
            terms: vec![
                ("module".into(), vec!["sales".into()]),
                (
                    "division".into(),
                    vec!["consumer".into(), "commercial".into()],
                ),
            ],
        };
        let tags = |pairs: &[(&str, &str)]| -> Tags {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert!(expression.matches(&tags(&[("module", "sales"), ("division", "consumer")])));
        assert!(expression.matches(&tags(&[("module", "sales"), ("division", "commercial")])));
        assert!(!expression.matches(&tags(&[("module", "sales")])));
        assert!(!expression.matches(&tags(&[("module", "hr"), ("division", "consumer")])));
    }
}
