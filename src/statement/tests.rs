use super::*;

fn one(sql: &str) -> Result<Command, LakegateError> {
    let mut commands = parse(sql)?;
    assert_eq!(commands.len(), 1, "{sql}");
    Ok(commands.remove(0))
}

fn refused(sql: &str) -> String {
    match one(sql) {
        Err(LakegateError::PermissionDenied(m)) => m,
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn queries_and_session_commands() {
    assert!(matches!(one("SELECT 1").unwrap(), Command::Query(_)));
    assert!(matches!(one("begin").unwrap(), Command::Begin));
    assert!(matches!(
        one("ROLLBACK TO SAVEPOINT a").unwrap(),
        Command::RollbackToSavepoint
    ));
    assert!(matches!(one("DISCARD ALL").unwrap(), Command::DiscardAll));
    assert!(matches!(
        one("DEALLOCATE ALL").unwrap(),
        Command::Deallocate { name: None }
    ));
    assert!(matches!(one("SHOW ALL").unwrap(), Command::ShowAll));
    assert_eq!(parse("SELECT 1; SELECT 2;").unwrap().len(), 2);
    assert!(parse("  ;  ").unwrap().is_empty());
}

#[test]
fn set_values_are_normalised() {
    let Command::Set { name, value } = one("SET search_path TO sales, 'web'").unwrap() else {
        panic!()
    };
    assert_eq!(
        (name.as_str(), value.as_deref()),
        ("search_path", Some("sales, web"))
    );
    let Command::Set { value, .. } = one("SET TIME ZONE 'Europe/Berlin'").unwrap() else {
        panic!()
    };
    assert_eq!(value.as_deref(), Some("Europe/Berlin"));
    let Command::Set { value, .. } = one("SET application_name = DEFAULT").unwrap() else {
        panic!()
    };
    assert_eq!(value, None);
}

#[test]
fn statements_that_escape_the_gateway_are_refused() {
    assert!(refused("SET datafusion.execution.batch_size = 1").contains("datafusion"));
    assert!(
        refused("CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'")
            .contains("EXTERNAL")
    );
    assert!(refused("COPY (SELECT 1) TO '/tmp/x.csv'").contains("COPY"));
    assert!(refused("COPY sales.orders FROM STDIN").contains("COPY FROM"));
}

#[test]
fn writes_are_classified_for_the_write_path() {
    use crate::write::{RelationKind, WriteCommand};
    let write = |sql: &str| match one(sql) {
        Ok(Command::Write(write)) => *write,
        other => panic!("{sql}: expected a write, got {other:?}"),
    };
    assert!(matches!(
        write("drop table if exists \"lake\".\"analytics\".\"m__dbt_backup\" cascade"),
        WriteCommand::Drop {
            kind: RelationKind::Table,
            if_exists: true,
            ..
        }
    ));
    assert!(matches!(
        write("create  table \"lake\".\"analytics\".\"m\" as (select 1 as a)"),
        WriteCommand::CreateTableAs {
            temporary: false,
            ..
        }
    ));
    assert!(matches!(
        write("create temporary table \"m__dbt_tmp1\" as (select 1 as a)"),
        WriteCommand::CreateTableAs {
            temporary: true,
            ..
        }
    ));
    let WriteCommand::Rename { to, .. } = write("alter table analytics.M rename to \"New\"") else {
        panic!()
    };
    assert_eq!(to, "New");
    let WriteCommand::Delete {
        alias, predicate, ..
    } = write("delete from analytics.m as DBT_INTERNAL_DEST where (id) in (select id from t)")
    else {
        panic!()
    };
    assert_eq!(alias.as_deref(), Some("dbt_internal_dest"));
    assert!(predicate.is_some());
    assert!(matches!(
        write("insert into analytics.m (\"a\") (select 1)"),
        WriteCommand::Insert { .. }
    ));
    assert!(matches!(
        write("create schema if not exists \"analytics\""),
        WriteCommand::CreateSchema {
            if_not_exists: true,
            ..
        }
    ));
    assert!(matches!(
        write("create table analytics.seed (id integer, name text)"),
        WriteCommand::CreateTableAs { .. }
    ));
    assert!(matches!(
        write("truncate table analytics.seed"),
        WriteCommand::Delete {
            predicate: None,
            ..
        }
    ));
    assert!(matches!(
        one("CREATE TABLE t (a int PRIMARY KEY)"),
        Err(LakegateError::Write(crate::write::WriteError::Unsupported(
            _
        )))
    ));
    assert!(matches!(
        one("UPDATE sales.orders SET amount = 0"),
        Err(LakegateError::NotSupported(_))
    ));
}

#[test]
fn copy_to_stdout_is_a_read() {
    let Command::CopyOut { format, .. } =
        one("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER true)").unwrap()
    else {
        panic!()
    };
    assert_eq!(format, CopyFormat::Csv { header: true });
    let Command::CopyOut { query, format } = one("COPY sales.orders (order_id) TO STDOUT").unwrap()
    else {
        panic!()
    };
    assert_eq!(format, CopyFormat::Text);
    assert_eq!(query.to_string(), "SELECT order_id FROM sales.orders");
}

#[test]
fn syntax_errors_are_syntax_errors() {
    assert!(matches!(one("SELEC 1"), Err(LakegateError::Syntax(_))));
}

/// The spelling a rewritten statement is planned from.
fn rewritten(sql: &str) -> String {
    match one(sql).unwrap() {
        Command::Query(statement) => statement.to_string(),
        other => panic!("{sql}: not a query: {other:?}"),
    }
}

#[test]
fn catalog_spellings_are_rewritten_for_datafusion() {
    let vector = rewritten(
        "SELECT i.indkey[ia.attnum - 1] FROM pg_catalog.pg_index i, pg_catalog.pg_attribute ia",
    );
    assert!(
        vector.contains("lakegate_vector_element(i.indkey, ia.attnum - 1)"),
        "{vector}"
    );
    let conditional = rewritten(
        "SELECT CASE WHEN a.atthasdef THEN (SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef d \
         WHERE a.atthasdef AND d.adrelid = a.attrelid) ELSE NULL END FROM pg_catalog.pg_attribute a",
    );
    assert!(
        conditional.contains("lakegate_when(a.atthasdef, (SELECT max(pg_get_expr(d.adbin, d.adrelid)) FROM pg_catalog.pg_attrdef d WHERE d.adrelid = a.attrelid))"),
        "{conditional}"
    );
    let escaped = rewritten("SELECT 1 WHERE 'pg_x' NOT LIKE 'pg/_' || '%' ESCAPE '/'");
    assert!(
        escaped.contains("like_escape('pg/_' || '%', '/')"),
        "{escaped}"
    );
}
