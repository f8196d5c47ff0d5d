//! IAM roles for service accounts, the issuer half: the JWKS kubeline publishes verifies the
//! tokens the service-account key signs (what STS does with them), its key ID is the one
//! kube-apiserver puts in their header (the SHA-256 of the key's PKIX DER, checked against
//! openssl's DER), and the discovery document names the issuer and JWKS the API server uses;
//! end to end, a token a rendered cluster's own key signs verifies against the JWKS it publishes.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use kubeline_core::cluster::Cluster;
use kubeline_core::model::KeyAlgorithm;
use kubeline_core::pki::Key;
use kubeline_core::render::{self, Rendered};
use kubeline_core::{credential_files, oidc, validate};
use kubeline_tests::iam::{Decision, Pseudo, Request, decided, evaluate};
use kubeline_tests::{
    decode_ignition, examples, generated_credentials, inline_file, installation_template,
    repo_root, run, stacks_of, tool,
};
use serde_json::{Value, json};
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
        assert!(
            verify(&jwks, &unknown)
                .expect_err("an unknown key is refused")
                .contains("no key")
        );
    }
}

/// openssl ARGS with INPUT on stdin; its stdout (the test fails if openssl does).
fn openssl_with(args: &[&str], input: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut child = Command::new(tool("openssl"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write");
    let out = child.wait_with_output().expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_key_id_is_the_sha256_of_the_pkix_der_openssl_writes() {
    for alg in [KeyAlgorithm::EcdsaP256, KeyAlgorithm::Rsa2048] {
        let key = Key::generate(alg).expect("key");
        let der = openssl_with(
            &["pkey", "-pubin", "-outform", "DER"],
            key.public_pem().as_bytes(),
        );
        let expected =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
        assert_eq!(oidc::key_id(&key.spki()), expected, "{alg:?}");
        assert_eq!(der, key.spki(), "{alg:?}: the hashed DER is openssl's");
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
    assert!(
        oidc::jwks(&spki)
            .expect_err("trailing bytes are refused")
            .to_string()
            .contains("after")
    );
}

/// Renders an example with generated credentials, as the pipeline does (the JWKS given).
fn render_with_credentials(path: &std::path::Path) -> (Cluster, Rendered) {
    let (cluster, rendered, _) = render_with_keys(path);
    (cluster, rendered)
}

/// The example rendered with newly generated credentials, and those credentials.
fn render_with_keys(
    path: &std::path::Path,
) -> (Cluster, Rendered, kubeline_core::reconcile::Files) {
    let text = std::fs::read_to_string(path).expect("example");
    let cluster = validate::load(&text).cluster.expect("valid example");
    let creds = generated_credentials(&cluster);
    let inputs = render::Inputs {
        service_account_jwks: Some(
            String::from_utf8(creds[credential_files::SA_JWKS].clone()).expect("UTF-8"),
        ),
        ..render::Inputs::default()
    };
    let rendered =
        render::render_with(&cluster, &render::Templates::builtin(), &inputs).expect("render");
    (cluster, rendered, creds)
}

/// End to end, as STS sees it: a token the cluster's own service-account key signs (with the
/// key ID openssl's DER gives, as kube-apiserver sets it) verifies against the `keys.json` the
/// render publishes, under the discovery document's issuer and one of the algorithms it
/// announces; a token of another cluster's key does not.
#[test]
fn the_published_issuer_documents_verify_the_cluster_s_own_tokens() {
    let mut checked = 0;
    for (name, path) in examples() {
        let (_, rendered, creds) = render_with_keys(&path);
        let (_, other, other_creds) = render_with_keys(&path);
        let discovery: Value =
            serde_json::from_slice(&rendered.files["oidc/openid-configuration.json"])
                .expect("discovery JSON");
        let jwks = String::from_utf8(rendered.files["oidc/keys.json"].clone()).expect("UTF-8");
        let issuer = discovery["issuer"].as_str().expect("issuer");
        assert_eq!(
            discovery["jwks_uri"].as_str(),
            Some(format!("{issuer}/keys.json").as_str()),
            "{name}"
        );
        let key_pem = &creds[credential_files::SA_KEY];
        let der = openssl_with(&["pkey", "-pubout", "-outform", "DER"], key_pem);
        let kid = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&der));
        // The key's algorithm as the published JWK states it (a wrong one fails to verify).
        let published: Value = serde_json::from_str(&jwks).expect("JWKS");
        let stated = published["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .and_then(|k| k["alg"].as_str())
            .unwrap_or_else(|| panic!("{name}: no key {kid} in the published JWKS: {jwks}"));
        let (enc, alg) = match stated {
            "ES256" => (
                EncodingKey::from_ec_pem(key_pem).expect("EC key"),
                Algorithm::ES256,
            ),
            "RS256" => (
                EncodingKey::from_rsa_pem(key_pem).expect("RSA key"),
                Algorithm::RS256,
            ),
            other => panic!("{name}: unexpected algorithm {other}"),
        };
        let algs = discovery["id_token_signing_alg_values_supported"]
            .as_array()
            .expect("algorithms");
        assert!(
            algs.iter().any(|a| a.as_str() == Some(&format!("{alg:?}"))),
            "{name}: {alg:?} not announced in {algs:?}"
        );
        let claims = Claims {
            iss: issuer.to_owned(),
            sub: oidc::subject("kube-system", "ebs-csi-controller-sa"),
            aud: oidc::AUDIENCE.into(),
            exp: 4_102_444_800,
        };
        let mut header = Header::new(alg);
        header.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &enc).expect("sign");
        let set: JwkSet = serde_json::from_str(&jwks).expect("JWKS");
        let jwk = set
            .find(&kid)
            .unwrap_or_else(|| panic!("{name}: no key {kid} in the published JWKS"));
        let mut v = Validation::new(alg);
        v.set_audience(&[oidc::AUDIENCE]);
        v.set_issuer(&[issuer]);
        let key = DecodingKey::from_jwk(jwk).expect("JWK");
        let verified = jsonwebtoken::decode::<Claims>(&token, &key, &v).expect("verifies");
        assert_eq!(verified.claims, claims, "{name}");
        // Negative controls: another cluster's key signing under this key ID does not
        // verify, and another cluster's published keys know no such key.
        let other_pem = &other_creds[credential_files::SA_KEY];
        let other_enc = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_pem(other_pem),
            _ => EncodingKey::from_rsa_pem(other_pem),
        }
        .expect("the other key");
        let forged = jsonwebtoken::encode(&header, &claims, &other_enc).expect("sign");
        assert!(
            jsonwebtoken::decode::<Claims>(&forged, &key, &v).is_err(),
            "{name}: a token of another key verified"
        );
        let foreign: JwkSet = serde_json::from_slice(&other.files["oidc/keys.json"]).expect("JWKS");
        assert!(
            foreign.find(&kid).is_none(),
            "{name}: a foreign JWKS has the key"
        );
        checked += 1;
    }
    assert!(checked >= 5, "examples: {checked}");
}

/// The kube-apiserver flags of the controllers' node config.
fn api_server_flags(rendered: &Rendered) -> Vec<String> {
    let (files, _, _) = decode_ignition(&rendered.files["userdata/controller.json"]);
    let manifest = inline_file(&files, "/etc/kubernetes/manifests/kube-apiserver.yaml")
        .expect("kube-apiserver manifest");
    manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- --"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn one_issuer_everywhere_and_each_role_trusts_only_its_service_account() {
    let mut roles_seen = 0;
    for (name, path) in examples() {
        let (cluster, rendered) = render_with_credentials(&path);
        let stacks = stacks_of(&rendered);
        let cp = &stacks["control-plane"];
        let provider = &cp["Resources"]["ServiceAccountIssuer"];
        assert_eq!(provider["Type"], "AWS::IAM::OIDCProvider", "{name}");
        assert_eq!(
            provider["Properties"]["ClientIdList"],
            json!([oidc::AUDIENCE]),
            "{name}"
        );
        let issuer = provider["Properties"]["Url"].as_str().expect("Url");
        let host_path = issuer.strip_prefix("https://").expect("https issuer");

        // kube-apiserver signs with exactly that issuer and still accepts the in-cluster one.
        let flags = api_server_flags(&rendered);
        let issuers: Vec<&str> = flags
            .iter()
            .filter_map(|f| f.strip_prefix("service-account-issuer="))
            .collect();
        assert_eq!(issuers, [issuer, oidc::IN_CLUSTER_ISSUER], "{name}");
        assert!(
            flags.contains(&format!("api-audiences={}", oidc::IN_CLUSTER_ISSUER)),
            "{name}: the API audience must stay the in-cluster issuer: {flags:?}"
        );

        // The published documents: the discovery document names the issuer and the JWKS the
        // API server points at, at the keys the bucket policy publishes.
        let doc: Value =
            serde_json::from_slice(&rendered.files["oidc/openid-configuration.json"]).expect("doc");
        assert_eq!(doc["issuer"], issuer, "{name}");
        let jwks_uri = doc["jwks_uri"].as_str().expect("jwks_uri");
        assert!(
            flags.contains(&format!("service-account-jwks-uri={jwks_uri}")),
            "{name}"
        );
        let keys: Vec<&str> = rendered.published.iter().map(|u| u.key.as_str()).collect();
        let folder = cluster.s3.key(&cluster.keys().oidc());
        assert_eq!(
            keys,
            [
                format!("{folder}.well-known/openid-configuration"),
                format!("{folder}keys.json")
            ],
            "{name}"
        );
        assert_eq!(
            jwks_uri,
            format!(
                "https://{}.s3.{}.amazonaws.com/{folder}keys.json",
                cluster.s3.bucket, cluster.region
            ),
            "{name}"
        );

        // Each role: federated to this provider only, for exactly one service account.
        let specs = oidc::roles(&cluster);
        for spec in &specs {
            let role = &cp["Resources"][&spec.logical_id];
            assert_eq!(role["Type"], "AWS::IAM::Role", "{name}/{}", spec.logical_id);
            let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"];
            let trust = trust.as_array().expect("trust statements");
            assert_eq!(trust.len(), 1, "{name}: one trust statement");
            let st = &trust[0];
            assert_eq!(
                st["Principal"],
                json!({"Federated": {"Ref": "ServiceAccountIssuer"}})
            );
            let mut judged = st.clone();
            judged["Resource"] = json!(role_arn(&spec.role_name));
            let policy = json!({"Statement": [judged]});
            let assume = |sub: &str, aud: &str| {
                let r = Request::new("sts:AssumeRoleWithWebIdentity", &role_arn(&spec.role_name))
                    .with(&format!("{host_path}:sub"), sub)
                    .with(&format!("{host_path}:aud"), aud);
                evaluate(&Pseudo::default(), &[&policy], &r)
            };
            let sub = format!("system:serviceaccount:{}:{}", spec.namespace, spec.name);
            assert_eq!(
                assume(&sub, oidc::AUDIENCE),
                Decision::Allow,
                "{name}: {sub}"
            );
            // Negative controls: another account of the namespace, the same name elsewhere,
            // another audience (the API's own tokens), and a wildcard-looking subject.
            for other in [
                format!("system:serviceaccount:{}:default", spec.namespace),
                format!("system:serviceaccount:default:{}", spec.name),
                format!("system:serviceaccount:{}:*", spec.namespace),
            ] {
                assert_eq!(
                    assume(&other, oidc::AUDIENCE),
                    Decision::ImplicitDeny,
                    "{other}"
                );
            }
            // Another cluster's token names another issuer: its claims are other keys.
            let elsewhere = host_path.replace("/clusters/", "/clusters/x");
            let r = Request::new("sts:AssumeRoleWithWebIdentity", &role_arn(&spec.role_name))
                .with(&format!("{elsewhere}:sub"), &sub)
                .with(&format!("{elsewhere}:aud"), oidc::AUDIENCE);
            assert_eq!(
                evaluate(&Pseudo::default(), &[&policy], &r),
                Decision::ImplicitDeny,
                "{name}: another cluster's token"
            );
            assert_eq!(
                assume(&sub, oidc::IN_CLUSTER_ISSUER),
                Decision::ImplicitDeny,
                "{name}: an in-cluster token"
            );
            // The add-on's pods carry this role's ARN.
            if let Some(addon) = spec.addon {
                let text = String::from_utf8(
                    rendered.files[&format!("addons/{}.yaml", addon.as_str())].clone(),
                )
                .expect("UTF-8");
                assert!(
                    text.contains(&format!("value: \"{}\"", spec.arn)),
                    "{name}: {} does not carry {}",
                    addon.as_str(),
                    spec.arn
                );
                assert!(text.contains("audience: \"sts.amazonaws.com\""));
            } else {
                assert_eq!(
                    role["Properties"]["ManagedPolicyArns"],
                    json!(spec.managed_policy_arns)
                );
                assert_eq!(
                    role["Properties"]["PermissionsBoundary"]["Fn::If"][0],
                    "HasServiceAccountRoleBoundary"
                );
            }
            roles_seen += 1;
        }
        // The controllers' instance role keeps none of the add-ons' rights.
        let controller = &cp["Resources"]["Role"]["Properties"]["Policies"][0]["PolicyDocument"];
        let text = controller.to_string();
        for sid in [
            "CloudControllerManager",
            "EbsCsiDriverCreateVolumes",
            "ClusterAutoscalerOwnPools",
            "NodeDrainQueue",
        ] {
            assert!(
                !text.contains(sid),
                "{name}: the controller role still has {sid}"
            );
        }
    }
    assert!(roles_seen >= 20, "only {roles_seen} roles checked");
}

fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::123456789012:role/{name}")
}

#[test]
fn user_service_accounts_are_validated() {
    let base = std::fs::read_to_string(repo_root().join("examples/minimal/cluster.yaml"))
        .expect("example");
    let with = |extra: &str| {
        let loaded = validate::load(&format!("{base}\n{extra}"));
        (loaded.cluster, loaded.diagnostics.render("cluster.yaml"))
    };
    let (ok, _) = with(
        "serviceAccounts:\n  - namespace: apps\n    name: reader\n    managedPolicies:\n      - arn: arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\n",
    );
    let sa = &ok.expect("valid").service_accounts[0];
    assert_eq!(sa.role_name, oidc::role_name("minimal", "apps", "reader"));
    assert!(sa.role_name.len() <= 64);
    for (extra, expect) in [
        (
            "serviceAccounts:\n  - namespace: Apps\n    name: reader\n    managedPolicies: [{arn: 'arn:aws:iam::aws:policy/A'}]\n",
            "\"Apps\" is not a namespace",
        ),
        (
            "serviceAccounts:\n  - namespace: apps\n    name: reader\n",
            "no managed policies",
        ),
        (
            "serviceAccounts:\n  - namespace: kube-system\n    name: cloud-controller-manager\n    managedPolicies: [{arn: 'arn:aws:iam::aws:policy/A'}]\n",
            "is the cloud-controller-manager add-on's",
        ),
        (
            "serviceAccounts:\n  - {namespace: a, name: b, managedPolicies: [{arn: 'arn:aws:iam::aws:policy/A'}]}\n  - {namespace: a, name: b, managedPolicies: [{arn: 'arn:aws:iam::aws:policy/A'}]}\n",
            "a/b is listed twice",
        ),
        (
            "serviceAccounts:\n  - {namespace: a, name: b, managedPolicies: [{arn: 'arn:aws:s3:::bucket'}]}\n",
            "is not a managed policy ARN",
        ),
    ] {
        let (cluster, text) = with(extra);
        assert!(cluster.is_none(), "{extra} was accepted");
        assert!(text.contains(expect), "{extra}: {text}");
    }
}

/// The bucket policy lets anyone read the issuers' two documents and nothing else; the
/// functions write them only SSE-S3 (anonymous readers cannot use KMS).
#[test]
fn only_the_issuer_documents_are_public() {
    let t = installation_template();
    let statements = t["Resources"]["BucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_array()
        .expect("statements")
        .clone();
    let conditions = BTreeMap::from([("HasAdmins", true), ("HasApprovers", true)]);
    let kept: Vec<Value> = statements
        .iter()
        .map(|s| decided(s, &conditions, &BTreeMap::new()))
        .filter(|s| s.get("Ref").is_none())
        .collect();
    let policy = json!({ "Statement": kept });
    let mut p = Pseudo::installation();
    p.refs.insert("Bucket".into(), "inst".into());
    p.refs.insert(
        "AdminPrincipalArns".into(),
        "arn:aws:iam::123456789012:role/admins".into(),
    );
    p.refs.insert(
        "ApproverPrincipalArns".into(),
        "arn:aws:iam::123456789012:role/approvers".into(),
    );
    let anonymous = |action: &str, key: &str| {
        let r = Request::new(action, &format!("arn:aws:s3:::inst/{key}"))
            .with("aws:SecureTransport", "true");
        evaluate(&p, &[&policy], &r)
    };
    for key in [
        "clusters/a/oidc/.well-known/openid-configuration",
        "clusters/a/oidc/keys.json",
    ] {
        assert_eq!(anonymous("s3:GetObject", key), Decision::Allow, "{key}");
        assert_ne!(
            anonymous("s3:PutObject", key),
            Decision::Allow,
            "{key} written"
        );
        assert_ne!(
            anonymous("s3:DeleteObject", key),
            Decision::Allow,
            "{key} deleted"
        );
    }
    // Negative controls: everything else a reader might want.
    for key in [
        "clusters/a/credentials/ca-key.pem.enc",
        "clusters/a/credentials/service-account-jwks.json",
        "clusters/a/userdata/controller-0123456789abcdef.json",
        "clusters/a/cluster.yaml",
        "clusters/a/oidc/other.json",
        "clusters/a/oidc/.well-known/other",
        "installation.yaml",
    ] {
        assert_eq!(
            anonymous("s3:GetObject", key),
            Decision::ImplicitDeny,
            "{key}"
        );
    }
    assert_eq!(anonymous("s3:ListBucket", ""), Decision::ImplicitDeny);
    // Over plain HTTP nothing, the documents included.
    let r = Request::new(
        "s3:GetObject",
        "arn:aws:s3:::inst/clusters/a/oidc/keys.json",
    )
    .with("aws:SecureTransport", "false");
    assert_eq!(evaluate(&p, &[&policy], &r), Decision::ExplicitDeny);
    // The documents are written SSE-S3 only, and only by the functions.
    let put = |who: &str, sse: &str| {
        let r = Request::new(
            "s3:PutObject",
            "arn:aws:s3:::inst/clusters/a/oidc/keys.json",
        )
        .with("aws:SecureTransport", "true")
        .with("aws:PrincipalArn", who)
        .with("s3:x-amz-server-side-encryption", sse);
        evaluate(&p, &[&policy], &r)
    };
    let render = "arn:aws:iam::123456789012:role/kubeline-RenderFunctionRole-1A2B3C";
    assert_eq!(put(render, "aws:kms"), Decision::ExplicitDeny);
    assert_ne!(put(render, "AES256"), Decision::ExplicitDeny);
    assert_eq!(
        put("arn:aws:iam::123456789012:role/team-a", "AES256"),
        Decision::ExplicitDeny
    );
    // And the bucket lets a policy make them public (Block Public Access would not).
    let bpa = &t["Resources"]["Bucket"]["Properties"]["PublicAccessBlockConfiguration"];
    assert_eq!(bpa["BlockPublicPolicy"], false);
    assert_eq!(bpa["RestrictPublicBuckets"], false);
    assert_eq!(bpa["BlockPublicAcls"], true);
    assert_eq!(bpa["IgnorePublicAcls"], true);
}

/// A `serviceAccounts` role's boundary: its managed policies apply to the account's other
/// resources, never to IAM, the account, or this installation's bucket, key, functions, state
/// machines, cluster stacks, topic and queues.
#[test]
fn a_team_role_never_reaches_the_installation() {
    let t = installation_template();
    let boundary = &t["Resources"]["ServiceAccountRoleBoundary"]["Properties"]["PolicyDocument"];
    let mut p = Pseudo::installation();
    p.refs.insert("Bucket".into(), "inst".into());
    let account = "arn:aws:iam::123456789012";
    let cases = [
        // What a team's managed policies are for: the team's own buckets, queues and tables.
        (
            "s3:GetObject",
            "arn:aws:s3:::reports/2026/a.csv",
            Decision::Allow,
        ),
        (
            "sqs:SendMessage",
            "arn:aws:sqs:eu-west-1:123456789012:reports",
            Decision::Allow,
        ),
        (
            "dynamodb:PutItem",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/r",
            Decision::Allow,
        ),
        // Negative controls: the installation and identities.
        (
            "s3:GetObject",
            "arn:aws:s3:::inst/clusters/b/cluster.yaml",
            Decision::ExplicitDeny,
        ),
        (
            "s3:PutObject",
            "arn:aws:s3:::inst/installation.yaml",
            Decision::ExplicitDeny,
        ),
        (
            "s3:PutBucketPolicy",
            "arn:aws:s3:::inst",
            Decision::ExplicitDeny,
        ),
        (
            "kms:Decrypt",
            "arn:aws:kms:eu-west-1:123456789012:key/installation",
            Decision::ExplicitDeny,
        ),
        (
            "lambda:UpdateFunctionCode",
            "arn:aws:lambda:eu-west-1:123456789012:function:kubeline-ApplyFunction-1",
            Decision::ExplicitDeny,
        ),
        (
            "states:StartExecution",
            "arn:aws:states:eu-west-1:123456789012:stateMachine:kubeline-pipeline",
            Decision::ExplicitDeny,
        ),
        (
            "cloudformation:DeleteStack",
            "arn:aws:cloudformation:eu-west-1:123456789012:stack/kubeline-b-control-plane/1",
            Decision::ExplicitDeny,
        ),
        (
            "sns:Publish",
            "arn:aws:sns:eu-west-1:123456789012:kubeline-chat",
            Decision::ExplicitDeny,
        ),
        (
            "sqs:DeleteMessage",
            "arn:aws:sqs:eu-west-1:123456789012:kubeline-b-node-drain",
            Decision::ExplicitDeny,
        ),
        (
            "iam:CreateUser",
            &format!("{account}:user/x"),
            Decision::ExplicitDeny,
        ),
        (
            "iam:PassRole",
            &format!("{account}:role/kubeline-b-controller"),
            Decision::ExplicitDeny,
        ),
        (
            "organizations:LeaveOrganization",
            "*",
            Decision::ExplicitDeny,
        ),
    ];
    for (action, resource, want) in cases {
        let r = Request::new(action, resource);
        assert_eq!(
            evaluate(&p, &[boundary], &r),
            want,
            "{action} on {resource}"
        );
    }
}
