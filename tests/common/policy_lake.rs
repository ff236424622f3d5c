//! A small lake for the policy bypass suite (after security.md §0): `hr.employees` with canary
//! values planted only where a principal must not see them, `hr.contractors` (same data,
//! different tags), `canaryvault.payroll` (no grants at all), principals for each kind of rule,
//! and a gateway serving them.

use std::path::{Path, PathBuf};

use datafusion::prelude::SessionContext;

use super::{start_gateway, TestGateway};

/// Strings and numbers that must never reach a principal who may not see them.
pub const CANARY_ROW: &str = "CANARY_ROW_9f3b";
pub const CANARY_SALARY: &str = "4242424242";
pub const CANARY_SSN: &str = "CANARY_SSN_";
pub const CANARY_MAIL: &str = "CANARYMAIL";
pub const CANARY_EXEC_SALARY: &str = "7777777";
pub const CANARY_VAULT: &str = "canaryvault";

/// id, name, dept, region, salary, email. Every ssn is `CANARY_SSN_<id>`.
pub const EMPLOYEES: &[(i64, &str, &str, &str, &str, &str)] = &[
    (1, "Ann", "HR", "US", "85000.00", "CANARYMAIL1@corp.example"),
    (
        2,
        "Bob",
        "Eng",
        "US",
        "120000.00",
        "CANARYMAIL2@corp.example",
    ),
    (
        3,
        "Cat",
        "Exec",
        "US",
        "7777777.77",
        "CANARYMAIL3@corp.example",
    ),
    (
        4,
        "Dan",
        "Eng",
        "US",
        "95000.00",
        "CANARYMAIL4@corp.example",
    ),
    (
        5,
        CANARY_ROW,
        "Eng",
        "EU",
        "4242424242.42",
        "CANARYMAIL5@corp.example",
    ),
    (6, "Eve", "HR", "EU", "70000.00", "CANARYMAIL6@corp.example"),
    (
        7,
        "Fay",
        "Exec",
        "EU",
        "300000.00",
        "CANARYMAIL7@corp.example",
    ),
    (8, "Gus", "Ops", "APAC", "0.00", "CANARYMAIL8@corp.example"),
];

pub const POLICY: &str = r#"
# us_analyst: US rows (the filter also reads the hidden ssn), no ssn, email and salary masked.
p, group:us, filter:us_rows, *, SELECT, allow
p2, us_rows, hr.employees, "region = 'US' AND ssn <> ''", * -ssn
p3, group:us, hr.employees.email, "regexp_replace(email, '^[^@]+', '***')"
p3, group:us, hr.employees.salary, "floor(salary / 10000) * 10000"

# cell_user: every row, salary only outside Exec (Lake Formation cell-level security).
p, group:cells, hr.employees, * -salary -ssn, SELECT, allow
p, group:cells, filter:non_exec_salary, *, SELECT, allow
p2, non_exec_salary, hr.employees, "dept <> 'Exec'", salary

# tag_user: resources tagged module=hr and division consumer or commercial.
p, group:tagged, tag:module=hr&division=consumer|commercial, *, SELECT, allow

# ssn_denied: a deny wins over two grants that include ssn.
p, group:denied, hr.employees, *, SELECT, allow
p, group:denied, hr.employees, ssn name, SELECT, allow
p, group:denied, hr.employees, ssn, ALL, deny

# describer: may see the table in the catalog, not read it.
p, group:describers, hr.employees, *, DESCRIBE, allow

# two_filters: US rows or HR rows (permissive filters combine with OR).
p, group:us2, filter:us_only, *, SELECT, allow
p2, us_only, hr.employees, "region = 'US'", *
p, group:hrdept, filter:hr_only, *, SELECT, allow
p2, hr_only, hr.employees, "dept = 'HR'", *

# broken_user: two masks on one column cannot both hold; reading must fail closed.
p, group:broken, hr.employees, * -ssn, SELECT, allow
p3, group:broken, hr.employees.email, "upper(email)"
p3, group:broken2, hr.employees.email, "lower(email)"

# revocable: used by the reload test, which removes this grant.
p, group:revocable, hr.employees, name dept, SELECT, allow

# builder: may create schema scratch and tables in it, with no grant on any table: what they
# create, they own. hr.employees stays unreadable for them.
p, group:builders, scratch, *, CREATE_DATABASE, allow
p, group:builders, scratch, *, CREATE_TABLE, allow
# viewer: US rows of hr.employees (group us) and the views in scratch.
p, group:viewers, scratch.*, *, SELECT, allow
"#;

/// (user, groups, superuser).
const USERS: &[(&str, &[&str], bool)] = &[
    ("admin", &["admins"], true),
    ("us_analyst", &["us"], false),
    ("cell_user", &["cells"], false),
    ("tag_user", &["tagged"], false),
    ("ssn_denied", &["denied"], false),
    ("describer", &["describers"], false),
    ("nobody", &[], false),
    ("two_filters", &["us2", "hrdept"], false),
    ("broken_user", &["broken", "broken2"], false),
    ("revoked", &["revocable"], false),
    ("builder", &["builders"], false),
    ("viewer", &["us", "viewers"], false),
];

/// Writes the lake, catalog, users and policy under `dir` (once per directory).
pub async fn write(dir: &Path) {
    let data = dir.join("data/employees");
    std::fs::create_dir_all(&data).unwrap();
    write_employees(&data.join("part-0.parquet")).await;
    write_catalog(&dir.join("catalog"), &data);
    write_users(&dir.join("users.toml"));
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/model.conf");
    std::fs::copy(model, policies.join("model.conf")).unwrap();
    std::fs::write(policies.join("policy.csv"), POLICY).unwrap();
}

async fn write_employees(path: &Path) {
    let rows: Vec<String> = EMPLOYEES
        .iter()
        .map(|(id, name, dept, region, salary, email)| {
            format!(
                "({id}, '{name}', '{dept}', '{region}', {salary}, 'CANARY_SSN_{id}', '{email}')"
            )
        })
        .collect();
    let sql = format!(
        "COPY (SELECT CAST(id AS BIGINT) AS id, CAST(name AS VARCHAR) AS name, \
         CAST(dept AS VARCHAR) AS dept, CAST(region AS VARCHAR) AS region, \
         CAST(salary AS DECIMAL(12,2)) AS salary, CAST(ssn AS VARCHAR) AS ssn, \
         CAST(email AS VARCHAR) AS email \
         FROM (VALUES {}) AS t(id, name, dept, region, salary, ssn, email)) \
         TO '{}' STORED AS PARQUET",
        rows.join(", "),
        path.display()
    );
    let ctx = SessionContext::new();
    ctx.sql(&sql).await.unwrap().collect().await.unwrap();
}

fn column(name: &str, ty: &str, tags: &[(&str, &str)]) -> serde_json::Value {
    let parameters: serde_json::Map<String, serde_json::Value> = tags
        .iter()
        .map(|(k, v)| (format!("lf_tag.{k}"), serde_json::Value::from(*v)))
        .collect();
    serde_json::json!({"Name": name, "Type": ty, "Parameters": parameters})
}

fn table(database: &str, name: &str, division: &str, data: &Path) -> serde_json::Value {
    let columns = vec![
        column("id", "bigint", &[]),
        column("name", "string", &[]),
        column("dept", "string", &[]),
        column("region", "string", &[]),
        column("salary", "decimal(12,2)", &[]),
        column("ssn", "string", &[("division", "restricted")]),
        column("email", "string", &[]),
    ];
    serde_json::json!({
        "Name": name,
        "DatabaseName": database,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "lf_tag.division": division},
        "StorageDescriptor": {
            "Columns": columns,
            "Location": format!("file://{}/", data.display()),
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
        },
        "PartitionKeys": []
    })
}

fn write_catalog(catalog: &Path, data: &Path) {
    std::fs::create_dir_all(catalog.join("tables")).unwrap();
    let write = |path: PathBuf, value: serde_json::Value| {
        std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap()
    };
    write(
        catalog.join("databases.json"),
        serde_json::json!({"DatabaseList": [
            {"Name": "hr", "Parameters": {"lf_tag.module": "hr"}},
            {"Name": CANARY_VAULT}
        ]}),
    );
    write(
        catalog.join("tables/hr.json"),
        serde_json::json!({"TableList": [
            table("hr", "employees", "consumer", data),
            table("hr", "contractors", "internal", data)
        ]}),
    );
    write(
        catalog.join(format!("tables/{CANARY_VAULT}.json")),
        serde_json::json!({"TableList": [table(CANARY_VAULT, "payroll", "vault", data)]}),
    );
}

/// SCRAM-SHA-256 verifiers; each password equals the user name.
fn write_users(path: &Path) {
    let mut text = String::new();
    for (name, groups, superuser) in USERS {
        let salt = format!("salt-of-{name}").into_bytes();
        let verifier = lakegate::auth::scram::ScramVerifier::with_salt(name, &salt, 4096);
        let groups: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        text.push_str(&format!(
            "[[user]]\nname = \"{name}\"\nsuperuser = {superuser}\ngroups = [{}]\nverifier = \"{verifier}\"\n\n",
            groups.join(", "),
        ));
    }
    std::fs::write(path, text).unwrap();
}

/// A gateway over a fresh copy of the policy lake in `dir`.
pub fn start(dir: PathBuf) -> TestGateway {
    start_with_cache(dir, 60)
}

/// As [`start`], with the catalog reread after `cache_seconds`.
pub fn start_with_cache(dir: PathBuf, cache_seconds: u64) -> TestGateway {
    std::fs::create_dir_all(&dir).unwrap();
    // Its own thread: callers may be inside a test's runtime.
    let target = dir.clone();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(write(&target))
    })
    .join()
    .unwrap();
    // What an earlier run created is gone: each gateway starts from the written lake.
    let _ = std::fs::remove_dir_all(dir.join("created"));
    let _ = std::fs::remove_dir_all(dir.join("created-data"));
    start_gateway(move |config| {
        config.catalog.fixtures = Some(dir.join("catalog"));
        config.auth.users_file = Some(dir.join("users.toml"));
        config.policy.dir = Some(dir.join("policies"));
        config.policy.reload_check_ms = 100;
        config.catalog.cache_seconds = cache_seconds;
        // What statements create stays in this lake's directory.
        config.catalog.store_dir = Some(dir.join("created"));
        config.catalog.create_location = dir.join("created-data").display().to_string();
    })
}
