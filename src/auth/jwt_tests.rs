//! The token matrix of security.md (AU-06..AU-11) against a JWKS file with an Ed25519 (the demo
//! key) and a P-256 key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use jsonwebtoken::{EncodingKey, Header};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::*;
use crate::auth::demo_token;

struct Fixture {
    verifier: JwtVerifier,
    ec_key: EncodingKey,
    _dir: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn fixture() -> Fixture {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let mut jwks: serde_json::Value = serde_json::from_str(demo_token::DEMO_JWKS).unwrap();
    jwks["keys"].as_array_mut().unwrap().push(json!({
        "kty": "EC", "crv": "P-256", "kid": "ec-1",
        "x": B64URL.encode(&point[1..33]), "y": B64URL.encode(&point[33..65]),
    }));
    let dir = std::env::temp_dir().join(format!("lakegate-jwt-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jwks.json");
    std::fs::write(&file, jwks.to_string()).unwrap();
    let settings: JwtSettings = toml::from_str(&format!(
        "issuer = \"{}\"\naudience = \"{}\"\njwks_file = {:?}\njwks_min_refresh_seconds = 0",
        demo_token::DEMO_ISSUER,
        demo_token::DEMO_AUDIENCE,
        file
    ))
    .unwrap();
    Fixture {
        verifier: JwtVerifier::new(settings).await.unwrap(),
        ec_key: EncodingKey::from_ec_der(pkcs8.as_ref()),
        _dir: tempdir::Dir(dir),
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims() -> serde_json::Value {
    json!({"iss": "lakegate-demo", "aud": "lakegate", "sub": "ann", "groups": ["analysts"],
           "nbf": now() - 5, "exp": now() + 300})
}

fn demo_signed(claims: &serde_json::Value) -> String {
    let pem = include_str!("../../policies/demo-jwt/demo-signing-key.pem");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some("lakegate-demo-1".into());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ed_pem(pem.as_bytes()).unwrap(),
    )
    .unwrap()
}

async fn refusal(f: &Fixture, token: &str) -> String {
    match f.verifier.verify(token, "ann").await {
        Ok(v) => panic!("accepted: {v:?}"),
        Err(TokenRefused(reason)) => reason,
    }
}

#[tokio::test]
async fn valid_tokens_of_each_key_type_give_the_principal() {
    let f = fixture().await;
    let ok = f
        .verifier
        .verify(&demo_signed(&claims()), "ann")
        .await
        .unwrap();
    assert_eq!(ok.principal.groups, ["analysts"]);
    assert!(!ok.principal.superuser);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("ec-1".into());
    let es = jsonwebtoken::encode(&header, &claims(), &f.ec_key).unwrap();
    assert_eq!(
        f.verifier.verify(&es, "ann").await.unwrap().principal.user,
        "ann"
    );
    let issued = demo_token::issue("ann", &["g".into()], 60).unwrap();
    assert_eq!(
        f.verifier
            .verify(&issued, "ann")
            .await
            .unwrap()
            .principal
            .groups,
        ["g"]
    );
}

#[tokio::test]
async fn claim_problems_are_refused() {
    let f = fixture().await;
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("expired", json!({"exp": now() - 120})),
        ("not yet valid", json!({"nbf": now() + 120})),
        ("wrong audience", json!({"aud": "other"})),
        ("wrong audience list", json!({"aud": ["other", "x"]})),
        ("wrong issuer", json!({"iss": "https://evil"})),
        ("missing aud", json!({"aud": null})),
        ("missing iss", json!({"iss": null})),
        ("missing nbf", json!({"nbf": null})),
        ("missing exp", json!({"exp": null})),
        ("string exp", json!({"exp": "9999999999"})),
        ("another user", json!({"sub": "admin"})),
        ("no user", json!({"sub": null})),
        ("bad groups", json!({"groups": [1, 2]})),
    ];
    for (name, change) in cases {
        let mut c = claims();
        for (k, v) in change.as_object().unwrap() {
            match v {
                serde_json::Value::Null => {
                    c.as_object_mut().unwrap().remove(k);
                }
                v => c[k] = v.clone(),
            }
        }
        let reason = refusal(&f, &demo_signed(&c)).await;
        assert!(!reason.is_empty(), "{name}");
    }
    let mut list_aud = claims();
    list_aud["aud"] = json!(["other", "lakegate"]);
    assert!(f
        .verifier
        .verify(&demo_signed(&list_aud), "ann")
        .await
        .is_ok());
}

fn forge(header: serde_json::Value, claims: &serde_json::Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string()),
        B64URL.encode(signature)
    )
}

#[tokio::test]
async fn forged_and_confused_tokens_are_refused() {
    let f = fixture().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let token = forge(
            json!({"alg": alg, "kid": "lakegate-demo-1"}),
            &claims(),
            b"",
        );
        refusal(&f, &token).await;
    }
    // HS256 keyed with the public key's bytes (algorithm confusion).
    let public = B64URL
        .decode("L47B9z9TfXAqfATknxFLyVvs15nZ37ih7v5LVMx1Bdg")
        .unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("lakegate-demo-1".into());
    let hs = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public)).unwrap();
    assert!(refusal(&f, &hs).await.contains("not accepted"));
    // An ES256 key named with an EdDSA header, and the reverse.
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("lakegate-demo-1".into());
    let swapped = jsonwebtoken::encode(&header, &claims(), &f.ec_key).unwrap();
    assert!(refusal(&f, &swapped).await.contains("does not match"));
    // Unknown and hostile kids, a tampered payload, wrong shapes, a critical header.
    for kid in ["nope", "../../dev/null", "' OR 1=1 --", &"k".repeat(5000)] {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.to_owned());
        let pem = include_str!("../../policies/demo-jwt/demo-signing-key.pem");
        let key = EncodingKey::from_ed_pem(pem.as_bytes()).unwrap();
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert!(refusal(&f, &token).await.contains("unknown signing key"));
    }
    let good = demo_signed(&claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut admin = claims();
    admin["sub"] = json!("ann");
    admin["groups"] = json!(["admins"]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64URL.encode(admin.to_string()),
        parts[2]
    );
    refusal(&f, &tampered).await;
    for shape in [
        "",
        "a.b",
        "a.b.c.d",
        "a.b.c.d.e",
        &format!("{good}.x"),
        "!!.??.**",
    ] {
        refusal(&f, shape).await;
    }
    let crit = forge(
        json!({"alg": "EdDSA", "kid": "lakegate-demo-1", "crit": ["exp"]}),
        &claims(),
        b"sig",
    );
    refusal(&f, &crit).await;
}
