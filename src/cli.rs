//! The command line: `lakegate serve`, `lakegate demo generate|tls`, `lakegate policy
//! check|explain`, `lakegate user add|list|remove`, `lakegate token issue`.
//!
//! Precedence for every setting: command-line flag, then `LAKEGATE_*` environment variable, then
//! the config file, then the built-in default (see [`crate::config`]).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::Config;

/// A PostgreSQL-wire query gateway for data lakes.
#[derive(Debug, Parser)]
#[command(name = "lakegate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the lake over the PostgreSQL protocol (the embedded demo lake by default).
    Serve(ServeArgs),
    /// Work with the embedded demo lake.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Validate access policies, or show what a user may see.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Manage the users file (SCRAM-SHA-256 verifiers and groups).
    #[command(subcommand)]
    User(UserCommand),
    /// Demo bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Work with the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain of audit segments; reports the first broken, missing or reordered
    /// record (exit status 1) and statements that never ended.
    Verify(AuditVerifyArgs),
}

#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Segment files, in chain order. Default: every segment of the audit directory.
    pub files: Vec<PathBuf>,
    /// The audit directory. Default: audit.dir of --config, else the per-user default.
    #[arg(long, env = "LAKEGATE_AUDIT_DIR")]
    pub dir: Option<PathBuf>,
    /// The chain key (audit.chain_key_file), when the log is chained with one.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// Configuration file (TOML) whose [audit] settings to use.
    #[arg(long, env = "LAKEGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user or change its password and groups; asks for the password without echo.
    Add(UserAddArgs),
    /// List the users: name, superuser, how they sign in, groups.
    List(UsersFileArgs),
    /// Remove a user.
    Remove(UserRemoveArgs),
}

#[derive(Debug, Args)]
pub struct UsersFileArgs {
    /// The users file (created by `user add` if missing). Default: auth.users_file of --config.
    #[arg(long, env = "LAKEGATE_USERS_FILE")]
    pub users_file: Option<PathBuf>,
    /// Configuration file (TOML) whose auth.users_file to use.
    #[arg(long, env = "LAKEGATE_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The user name (what clients pass as `user`).
    pub name: String,
    /// Groups, comma-separated; access policies grant to groups.
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Superusers bypass access policies.
    #[arg(long)]
    pub superuser: bool,
    /// Read the password from the first line of stdin instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub file: UsersFileArgs,
}

#[derive(Debug, Args)]
pub struct UserRemoveArgs {
    pub name: String,
    #[command(flatten)]
    pub file: UsersFileArgs,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token signed with the demo key; only gateways trusting the demo JWKS accept it.
    Issue(TokenIssueArgs),
}

#[derive(Debug, Args)]
pub struct TokenIssueArgs {
    /// The user the token is for (its `sub`).
    #[arg(long)]
    pub user: String,
    /// Groups, comma-separated (its `groups` claim).
    #[arg(long, value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl_seconds: u64,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Load the policy files and check every rule, data filter and mask against the catalog.
    Check(PolicyArgs),
    /// Print a user's effective access: columns, row filter, masks, and the deciding rules.
    Explain(ExplainArgs),
}

#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Directory with model.conf and policy.csv. Default: the built-in demo policy.
    #[arg(long, env = "LAKEGATE_POLICIES")]
    pub policies: Option<PathBuf>,
    /// Configuration file (TOML), for the catalog and users the policy is checked against.
    #[arg(long, env = "LAKEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Directory of Glue-shaped catalog JSON (as for `serve --catalog-fixtures`).
    #[arg(long)]
    pub catalog_fixtures: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub policy: PolicyArgs,
    /// The user to explain (groups come from the users file unless --groups is given).
    #[arg(long)]
    pub user: String,
    /// Groups of the user, comma-separated (for users that sign in with a token).
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// Only this table (DATABASE.TABLE).
    #[arg(long)]
    pub table: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on, for example 127.0.0.1:5433 or 0.0.0.0:5433.
    #[arg(long, env = "LAKEGATE_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Configuration file (TOML); see the README for its keys.
    #[arg(long, env = "LAKEGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address of the operations endpoint (/healthz, /readyz, /metrics), for example
    /// 127.0.0.1:9187 (also LAKEGATE_HTTP_LISTEN or server.http_listen). Off by default.
    #[arg(long)]
    pub http_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Catalog backend: the Glue API JSON fixtures, or AWS Glue (endpoint and credentials from
    /// the AWS environment, e.g. AWS_ENDPOINT_URL_GLUE, or the config's [catalog.glue]).
    #[arg(long, value_enum)]
    pub catalog: Option<crate::config::CatalogKind>,
    /// Directory of Glue-shaped catalog JSON (databases.json, tables/, partitions/) for the
    /// fixtures backend. Default: the demo catalog built into the binary.
    #[arg(long)]
    pub catalog_fixtures: Option<PathBuf>,
    /// Directory with the access policy (model.conf and policy.csv); reloaded when it changes.
    /// Default: the demo policy built into the binary.
    #[arg(long, env = "LAKEGATE_POLICIES")]
    pub policies: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LakeArgs {
    /// Directory that holds the lake's zones (landing/, raw/, curated/).
    /// Default: the per-user data directory, for example ~/.local/share/lakegate/demo.
    #[arg(long, env = "LAKEGATE_LAKE_ROOT")]
    pub lake_root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum DemoCommand {
    /// Write the demo lake (same files for the same scale); replaces an existing demo lake.
    Generate(GenerateArgs),
    /// Write a demo CA, a server certificate, the demo JWKS and a lakegate.toml that serves TLS
    /// with token login, to try the secure setup locally.
    Tls(DemoTlsArgs),
}

#[derive(Debug, Args)]
pub struct DemoTlsArgs {
    /// Directory to write into (created if missing).
    #[arg(long, default_value = "lakegate-tls")]
    pub dir: PathBuf,
    /// Host names and addresses the server certificate is valid for, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "localhost,127.0.0.1")]
    pub hosts: Vec<String>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Size of the lake: 1 is about one million orders; fractions make smaller lakes.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::server::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Demo(DemoCommand::Generate(args)) => generate(args),
        Command::Demo(DemoCommand::Tls(args)) => crate::auth::cli::demo_tls(&args.dir, &args.hosts),
        Command::Policy(command) => policy(command),
        Command::User(command) => user(command),
        Command::Token(TokenCommand::Issue(args)) => {
            crate::auth::cli::issue_token(&args.user, &args.groups, args.ttl_seconds)
        }
        Command::Audit(AuditCommand::Verify(args)) => return audit_verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn audit_verify(args: AuditVerifyArgs) -> ExitCode {
    let settings = match &args.config {
        Some(path) => Config::from_file(path).map(|c| c.audit),
        None => Ok(Default::default()),
    };
    let result = settings.and_then(|settings: crate::audit::AuditSettings| {
        let dir = args.dir.or(settings.dir);
        let key = args.key_file.or(settings.chain_key_file);
        crate::audit::cli::verify_command(&args.files, dir, key)
    });
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env()?;
    if let Some(listen) = args.listen {
        config.server.listen = listen;
    }
    if let Some(http) = args.http_listen {
        config.server.http_listen = Some(http);
    }
    if let Some(root) = args.lake.lake_root {
        config.lake.root = Some(root);
    }
    if let Some(kind) = args.catalog {
        config.catalog.kind = kind;
    }
    if let Some(dir) = args.catalog_fixtures {
        config.catalog.fixtures = Some(dir);
    }
    if let Some(dir) = args.policies {
        config.policy.dir = Some(dir);
    }
    let runtime = runtime()?;
    let served = runtime.block_on(crate::server::run(config));
    // Tasks the grace period cut off may still hold blocking threads (a file being read):
    // the process ends without waiting for them.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    served
}

fn user(command: UserCommand) -> Result<(), String> {
    use crate::auth::cli;
    match command {
        UserCommand::Add(args) => {
            let file = users_file(&args.file)?;
            cli::add_user(
                &file,
                &args.name,
                args.groups,
                args.superuser,
                args.password_stdin,
            )
        }
        UserCommand::List(args) => cli::list_users(&users_file(&args)?),
        UserCommand::Remove(args) => cli::remove_user(&users_file(&args.file)?, &args.name),
    }
}

fn users_file(args: &UsersFileArgs) -> Result<PathBuf, String> {
    if let Some(file) = &args.users_file {
        return Ok(file.clone());
    }
    let config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.auth.users_file.ok_or_else(|| {
        "which users file? pass --users-file PATH (created if missing) or --config with auth.users_file set".to_owned()
    })
}

fn policy(command: PolicyCommand) -> Result<(), String> {
    match command {
        PolicyCommand::Check(args) => crate::policy::cli::check(policy_config(&args)?),
        PolicyCommand::Explain(args) => {
            let config = policy_config(&args.policy)?;
            let explain = crate::policy::cli::explain(config, args.user, args.groups, args.table);
            runtime()?.block_on(explain)
        }
    }
}

fn policy_config(args: &PolicyArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env()?;
    if let Some(dir) = &args.policies {
        config.policy.dir = Some(dir.clone());
    }
    if let Some(root) = &args.lake.lake_root {
        config.lake.root = Some(root.clone());
    }
    if let Some(dir) = &args.catalog_fixtures {
        config.catalog.fixtures = Some(dir.clone());
    }
    Ok(config)
}

fn generate(args: GenerateArgs) -> Result<(), String> {
    if !(args.scale > 0.0 && args.scale <= 1000.0) {
        return Err(format!(
            "--scale must be greater than 0 and at most 1000 (got {})",
            args.scale
        ));
    }
    let mut config = Config::default();
    config.apply_env()?;
    if let Some(root) = args.lake.lake_root {
        config.lake.root = Some(root);
    }
    let root = config.lake_root()?;
    runtime()?
        .block_on(crate::demo::generate(&root, args.scale, true))
        .map_err(|e| format!("generating the demo lake in {}: {e}", root.display()))
}

pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("lakegate")
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
