//! IAM roles for service accounts, the issuer half: the JWKS kubeline publishes verifies the
//! tokens the service-account key signs (what STS does with them), its key ID is the one
//! kube-apiserver puts in their header (the SHA-256 of the key's PKIX DER, checked against
//! openssl's DER), and the discovery document names the issuer and JWKS the API server uses.

use std::process::{Command, Stdio};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kubeline_core::model::KeyAlgorithm;
use kubeline_core::oidc;
use kubeline_core::pki::Key;
use kubeline_tests::{run, tool};
use sha2::{Digest, Sha256};

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: u64,
}

fn claims() -> Claims {
    Claims {
        iss: "https://b.s3.eu-west-1.amazonaws.com/clusters/a/oidc".into(),
        sub: oidc::subject("kube-system", "cloud-controller-manager"),
        aud: oidc::AUDIENCE.into(),
        exp: 4_102_444_800,
    }
}

fn sign(key: &Key, alg: Algorithm, kid: &str) -> String {
    let enc = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(key.pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(key.pem.as_bytes()),
    }
    .expect("the service-account key as a jsonwebtoken key");
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &claims(), &enc).expect("sign")
}

/// What a verifier does: the token's `kid` picks the JWKS key, which must verify it.
fn verify(jwks: &str, token: &str) -> Result<Claims, String> {
    let set: JwkSet = serde_json::from_str(jwks).map_err(|e| e.to_string())?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or(format!("no key {kid} in the JWKS"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&[oidc::AUDIENCE]);
    v.set_issuer(&[claims().iss]);
    jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())
}

#[test]
fn the_jwks_verifies_tokens_of_the_service_account_key_and_no_other() {
    for (alg, jwt_alg, kty) in [
        (KeyAlgorithm::EcdsaP256, Algorithm::ES256, "EC"),
        (KeyAlgorithm::Rsa2048, Algorithm::RS256, "RSA"),
    ] {
        let key = Key::generate(alg).expect("key");
        let jwks = oidc::jwks(&key.spki()).expect("jwks");
        let doc: serde_json::Value = serde_json::from_str(&jwks).expect("JSON");
        let keys = doc["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{jwks}");
        assert_eq!(keys[0]["kty"], kty);
        assert_eq!(keys[0]["use"], "sig");
        assert!(keys[0].get("d").is_none(), "no private part: {jwks}");
        let kid = oidc::key_id(&key.spki());
        assert_eq!(keys[0]["kid"], kid.as_str());

        let token = sign(&key, jwt_alg, &kid);
        assert_eq!(verify(&jwks, &token), Ok(claims()), "{alg:?}");

        // Negative controls: another key's token under the same kid, and an unknown kid.
        let other = Key::generate(alg).expect("key");
        let forged = sign(&other, jwt_alg, &kid);
        assert!(
            verify(&jwks, &forged).is_err(),
            "{alg:?}: a foreign key verified"
        );
        let unknown = sign(&key, jwt_alg, "not-the-kid");
        assert!(verify(&jwks, &unknown).unwrap_err().contains("no key"));
    }
}

#[test]
fn the_key_id_is_the_sha256_of_the_pkix_der_openssl_writes() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let key = Key::generate(alg).expect("key");
        let mut child = Command::new(tool("openssl"))
            .args(["pkey", "-pubin", "-outform", "DER"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("openssl");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(key.public_pem().as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&out.stdout));
        assert_eq!(oidc::key_id(&key.spki()), expected, "{alg:?}");
        assert_eq!(
            out.stdout,
            key.spki(),
            "{alg:?}: the hashed DER is openssl's"
        );
    }
    // The helper is the real one (a wrong tool would fail above, not here).
    let v = run(Command::new(tool("openssl")).arg("version"));
    assert!(v.status.success());
}

#[test]
fn a_key_that_is_not_rsa_or_p256_is_refused() {
    assert!(oidc::jwks(b"not DER").is_err());
    let key = Key::generate(KeyAlgorithm::EcdsaP256).expect("key");
    let mut spki = key.spki();
    spki.push(0);
    assert!(oidc::jwks(&spki).unwrap_err().to_string().contains("after"));
}
