//! Statement text as it is recorded: one statement's own text out of a multi-statement message,
//! literals replaced by `$n` when redaction is on (always in statements that can carry a
//! password), and a length limit.
//!
//! Both work on the SQL tokenizer's spans over the original text, so what is recorded is what
//! the client sent, comments included (dbt and BI tools put their context there).

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

fn tokens(sql: &str) -> Option<Vec<TokenWithSpan>> {
    Tokenizer::new(&PostgreSqlDialect {}, sql)
        .tokenize_with_location()
        .ok()
}

/// Byte offsets of (line, column) locations; columns count characters from 1.
struct Offsets {
    line_starts: Vec<usize>,
}

impl Offsets {
    fn new(sql: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(i, _)| i + 1));
        Self { line_starts }
    }

    fn of(&self, sql: &str, at: Location) -> Option<usize> {
        let start = *self
            .line_starts
            .get(usize::try_from(at.line).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(at.column).ok()?.checked_sub(1)?;
        match sql[start..].char_indices().nth(column) {
            Some((i, _)) => Some(start + i),
            None => Some(sql.len()),
        }
    }
}

fn is_blank(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_) | Token::EOF)
}

/// The text of each statement of a message (without the separating `;`), or `None` when the
/// message does not tokenize.
pub fn split_statements(sql: &str) -> Option<Vec<String>> {
    let offsets = Offsets::new(sql);
    let mut statements = Vec::new();
    let (mut start, mut has_content) = (0, false);
    for token in tokens(sql)? {
        if token.token == Token::SemiColon {
            let end = offsets.of(sql, token.span.start)?;
            if has_content {
                statements.push(sql[start..end].trim().to_owned());
            }
            (start, has_content) = (offsets.of(sql, token.span.end)?, false);
        } else if !is_blank(&token.token) {
            has_content = true;
        }
    }
    if has_content {
        statements.push(sql[start..].trim().to_owned());
    }
    Some(statements)
}

fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::NationalStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::SingleQuotedByteStringLiteral(_)
    )
}

/// Whether a statement can carry a secret: a password (CREATE/ALTER ROLE … PASSWORD, psql's
/// \password), or storage credentials (OPTIONS of external tables and COPY, keys named like
/// secrets). Its literals are never recorded.
pub fn may_carry_secret(sql: &str) -> bool {
    const SECRET_WORDS: [&str; 5] = ["password", "secret", "token", "credential", "access_key"];
    // Every statement passes here: tokenize only those that name one of the words at all.
    let lower = sql.to_ascii_lowercase();
    if !lower.contains("options") && !SECRET_WORDS.iter().any(|w| lower.contains(w)) {
        return false;
    }
    tokens(sql).is_none_or(|tokens| {
        tokens.iter().any(|t| match &t.token {
            Token::Word(w) => matches!(w.keyword, Keyword::PASSWORD | Keyword::OPTIONS),
            Token::SingleQuotedString(s) => {
                let s = s.to_ascii_lowercase();
                SECRET_WORDS.iter().any(|w| s.contains(w))
            }
            _ => false,
        })
    })
}

/// The statement with every literal replaced by `$n`, numbered after its own placeholders.
/// A statement that does not tokenize is replaced entirely.
pub fn redact_literals(sql: &str) -> String {
    let Some(tokens) = tokens(sql) else {
        return "<statement not recorded: it could not be tokenized>".to_owned();
    };
    let offsets = Offsets::new(sql);
    let mut next = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Placeholder(p) => p.strip_prefix('$')?.parse::<usize>().ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let mut out = String::with_capacity(sql.len());
    let mut copied = 0;
    for token in tokens.iter().filter(|t| is_literal(&t.token)) {
        let (Some(start), Some(end)) = (
            offsets.of(sql, token.span.start),
            offsets.of(sql, token.span.end),
        ) else {
            return "<statement not recorded: it could not be tokenized>".to_owned();
        };
        next += 1;
        out.push_str(&sql[copied..start]);
        out.push_str(&format!("${next}"));
        copied = end;
    }
    out.push_str(&sql[copied..]);
    out
}

/// Cuts `text` to at most `max` bytes (on a character boundary); returns the bytes cut.
pub fn truncate(text: &mut String, max: usize) -> usize {
    if text.len() <= max {
        return 0;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    text.truncate(end);
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_split_into_their_statements() {
        let sql = "/* app */ SELECT 1; SELECT ';' AS x ;\n-- trailing\n SELECT 2;;";
        assert_eq!(
            split_statements(sql).unwrap(),
            vec![
                "/* app */ SELECT 1",
                "SELECT ';' AS x",
                "-- trailing\n SELECT 2"
            ]
        );
        assert_eq!(split_statements("  ").unwrap(), Vec::<String>::new());
        assert_eq!(
            split_statements("SELECT 'é';SELECT 3").unwrap(),
            vec!["SELECT 'é'", "SELECT 3"]
        );
    }

    #[test]
    fn literals_become_numbered_placeholders() {
        assert_eq!(
            redact_literals("SELECT * FROM t WHERE a = $1 AND b = 'x''y' AND c > 42.5 -- 7"),
            "SELECT * FROM t WHERE a = $1 AND b = $2 AND c > $3 -- 7"
        );
        assert_eq!(
            redact_literals("SELECT $$secret$$, E'\\n'"),
            "SELECT $1, $2"
        );
        assert!(may_carry_secret("ALTER USER bob PASSWORD 'hunter2'"));
        assert!(may_carry_secret(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://b/' OPTIONS ('aws.secret_access_key' 'x')"
        ));
        assert!(!may_carry_secret("SELECT 'hello' AS greeting"));
    }

    #[test]
    fn truncation_respects_characters() {
        let mut text = "ééé".to_owned();
        assert_eq!(truncate(&mut text, 3), 4);
        assert_eq!(text, "é");
    }
}
