//! Statement texts a session has parsed, kept with their commands.
//!
//! Parsing (sqlparser, then the PostgreSQL-compatibility rewrites walking the tree) was the
//! largest share of a repeated simple query's CPU after the plan cache (benches/README, C).
//! Parsing depends on the text alone, so a session that sends the same text again (a simple
//! query in a loop, a driver that sends Parse for the same text each time) gets a copy of the
//! commands it parsed before. Only short texts that parsed are kept.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::LakegateError;
use crate::statement::{self, Command};

/// Texts kept per session; a session that sends more distinct texts starts over.
const MAX_TEXTS: usize = 32;

/// Longer texts are parsed each time: they are rarely repeated and would hold memory.
const MAX_TEXT_BYTES: usize = 2048;

#[derive(Debug, Default)]
pub(super) struct ParsedTexts {
    commands: Mutex<HashMap<String, Vec<Command>>>,
}

impl ParsedTexts {
    /// The commands of `sql`, as `statement::parse` gives them.
    pub fn parse(&self, sql: &str) -> Result<Vec<Command>, LakegateError> {
        if let Some(commands) = self.commands.lock().expect("parsed texts").get(sql) {
            return Ok(commands.clone());
        }
        let commands = statement::parse(sql)?;
        if sql.len() <= MAX_TEXT_BYTES {
            let mut kept = self.commands.lock().expect("parsed texts");
            if kept.len() >= MAX_TEXTS {
                kept.clear();
            }
            kept.insert(sql.to_owned(), commands.clone());
        }
        Ok(commands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(commands: &[Command]) -> String {
        format!("{commands:?}")
    }

    #[test]
    fn a_repeated_text_gives_the_commands_it_parsed_to() {
        let texts = ParsedTexts::default();
        let sql = "SELECT 1; SET application_name = 'x'";
        let first = texts.parse(sql).unwrap();
        assert_eq!(texts.commands.lock().unwrap().len(), 1);
        let again = texts.parse(sql).unwrap();
        assert_eq!(rendered(&again), rendered(&first));
        assert_eq!(rendered(&again), rendered(&statement::parse(sql).unwrap()));
    }

    #[test]
    fn errors_and_long_texts_are_not_kept() {
        let texts = ParsedTexts::default();
        assert!(texts.parse("SELEC 1").is_err());
        let long = format!("SELECT 1 AS \"{}\"", "x".repeat(MAX_TEXT_BYTES));
        texts.parse(&long).unwrap();
        assert!(texts.commands.lock().unwrap().is_empty());
        assert!(texts.parse("SELEC 1").is_err());
    }

    #[test]
    fn past_the_bound_the_kept_texts_start_over() {
        let texts = ParsedTexts::default();
        for i in 0..=MAX_TEXTS {
            texts.parse(&format!("SELECT {i}")).unwrap();
        }
        assert_eq!(texts.commands.lock().unwrap().len(), 1);
    }
}
