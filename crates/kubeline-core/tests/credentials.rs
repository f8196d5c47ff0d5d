//! The credential rules without external tools: a complete set from nothing, byte-identical
//! re-runs, targeted re-issue on config changes and expiry, bring-your-own CA, the three CA
//! rotation stages, and refusals that change nothing.

use kubeline_core::cluster::Cluster;
use kubeline_core::credentials::{Authority, leaf_certificates};
use kubeline_core::pki::{self, Key};
use kubeline_core::reconcile::{
    self, CaSource, CaStage, Change, CredentialsError, Files, Options, expected_files,
};
use kubeline_core::validate;
use time::{Duration, OffsetDateTime};

const BASE: &str = "clusterName: demo\ns3URI: s3://kubeline-assets-123456789012\nregion: eu-west-1\n\
availabilityZone: eu-west-1a\nkmsKeyArn: arn:aws:kms:eu-west-1:123456789012:key/abc\n\
apiEndpoints:\n  - name: public\n    dnsName: api.demo.example.com\n    loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}\n";

fn cluster(extra: &str) -> Cluster {
    let l = validate::load(&format!("{BASE}{extra}"));
    l.cluster
        .unwrap_or_else(|| panic!("{}", l.diagnostics.render("cluster.yaml")))
}

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("time")
}

fn opts(at: OffsetDateTime) -> Options {
    Options {
        now: at,
        renew_within_days: reconcile::DEFAULT_RENEW_WITHIN_DAYS,
    }
}

fn generated(c: &Cluster) -> Files {
    reconcile::reconcile(c, &Files::new(), CaSource::Generate, &opts(now()))
        .expect("generate")
        .files
}

fn changed(out: &reconcile::Outcome) -> Vec<(String, Change)> {
    out.entries
        .iter()
        .filter(|e| e.change != Change::Unchanged)
        .map(|e| (e.file.clone(), e.change.clone()))
        .collect()
}

fn cert(files: &Files, name: &str) -> pki::CertInfo {
    let text = std::str::from_utf8(&files[name]).expect("utf8");
    pki::parse_certificates(text).expect("cert").remove(0)
}

#[test]
fn generates_the_whole_set_and_a_rerun_changes_nothing() {
    let c = cluster("");
    let first = reconcile::reconcile(&c, &Files::new(), CaSource::Generate, &opts(now()))
        .expect("generate");
    for name in expected_files(&c) {
        assert!(first.files.contains_key(&name), "{name} missing");
    }
    assert!(
        first.entries.iter().all(|e| e.change == Change::Created),
        "{:?}",
        first.entries
    );
    let ca = cert(&first.files, "ca.pem");
    assert!(ca.is_ca);
    assert_eq!(ca.common_name.as_deref(), Some("kube-ca"));
    for spec in kubeline_core::credentials::leaf_certificates(&c) {
        let leaf = cert(&first.files, &format!("{}.pem", spec.name));
        let issuer = cert(&first.files, spec.issuer.cert_file());
        assert!(
            leaf.issued_by(&issuer),
            "{} not issued by its CA",
            spec.name
        );
        assert!(!leaf.is_ca);
        assert_eq!(leaf.days_left(now()), 365, "{}", spec.name);
        assert_eq!(pki::mismatch(&spec, &leaf), None);
    }

    // Re-running an hour later (and with --generate-ca again) keeps every byte.
    let later = now() + Duration::hours(1);
    for source in [CaSource::Existing, CaSource::Generate] {
        let again = reconcile::reconcile(&c, &first.files, source, &opts(later)).expect("rerun");
        assert_eq!(changed(&again), vec![]);
        assert_eq!(again.files, first.files);
    }
}

#[test]
fn serials_are_random_and_unique() {
    let c = cluster("");
    let mut serials = Vec::new();
    for set in [generated(&c), generated(&c)] {
        for name in set
            .keys()
            .filter(|n| n.ends_with(".pem") && !n.ends_with("-key.pem"))
        {
            if name != "service-account-pub.pem" {
                serials.push(cert(&set, name).serial);
            }
        }
    }
    let total = serials.len();
    // Per set: three CAs and eight leaves.
    assert_eq!(total, 22);
    serials.sort();
    serials.dedup();
    assert_eq!(serials.len(), total);
    assert!(serials.iter().all(|s| s.len() >= 30), "{serials:?}");
}

#[test]
fn a_new_endpoint_reissues_only_the_apiserver_certificate_with_its_key() {
    let c = cluster("");
    let files = generated(&c);
    let c2 = cluster(
        "customApiServerSettings:\n  additionalDnsSans: [k8s.example.org]\n  additionalIPAddressSans: [10.0.0.50]\n",
    );
    let out = reconcile::reconcile(&c2, &files, CaSource::Existing, &opts(now())).expect("rerun");
    let ch = changed(&out);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(ch[0].0, "apiserver.pem");
    let Change::Replaced(reason) = &ch[0].1 else {
        panic!("{ch:?}")
    };
    assert!(
        reason.contains("+k8s.example.org") && reason.contains("+10.0.0.50"),
        "{reason}"
    );
    assert_eq!(out.files["apiserver-key.pem"], files["apiserver-key.pem"]);
    let api = cert(&out.files, "apiserver.pem");
    assert!(api.dns_names.contains(&"k8s.example.org".to_owned()));
}

/// The endpoint kubeline adds for nodes (no private endpoint in cluster.yaml) is in the
/// apiserver certificate; a set issued before it existed gets a new apiserver certificate
/// (same key), and nothing else changes.
#[test]
fn the_nodes_endpoint_is_a_san_and_adding_it_reissues_the_apiserver_certificate() {
    let c = cluster("");
    let nodes = c.api_endpoints.last().expect("endpoints");
    assert!(nodes.added_for_nodes, "{:?}", c.api_endpoints);
    assert_eq!(nodes.dns_name.as_str(), "internal.api.demo.example.com");
    let mut before = c.clone();
    before.api_endpoints.pop();
    let files = generated(&before);
    assert!(
        !cert(&files, "apiserver.pem")
            .dns_names
            .contains(&"internal.api.demo.example.com".to_owned())
    );
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &opts(now())).expect("rerun");
    let ch = changed(&out);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(ch[0].0, "apiserver.pem");
    let Change::Replaced(reason) = &ch[0].1 else {
        panic!("{ch:?}")
    };
    assert!(
        reason.contains("+internal.api.demo.example.com"),
        "{reason}"
    );
    assert_eq!(out.files["apiserver-key.pem"], files["apiserver-key.pem"]);
    let api = cert(&out.files, "apiserver.pem");
    for name in ["api.demo.example.com", "internal.api.demo.example.com"] {
        assert!(api.dns_names.contains(&name.to_owned()), "{name}: {api:?}");
    }
    // And a rerun with the endpoint changes nothing.
    let again =
        reconcile::reconcile(&c, &out.files, CaSource::Existing, &opts(now())).expect("rerun");
    assert_eq!(changed(&again), vec![]);
}

#[test]
fn certificates_inside_the_window_are_renewed_and_the_rest_kept() {
    let c = cluster("");
    let files = generated(&c);
    // 300 days later: 65 days left, outside the default 30-day window...
    let at = now() + Duration::days(300);
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &opts(at)).expect("rerun");
    assert_eq!(changed(&out), vec![]);
    // ...but inside a 90-day one (`rotate credentials --within-days 90`).
    let wide = Options {
        now: at,
        renew_within_days: 90,
    };
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &wide).expect("rotate");
    let ch = changed(&out);
    assert_eq!(ch.len(), 8, "{ch:?}");
    for (file, change) in &ch {
        assert!(
            file.ends_with(".pem") && !file.ends_with("-key.pem"),
            "{file}"
        );
        assert!(
            matches!(change, Change::Replaced(r) if r.contains("expires in 65 days")),
            "{change:?}"
        );
        assert_eq!(cert(&out.files, file).days_left(at), 365);
    }
    // Keys, secrets and the CA stay.
    for name in [
        "ca.pem",
        "ca-key.pem",
        "etcd-key.pem",
        "tokens.csv",
        "encryption-config.yaml",
    ] {
        assert_eq!(out.files[name], files[name], "{name}");
    }
}

#[test]
fn leaves_never_outlive_the_ca() {
    let c = cluster("tlsCADurationDays: 400\ntlsCertDurationDays: 365\n");
    let files = generated(&c);
    // 200 days on, a renewed leaf would reach past the CA: it is capped at the CA's end.
    let at = now() + Duration::days(200);
    let wide = Options {
        now: at,
        renew_within_days: 200,
    };
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &wide).expect("rotate");
    let ca = cert(&out.files, "ca.pem");
    let api = cert(&out.files, "apiserver.pem");
    assert!(api.not_after <= ca.not_after);
    let etcd_ca = cert(&out.files, "etcd-ca.pem");
    assert!(cert(&out.files, "etcd.pem").not_after <= etcd_ca.not_after);
    assert!(
        out.notes.iter().any(|n| n.contains("the CA expires in")),
        "{:?}",
        out.notes
    );
}

#[test]
fn no_ca_is_a_clear_error() {
    let c = cluster("");
    let err = reconcile::reconcile(&c, &Files::new(), CaSource::Existing, &opts(now()))
        .expect_err("no CA");
    assert!(matches!(err, CredentialsError::NoCa));
    assert!(err.fix().contains("--generate-ca"));
    assert_eq!(err.name().as_str(), "CredentialsNoCa");
}

#[test]
fn broken_files_are_refused_or_replaced_with_reasons() {
    let c = cluster("");
    let files = generated(&c);

    let mut bad = files.clone();
    bad.insert("ca-key.pem".into(), b"garbage".to_vec());
    let err = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now())).expect_err("ca key");
    assert!(err.to_string().starts_with("ca-key.pem: "), "{err}");

    let mut bad = files.clone();
    bad.insert(
        "encryption-config.yaml".into(),
        b"kind: Something\n".to_vec(),
    );
    let err = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now())).expect_err("enc");
    assert!(err.to_string().contains("EncryptionConfiguration"), "{err}");
    assert!(err.fix().contains("unreadable"), "{}", err.fix());

    // A damaged leaf is not a reason to stop: it is re-issued and the report says why.
    let mut bad = files.clone();
    bad.insert(
        "admin.pem".into(),
        b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
    );
    let out = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now())).expect("repair");
    let ch = changed(&out);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert!(
        matches!(&ch[0].1, Change::Replaced(r) if r.contains("unreadable")),
        "{ch:?}"
    );

    // A certificate that does not match its key is re-issued.
    let mut bad = files.clone();
    let other = Key::generate(Default::default()).expect("key");
    bad.insert("etcd-key.pem".into(), other.pem.into_bytes());
    let out = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now())).expect("repair");
    assert_eq!(
        changed(&out),
        vec![(
            "etcd.pem".to_owned(),
            Change::Replaced("does not match etcd-key.pem".into())
        )]
    );
}

#[test]
fn tokens_keep_operator_lines_and_the_bootstrap_token_is_consistent() {
    let c = cluster("");
    let mut files = generated(&c);
    let token = String::from_utf8(files["kubelet-tls-bootstrap-token"].clone()).expect("utf8");
    let token = token.trim();
    assert_eq!(token.len(), 32);
    let csv = String::from_utf8(files["tokens.csv"].clone()).expect("utf8");
    assert_eq!(
        csv,
        format!("{token},kubelet-bootstrap,10001,\"system:kubelet-bootstrap\"\n")
    );
    files.insert(
        "tokens.csv".into(),
        format!("{csv}abc123,ci-bot,20001,\"ci\"\n").into_bytes(),
    );
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &opts(now())).expect("rerun");
    assert_eq!(changed(&out), vec![]);
    // Losing the token file gives a new token, written to tokens.csv too; the operator's line stays.
    files.remove("kubelet-tls-bootstrap-token");
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &opts(now())).expect("rerun");
    let new = String::from_utf8(out.files["kubelet-tls-bootstrap-token"].clone()).expect("utf8");
    let csv = String::from_utf8(out.files["tokens.csv"].clone()).expect("utf8");
    assert!(csv.starts_with(new.trim()), "{csv}");
    assert!(csv.contains("abc123,ci-bot,20001"), "{csv}");
}

#[test]
fn rsa_when_asked_and_an_algorithm_change_renews_leaf_keys_only() {
    let ec = cluster("");
    let files = generated(&ec);
    let rsa = cluster("tlsKeyAlgorithm: rsa-2048\n");
    let out = reconcile::reconcile(&rsa, &files, CaSource::Existing, &opts(now())).expect("rsa");
    for spec in kubeline_core::credentials::leaf_certificates(&rsa) {
        let key = format!("{}-key.pem", spec.name);
        let k =
            Key::from_pem(std::str::from_utf8(&out.files[&key]).expect("utf8"), None).expect("key");
        assert_eq!(
            k.algorithm(),
            Some(kubeline_core::model::KeyAlgorithm::Rsa2048)
        );
        assert!(
            cert(&out.files, &format!("{}.pem", spec.name))
                .issued_by(&cert(&out.files, spec.issuer.cert_file()))
        );
    }
    assert_eq!(out.files["ca-key.pem"], files["ca-key.pem"]);
    assert_eq!(
        out.files["service-account-key.pem"],
        files["service-account-key.pem"]
    );
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("service-account-key.pem"))
    );
    // A fresh RSA set is RSA throughout.
    let fresh = generated(&rsa);
    let ca_key = Key::from_pem(
        std::str::from_utf8(&fresh["ca-key.pem"]).expect("utf8"),
        None,
    )
    .expect("key");
    assert_eq!(
        ca_key.algorithm(),
        Some(kubeline_core::model::KeyAlgorithm::Rsa2048)
    );
}

#[test]
fn bring_your_own_ca_is_used_and_kept() {
    let c = cluster("");
    let ca_key = Key::generate(Default::default()).expect("key");
    let ca_pem =
        pki::self_signed_ca("Example Corp Kubernetes CA", &ca_key, 1000, now()).expect("ca");
    let import = CaSource::Import {
        cert_pem: &ca_pem,
        key_pem: &ca_key.pem,
        passphrase: None,
    };
    let out = reconcile::reconcile(&c, &Files::new(), import, &opts(now())).expect("import");
    let ca = cert(&out.files, "ca.pem");
    assert_eq!(
        ca.common_name.as_deref(),
        Some("Example Corp Kubernetes CA")
    );
    assert!(cert(&out.files, "admin.pem").issued_by(&ca));
    // The organisation's CA is the cluster CA only: etcd and the front proxy get their own,
    // generated ones.
    let etcd_ca = cert(&out.files, "etcd-ca.pem");
    assert_eq!(etcd_ca.common_name.as_deref(), Some("etcd-ca"));
    assert!(cert(&out.files, "etcd.pem").issued_by(&etcd_ca));
    assert!(!cert(&out.files, "etcd.pem").issued_by(&ca));
    let again = reconcile::reconcile(&c, &out.files, import, &opts(now())).expect("again");
    assert_eq!(changed(&again), vec![]);

    // The wrong key, or a certificate that is not a CA, is refused.
    let stranger = Key::generate(Default::default()).expect("key");
    let wrong = CaSource::Import {
        cert_pem: &ca_pem,
        key_pem: &stranger.pem,
        passphrase: None,
    };
    let err = reconcile::reconcile(&c, &Files::new(), wrong, &opts(now())).expect_err("wrong");
    assert!(err.to_string().starts_with("--ca-key-path: "), "{err}");
    let leaf = String::from_utf8(out.files["admin.pem"].clone()).expect("utf8");
    let admin_key = String::from_utf8(out.files["admin-key.pem"].clone()).expect("utf8");
    let not_ca = CaSource::Import {
        cert_pem: &leaf,
        key_pem: &admin_key,
        passphrase: None,
    };
    let err = reconcile::reconcile(&c, &Files::new(), not_ca, &opts(now())).expect_err("not ca");
    assert!(err.to_string().contains("not a CA certificate"), "{err}");
}

#[test]
fn ca_rotation_goes_through_three_stages_without_breaking_trust() {
    let c = cluster("");
    let v0 = generated(&c);
    let old_ca = cert(&v0, "ca.pem");

    let (s1, stage) = reconcile::rotate_ca(&c, &v0, &opts(now())).expect("stage 1");
    assert_eq!(stage, CaStage::TrustAdded);
    let bundle = pki::parse_certificates(std::str::from_utf8(&s1.files["ca.pem"]).expect("utf8"))
        .expect("bundle");
    assert_eq!(bundle.len(), 2);
    assert_eq!(bundle[0], old_ca);
    // Only the bundle and the staged key changed; leaves are still the old CA's.
    let ch: Vec<String> = changed(&s1).into_iter().map(|(f, _)| f).collect();
    assert_eq!(ch, vec!["ca.pem", "ca-next-key.pem"]);
    assert_eq!(s1.files["admin.pem"], v0["admin.pem"]);
    // A plain re-render in the middle of the rotation keeps everything.
    let mid = reconcile::reconcile(&c, &s1.files, CaSource::Existing, &opts(now())).expect("mid");
    assert_eq!(changed(&mid), vec![]);

    let (s2, stage) = reconcile::rotate_ca(&c, &s1.files, &opts(now())).expect("stage 2");
    assert_eq!(stage, CaStage::SigningSwitched);
    assert!(!s2.files.contains_key("ca-next-key.pem"));
    let bundle2 = pki::parse_certificates(std::str::from_utf8(&s2.files["ca.pem"]).expect("utf8"))
        .expect("bundle");
    assert!(
        bundle2 == vec![bundle[1].clone(), bundle[0].clone()],
        "both CAs still trusted, the signing one first"
    );
    for spec in kubeline_core::credentials::leaf_certificates(&c) {
        let leaf = cert(&s2.files, &format!("{}.pem", spec.name));
        if spec.issuer != Authority::Cluster {
            // The etcd and front-proxy CAs are not part of the cluster CA rotation.
            assert_eq!(
                s2.files[&format!("{}.pem", spec.name)],
                v0[&format!("{}.pem", spec.name)],
                "{}",
                spec.name
            );
            continue;
        }
        assert!(leaf.issued_by(&bundle[1]), "{}", spec.name);
        let key = format!("{}-key.pem", spec.name);
        assert_eq!(s2.files[&key], v0[&key], "keys are kept");
    }

    let (s3, stage) = reconcile::rotate_ca(&c, &s2.files, &opts(now())).expect("stage 3");
    assert_eq!(stage, CaStage::OldRemoved);
    let bundle3 = pki::parse_certificates(std::str::from_utf8(&s3.files["ca.pem"]).expect("utf8"))
        .expect("bundle");
    assert_eq!(bundle3, vec![bundle[1].clone()]);
    let ch: Vec<String> = changed(&s3).into_iter().map(|(f, _)| f).collect();
    assert_eq!(ch, vec!["ca.pem"]);

    // Stage 3 refuses while a certificate still comes from the old CA.
    let mut stale = s2.files.clone();
    stale.insert("admin.pem".into(), v0["admin.pem"].clone());
    let err = reconcile::rotate_ca(&c, &stale, &opts(now())).expect_err("stale");
    assert!(err.to_string().starts_with("admin.pem: "), "{err}");
}

#[test]
fn secrets_are_classified() {
    for s in [
        "ca-key.pem",
        "apiserver-key.pem",
        "service-account-key.pem",
        "tokens.csv",
        "kubelet-tls-bootstrap-token",
        "encryption-config.yaml",
    ] {
        assert!(reconcile::is_secret(s), "{s}");
    }
    for p in ["ca.pem", "apiserver.pem", "service-account-pub.pem"] {
        assert!(!reconcile::is_secret(p), "{p}");
    }
}

#[test]
fn the_earliest_certificate_is_found_across_leaves_and_bundles() {
    let c = cluster("tlsCertDurationDays: 20\n");
    let files = generated(&c);
    let (file, cert) = reconcile::earliest_certificate(&files).expect("certificates");
    assert!(file.ends_with(".pem") && file != "ca.pem", "{file}");
    assert_eq!(cert.days_left(now()), 20);
    // Secrets and public keys are not certificates.
    let only_keys: Files = files
        .into_iter()
        .filter(|(n, _)| n.ends_with("-key.pem") || n.ends_with("-pub.pem"))
        .collect();
    assert!(reconcile::earliest_certificate(&only_keys).is_none());
}

#[test]
fn etcd_and_the_front_proxy_have_their_own_cas() {
    let c = cluster("");
    let files = generated(&c);
    let ca = cert(&files, "ca.pem");
    let etcd_ca = cert(&files, "etcd-ca.pem");
    let fp_ca = cert(&files, "front-proxy-ca.pem");
    assert_eq!(
        [reconcile::ETCD_CA_CERT, reconcile::ETCD_CA_KEY],
        [Authority::Etcd.cert_file(), Authority::Etcd.key_file()]
    );
    assert_eq!(
        [
            reconcile::FRONT_PROXY_CA_CERT,
            reconcile::FRONT_PROXY_CA_KEY
        ],
        [
            Authority::FrontProxy.cert_file(),
            Authority::FrontProxy.key_file()
        ]
    );
    for (ca_cert, cn) in [(&etcd_ca, "etcd-ca"), (&fp_ca, "front-proxy-ca")] {
        assert!(ca_cert.is_ca);
        assert_eq!(ca_cert.common_name.as_deref(), Some(cn));
        assert_eq!(ca_cert.issuer, ca_cert.subject, "self-signed");
        assert_ne!(ca_cert.spki, ca.spki, "a key of its own");
    }
    let cas = [
        (Authority::Cluster, &ca),
        (Authority::Etcd, &etcd_ca),
        (Authority::FrontProxy, &fp_ca),
    ];
    let designated = |name: &str| match name {
        "etcd" | "etcd-client" => Authority::Etcd,
        "apiserver-aggregator" => Authority::FrontProxy,
        _ => Authority::Cluster,
    };
    for spec in leaf_certificates(&c) {
        assert_eq!(spec.issuer, designated(spec.name), "{}", spec.name);
        let leaf = cert(&files, &format!("{}.pem", spec.name));
        // Parsed back from the DER: the issuer name and signature are the designated CA's, and
        // no other CA's.
        for (a, ca_cert) in cas {
            assert_eq!(
                leaf.issued_by(ca_cert),
                a == spec.issuer,
                "{} against {}",
                spec.name,
                a.cert_file()
            );
        }
        let (_, x) = x509_parser::parse_x509_certificate(&leaf.der).expect("x509");
        let cn = x
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .map(str::to_owned);
        assert_eq!(
            cn.as_deref(),
            Some(spec.issuer.common_name()),
            "{}",
            spec.name
        );
    }
    // No node ever receives the etcd or front-proxy CA key; only controllers hold the etcd
    // client certificate; etcd members trust the etcd CA, not the cluster CA.
    use kubeline_core::layout::{NodeRole, node_credentials};
    for role in [NodeRole::Controller, NodeRole::Etcd, NodeRole::Worker] {
        let creds = node_credentials(role);
        let all: Vec<&str> = creds.public.iter().chain(&creds.secret).copied().collect();
        for key in ["etcd-ca-key.pem", "front-proxy-ca-key.pem"] {
            assert!(!all.contains(&key), "{role:?} gets {key}");
        }
        assert_eq!(
            all.contains(&"etcd-client-key.pem"),
            role == NodeRole::Controller,
            "{role:?}"
        );
    }
    let etcd = node_credentials(NodeRole::Etcd);
    assert_eq!(etcd.public, vec!["etcd-ca.pem", "etcd.pem"]);
    assert_eq!(etcd.secret, vec!["etcd-key.pem"]);
    // `show certificates` lists the three CAs first.
    let rows = reconcile::certificates(&c, &files);
    let files_of: Vec<&str> = rows.iter().take(3).map(|r| r.file.as_str()).collect();
    assert_eq!(files_of, ["ca.pem", "etcd-ca.pem", "front-proxy-ca.pem"]);
    assert!(rows.iter().all(|r| r.cert.is_ok()));
}

/// A set made before the etcd and front-proxy CAs existed: every certificate from the cluster CA.
fn before_own_cas(c: &Cluster) -> Files {
    let mut files = generated(c);
    for name in [
        "etcd-ca.pem",
        "etcd-ca-key.pem",
        "front-proxy-ca.pem",
        "front-proxy-ca-key.pem",
    ] {
        files.remove(name);
    }
    let ca = pki::Signer {
        cert: cert(&files, "ca.pem"),
        key: Key::from_pem(
            std::str::from_utf8(&files["ca-key.pem"]).expect("utf8"),
            None,
        )
        .expect("ca key"),
    };
    for spec in leaf_certificates(c) {
        if spec.issuer == Authority::Cluster {
            continue;
        }
        let key = Key::from_pem(
            std::str::from_utf8(&files[&format!("{}-key.pem", spec.name)]).expect("utf8"),
            None,
        )
        .expect("key");
        let pem = pki::issue(&spec, &key, &ca, now()).expect("issue");
        files.insert(format!("{}.pem", spec.name), pem.into_bytes());
    }
    files
}

#[test]
fn an_existing_set_migrates_its_etcd_and_front_proxy_certificates_to_their_cas() {
    let c = cluster("");
    let old = before_own_cas(&c);
    let ca = cert(&old, "ca.pem");
    assert!(cert(&old, "etcd.pem").issued_by(&ca), "the old layout");

    // A plain `render credentials` (no --generate-ca) migrates.
    let later = now() + Duration::days(1);
    let out = reconcile::reconcile(&c, &old, CaSource::Existing, &opts(later)).expect("migrate");
    let mut ch: Vec<String> = changed(&out).into_iter().map(|(f, _)| f).collect();
    ch.sort();
    assert_eq!(
        ch,
        [
            "apiserver-aggregator.pem",
            "etcd-ca-key.pem",
            "etcd-ca.pem",
            "etcd-client.pem",
            "etcd.pem",
            "front-proxy-ca-key.pem",
            "front-proxy-ca.pem",
        ]
    );
    for (file, change) in changed(&out) {
        if file.ends_with("-ca.pem") || file.ends_with("-ca-key.pem") {
            assert_eq!(change, Change::Created, "{file}");
        } else {
            assert!(
                matches!(&change, Change::Replaced(r) if r.starts_with("not issued by the ")),
                "{file}: {change:?}"
            );
        }
    }
    let etcd_ca = cert(&out.files, "etcd-ca.pem");
    let fp_ca = cert(&out.files, "front-proxy-ca.pem");
    for name in ["etcd.pem", "etcd-client.pem"] {
        assert!(cert(&out.files, name).issued_by(&etcd_ca), "{name}");
        assert!(!cert(&out.files, name).issued_by(&ca), "{name}");
    }
    assert!(cert(&out.files, "apiserver-aggregator.pem").issued_by(&fp_ca));
    // Keys are kept; everything else is byte-identical.
    for (name, bytes) in &old {
        if !ch.contains(name) {
            assert_eq!(&out.files[name], bytes, "{name} changed");
        }
    }
    // And the migrated set is stable.
    let again =
        reconcile::reconcile(&c, &out.files, CaSource::Existing, &opts(later)).expect("rerun");
    assert_eq!(changed(&again), vec![]);
}

#[test]
fn a_half_present_etcd_ca_is_refused_and_an_expiring_one_is_reported() {
    let c = cluster("");
    let files = generated(&c);
    for (drop, other) in [
        ("etcd-ca-key.pem", "etcd-ca.pem"),
        ("etcd-ca.pem", "etcd-ca-key.pem"),
    ] {
        let mut bad = files.clone();
        bad.remove(drop);
        let err = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now()))
            .expect_err("half a CA");
        assert!(err.to_string().starts_with(&format!("{drop}: ")), "{err}");
        assert!(err.fix().contains(other), "{}", err.fix());
    }
    // A foreign key next to etcd-ca.pem is refused too.
    let mut bad = files.clone();
    let stranger = Key::generate(Default::default()).expect("key");
    bad.insert("etcd-ca-key.pem".into(), stranger.pem.into_bytes());
    let err = reconcile::reconcile(&c, &bad, CaSource::Existing, &opts(now())).expect_err("key");
    assert!(err.to_string().contains("does not belong"), "{err}");

    // Within the renewal window of the CAs' lifetime (tlsCADurationDays), the report names the
    // etcd and front-proxy CAs as well.
    let c = cluster(
        "tlsCADurationDays: 400
tlsCertDurationDays: 365
",
    );
    let files = generated(&c);
    let at = now() + Duration::days(380);
    let out = reconcile::reconcile(&c, &files, CaSource::Existing, &opts(at)).expect("rerun");
    for file in ["etcd-ca.pem", "front-proxy-ca.pem"] {
        assert!(
            out.notes
                .iter()
                .any(|n| n.starts_with(&format!("{file} ")) && n.contains("expires in 20 days")),
            "{file}: {:?}",
            out.notes
        );
    }
}
