//! DECLARE / FETCH / MOVE / CLOSE → commands. Cursors read forward only: the rows are the
//! query's stream, never collected (D12), so a backward or absolute FETCH is refused as
//! PostgreSQL refuses it on a NO SCROLL cursor.

use datafusion::sql::sqlparser::ast::{
    CloseCursor, Declare, DeclareType, FetchDirection, Ident, Statement, Value, ValueWithSpan,
};

use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::{Command, FetchCount};
use crate::error::LakegateError;

pub fn declare(mut stmts: Vec<Declare>) -> Result<Command, LakegateError> {
    let not_a_cursor = || {
        LakegateError::NotSupported(
            "DECLARE is supported for cursors only (DECLARE name CURSOR FOR query)".into(),
        )
    };
    if stmts.len() != 1 {
        return Err(not_a_cursor());
    }
    let declare = stmts.remove(0);
    let (Some(DeclareType::Cursor), Some(query), [name]) = (
        declare.declare_type,
        declare.for_query,
        declare.names.as_slice(),
    ) else {
        return Err(not_a_cursor());
    };
    Ok(Command::Declare {
        name: cursor_name(name),
        query: Box::new(Statement::Query(query)),
        hold: declare.hold == Some(true),
        binary: declare.binary == Some(true),
    })
}

pub fn fetch(name: Ident, direction: FetchDirection) -> Result<Command, LakegateError> {
    let count = match direction {
        FetchDirection::Next => FetchCount::Rows(1),
        FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => {
            FetchCount::Rows(row_count(&limit)?)
        }
        FetchDirection::Forward { limit: None } => FetchCount::Rows(1),
        FetchDirection::All | FetchDirection::ForwardAll => FetchCount::All,
        FetchDirection::Prior
        | FetchDirection::First
        | FetchDirection::Last
        | FetchDirection::Absolute { .. }
        | FetchDirection::Relative { .. }
        | FetchDirection::Backward { .. }
        | FetchDirection::BackwardAll => return Err(LakegateError::CursorForwardOnly),
    };
    Ok(Command::Fetch {
        name: cursor_name(&name),
        count,
        discard: false,
    })
}

pub fn close(cursor: CloseCursor) -> Command {
    Command::Close {
        name: match cursor {
            CloseCursor::All => None,
            CloseCursor::Specific { name } => Some(cursor_name(&name)),
        },
    }
}

/// Unquoted names fold to lower case, as PostgreSQL folds them.
fn cursor_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn row_count(limit: &ValueWithSpan) -> Result<usize, LakegateError> {
    match &limit.value {
        Value::Number(n, _) => n.parse::<usize>().map_err(|_| {
            // A negative count reads backward.
            match n.starts_with('-') {
                true => LakegateError::CursorForwardOnly,
                false => LakegateError::Syntax(format!("invalid row count \"{n}\"")),
            }
        }),
        other => Err(LakegateError::Syntax(format!("invalid row count {other}"))),
    }
}

/// The parser has no MOVE and wants FROM or IN before the cursor name, which PostgreSQL lets
/// clients leave out (asyncpg's `cursor.forward(n)` sends `MOVE FORWARD n portal`). A single
/// FETCH or MOVE is respelled `FETCH … FROM name`; the flag says it was a MOVE. `None` for any
/// other statement.
pub fn respell_fetch(sql: &str) -> Option<(String, bool)> {
    let dialect = PostgreSqlDialect {};
    let tokens = Tokenizer::new(&dialect, sql).tokenize().ok()?;
    let mut words: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_)))
        .collect();
    if matches!(words.last(), Some(Token::SemiColon)) {
        words.pop();
    }
    let is_move = match words.first()? {
        Token::Word(w) if w.value.eq_ignore_ascii_case("move") => true,
        Token::Word(w) if w.keyword == Keyword::FETCH => false,
        _ => return None,
    };
    if words.iter().any(|t| matches!(t, Token::SemiColon)) || words.len() < 2 {
        return None;
    }
    let name = words.pop()?;
    let has_from = matches!(words.last(), Some(Token::Word(w)) if matches!(w.keyword, Keyword::FROM | Keyword::IN));
    if !has_from {
        words.push(Token::make_keyword("FROM"));
    }
    words[0] = Token::make_keyword("FETCH");
    words.push(name);
    let text: Vec<String> = words.iter().map(ToString::to_string).collect();
    Some((text.join(" "), is_move))
}
