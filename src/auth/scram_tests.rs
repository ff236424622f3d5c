//! The exchange against an independent client (postgres-protocol's, which tokio-postgres uses)
//! and against hand-made hostile messages.

use postgres_protocol::authentication::sasl::{ChannelBinding as ClientBinding, ScramSha256};

use super::*;

fn run(
    password: &str,
    verifier: &ScramVerifier,
    mechanism: &str,
    client_binding: ClientBinding,
    server_binding: &ChannelBinding,
) -> Result<(), ScramError> {
    let mut client = ScramSha256::new(password.as_bytes(), client_binding);
    let (exchange, server_first) = ScramExchange::start(
        mechanism,
        client.message(),
        server_binding,
        verifier.clone(),
    )?;
    client
        .update(server_first.as_bytes())
        .expect("client accepts server-first");
    let server_final = exchange.finish(client.message())?;
    client
        .finish(server_final.as_bytes())
        .expect("client accepts the server signature");
    Ok(())
}

fn bound() -> ChannelBinding {
    ChannelBinding {
        end_point: Some(vec![7; 32]),
    }
}

#[test]
fn our_verifier_equals_postgres_protocols_for_the_same_salt() {
    let theirs =
        ScramVerifier::parse(&postgres_protocol::password::scram_sha_256(b"s3cret")).unwrap();
    let ours = ScramVerifier::with_salt("s3cret", &theirs.salt, theirs.iterations);
    assert_eq!(ours, theirs);
    assert_eq!(ScramVerifier::parse(&ours.to_string()).unwrap(), ours);
}

#[test]
fn right_password_passes_and_wrong_one_fails() {
    let verifier = ScramVerifier::generate("right", DEFAULT_ITERATIONS);
    let none = ChannelBinding::default();
    run(
        "right",
        &verifier,
        SCRAM_SHA_256,
        ClientBinding::unsupported(),
        &none,
    )
    .unwrap();
    let wrong = run(
        "wrong",
        &verifier,
        SCRAM_SHA_256,
        ClientBinding::unsupported(),
        &none,
    );
    assert_eq!(wrong, Err(ScramError::Failed));
}

#[test]
fn channel_binding_passes_with_the_same_certificate_hash_only() {
    let verifier = ScramVerifier::generate("pw", DEFAULT_ITERATIONS);
    let with = ClientBinding::tls_server_end_point(vec![7; 32]);
    run("pw", &verifier, SCRAM_SHA_256_PLUS, with, &bound()).unwrap();
    let other = ClientBinding::tls_server_end_point(vec![8; 32]);
    assert!(matches!(
        run("pw", &verifier, SCRAM_SHA_256_PLUS, other, &bound()),
        Err(ScramError::Binding(_))
    ));
}

#[test]
fn downgrades_and_mismatched_mechanisms_are_refused() {
    let verifier = ScramVerifier::generate("pw", DEFAULT_ITERATIONS);
    // "y": the client could bind but believes the server cannot, while it can.
    let downgrade = run(
        "pw",
        &verifier,
        SCRAM_SHA_256,
        ClientBinding::unrequested(),
        &bound(),
    );
    assert!(
        matches!(downgrade, Err(ScramError::Binding(_))),
        "{downgrade:?}"
    );
    // PLUS on a connection without binding, and binding data with the plain mechanism.
    let plain = ChannelBinding::default();
    let with = || ClientBinding::tls_server_end_point(vec![7; 32]);
    assert!(matches!(
        run("pw", &verifier, SCRAM_SHA_256_PLUS, with(), &plain),
        Err(ScramError::Protocol(_))
    ));
    assert!(matches!(
        run("pw", &verifier, SCRAM_SHA_256, with(), &bound()),
        Err(ScramError::Protocol(_))
    ));
    assert!(matches!(
        run(
            "pw",
            &verifier,
            "SCRAM-SHA-1",
            ClientBinding::unsupported(),
            &plain
        ),
        Err(ScramError::Protocol(_))
    ));
}

#[test]
fn hostile_client_messages_are_refused_cleanly() {
    let verifier = ScramVerifier::generate("pw", DEFAULT_ITERATIONS);
    let plain = ChannelBinding::default();
    let start = |first: &[u8]| {
        ScramExchange::start(SCRAM_SHA_256, first, &plain, verifier.clone()).map(|_| ())
    };
    assert!(matches!(
        start(b"n,a=admin,n=,r=abc"),
        Err(ScramError::Unsupported(_))
    ));
    assert!(matches!(
        start(b"n,,m=ext,n=,r=abc"),
        Err(ScramError::Unsupported(_))
    ));
    for bad in [
        &b""[..],
        b"n",
        b"n,,",
        b"n,,n=,r=",
        b"n,,n=,r=a\x01b",
        b"\xff\xfe",
        b"n,,r=abc",
    ] {
        assert!(
            matches!(start(bad), Err(ScramError::Protocol(_))),
            "{bad:?}"
        );
    }
    let (exchange, _) =
        ScramExchange::start(SCRAM_SHA_256, b"n,,n=,r=abc", &plain, verifier.clone()).unwrap();
    let tampered_nonce = b"c=biws,r=abcdef,p=AAAA".to_vec();
    assert!(matches!(
        exchange.finish(&tampered_nonce),
        Err(ScramError::Protocol(_))
    ));
}

#[test]
fn unknown_users_get_a_stable_salt_and_never_pass() {
    let key = [1u8; 32];
    let a = ScramVerifier::mock("mallory", &key);
    assert_eq!(a.salt, ScramVerifier::mock("mallory", &key).salt);
    assert_ne!(a.salt, ScramVerifier::mock("eve", &key).salt);
    let none = ChannelBinding::default();
    for guess in ["", "mallory", "password"] {
        let result = run(
            guess,
            &a,
            SCRAM_SHA_256,
            ClientBinding::unsupported(),
            &none,
        );
        assert_eq!(result, Err(ScramError::Failed));
    }
}

#[test]
fn verifier_text_is_checked() {
    assert!(ScramVerifier::parse("analyst").is_err());
    assert!(ScramVerifier::parse("SCRAM-SHA-256$1000:AAAA$AAAA:AAAA").is_err());
    assert!(format!("{:?}", ScramVerifier::generate("x", 4096)).contains(".."));
}
