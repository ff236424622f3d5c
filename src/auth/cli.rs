//! `lakegate user add|list|remove`, `lakegate token issue` and `lakegate demo tls`.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::demo_token;
use super::scram::{ScramVerifier, DEFAULT_ITERATIONS};
use super::{UserRecord, UsersFile};

/// Adds a user, or replaces an existing one's password and groups.
pub fn add_user(
    file: &Path,
    name: &str,
    groups: Vec<String>,
    superuser: bool,
    password_stdin: bool,
) -> Result<(), String> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err("a user name must be non-empty and printable".into());
    }
    let mut users = read(file)?;
    let password = read_password(name, password_stdin)?;
    let record = UserRecord {
        name: name.to_owned(),
        superuser,
        groups,
        verifier: Some(ScramVerifier::generate(&password, DEFAULT_ITERATIONS).to_string()),
        disabled: false,
    };
    let verb = match users.user.iter_mut().find(|u| u.name == name) {
        Some(existing) => {
            *existing = record;
            "updated"
        }
        None => {
            users.user.push(record);
            "added"
        }
    };
    write(file, &users)?;
    eprintln!("{verb} user {name} in {}", file.display());
    Ok(())
}

pub fn remove_user(file: &Path, name: &str) -> Result<(), String> {
    let mut users = read(file)?;
    let before = users.user.len();
    users.user.retain(|u| u.name != name);
    if users.user.len() == before {
        return Err(format!("no user {name} in {}", file.display()));
    }
    write(file, &users)?;
    eprintln!("removed user {name} from {}", file.display());
    Ok(())
}

pub fn list_users(file: &Path) -> Result<(), String> {
    let users = read(file)?;
    println!("{:<24} {:<9} {:<10} groups", "name", "superuser", "sign-in");
    for u in &users.user {
        let sign_in = match (&u.verifier, u.disabled) {
            (_, true) => "disabled",
            (Some(_), false) => "scram",
            (None, false) => "token/cert",
        };
        let superuser = if u.superuser { "yes" } else { "" };
        println!(
            "{:<24} {superuser:<9} {sign_in:<10} {}",
            u.name,
            u.groups.join(",")
        );
    }
    Ok(())
}

fn read(file: &Path) -> Result<UsersFile, String> {
    match std::fs::read_to_string(file) {
        Ok(text) => UsersFile::parse(&text, &file.display().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(UsersFile::default()),
        Err(e) => Err(format!("cannot read users file {}: {e}", file.display())),
    }
}

/// Replaces the file in one rename, readable by its owner only, so a running gateway never
/// reads half a file and other local users never read verifiers.
fn write(file: &Path, users: &UsersFile) -> Result<(), String> {
    let temporary = file.with_extension(format!("tmp-{:016x}", rand::random::<u64>()));
    write_private(&temporary, &users.to_toml())?;
    std::fs::rename(&temporary, file).map_err(|e| format!("cannot write {}: {e}", file.display()))
}

/// Creates `path` readable by its owner only from the first byte (never readable by others
/// between creation and a later chmod).
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let _ = std::fs::remove_file(path);
    options
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read_password(name: &str, from_stdin: bool) -> Result<String, String> {
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            return Err(
                "no terminal to ask for the password; pipe it in with --password-stdin".into(),
            );
        }
        let first = rpassword::prompt_password(format!("Password for {name}: "))
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let again = rpassword::prompt_password("Again: ")
            .map_err(|e| format!("cannot read the password: {e}"))?;
        if first != again {
            return Err("the passwords differ; nothing was changed".into());
        }
        first
    };
    if password.is_empty() {
        return Err("the password is empty; nothing was changed".into());
    }
    Ok(password)
}

/// Prints a demo token on stdout.
pub fn issue_token(user: &str, groups: &[String], ttl_seconds: u64) -> Result<(), String> {
    println!("{}", demo_token::issue(user, groups, ttl_seconds)?);
    eprintln!(
        "demo token for {user} (groups: {}), valid {ttl_seconds} s; accepted only by a gateway that trusts the demo JWKS (lakegate demo tls)",
        groups.join(",")
    );
    Ok(())
}

/// Writes a CA, a server certificate for `hosts`, the demo JWKS and a `lakegate.toml` that
/// serves TLS with SCRAM for service users and demo tokens for everyone else.
pub fn demo_tls(dir: &Path, hosts: &[String]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("cannot resolve {}: {e}", dir.display()))?;
    let (ca_pem, server_pem, key_pem) =
        demo_certificates(hosts).map_err(|e| format!("cannot make certificates: {e}"))?;
    let file = |name: &str| -> PathBuf { dir.join(name) };
    put(&file("ca.pem"), &ca_pem)?;
    put(&file("server.pem"), &server_pem)?;
    put(&file("server.key"), &key_pem)?;
    put(&file("jwks.json"), demo_token::DEMO_JWKS)?;
    let config = format!(
        r#"# lakegate with TLS and demo token login (written by `lakegate demo tls`).
[tls]
cert = "{cert}"
key = "{key}"

[auth.jwt]
issuer = "{issuer}"
audience = "{audience}"
jwks_file = "{jwks}"

# Service users sign in with SCRAM passwords; everyone else with a token, over TLS only.
[[auth.rules]]
users = ["admin", "dbt"]
method = "scram"

[[auth.rules]]
tls = true
method = "jwt"
"#,
        cert = file("server.pem").display(),
        key = file("server.key").display(),
        jwks = file("jwks.json").display(),
        issuer = demo_token::DEMO_ISSUER,
        audience = demo_token::DEMO_AUDIENCE,
    );
    put(&file("lakegate.toml"), &config)?;
    println!(
        "wrote {}/{{ca.pem,server.pem,server.key,jwks.json,lakegate.toml}}",
        dir.display()
    );
    println!(
        "next:\n  lakegate serve --config {}",
        file("lakegate.toml").display()
    );
    println!("  export PGPASSWORD=$(lakegate token issue --user analyst --groups analysts)");
    println!(
        "  psql \"host={} port=5433 dbname=lake user=analyst sslmode=verify-full sslrootcert={}\"",
        hosts.first().map_or("localhost", String::as_str),
        file("ca.pem").display()
    );
    Ok(())
}

fn demo_certificates(hosts: &[String]) -> Result<(String, String, String), rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "lakegate demo CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(hosts.to_vec())?;
    server.distinguished_name.push(
        DnType::CommonName,
        hosts.first().map_or("localhost", String::as_str),
    );
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer)?;
    Ok((ca_cert.pem(), server_cert.pem(), server_key.serialize_pem()))
}

fn put(path: &Path, text: &str) -> Result<(), String> {
    if path.extension().is_some_and(|e| e == "key") {
        return write_private(path, text);
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
