//! The KMS adapter and the sealed store against moto's KMS on 127.0.0.1: a whole credential
//! set sealed and opened again, unchanged secrets keeping their ciphertext, the encryption
//! context enforced by KMS itself.

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use kubeline_aws::kms::{AwsKms, Kms};
use kubeline_aws::sealed;
use kubeline_core::envelope::{Context, Envelope};
use kubeline_core::reconcile::{self, Files};
use kubeline_tests::{Moto, generated_credentials, render_example, repo_root};

fn client(endpoint: &str) -> aws_sdk_kms::Client {
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .build();
    aws_sdk_kms::Client::from_conf(conf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seal_and_open_a_credential_set_with_moto_kms() {
    let moto = Moto::start();
    let raw = client(&moto.endpoint);
    let key = raw
        .create_key()
        .description("kubeline test")
        .send()
        .await
        .expect("create key")
        .key_metadata
        .and_then(|m| m.arn)
        .expect("key arn");
    let kms = AwsKms::new(raw.clone());

    let (cluster, _) = render_example(&repo_root().join("examples/ha/cluster.yaml")).expect("ha");
    let plain = generated_credentials(&cluster);
    let name = cluster.name.to_string();
    let stored = sealed::seal(&kms, &key, &name, &plain, &Files::new())
        .await
        .expect("seal");
    let secrets = plain.keys().filter(|n| reconcile::is_secret(n)).count();
    // Three CA keys, eight leaf keys, the service-account key, tokens, bootstrap token,
    // encryption config.
    assert_eq!(secrets, 15);
    assert_eq!(
        stored.keys().filter(|n| n.ends_with(".enc")).count(),
        secrets
    );
    for (n, bytes) in &stored {
        for (p, secret) in plain.iter().filter(|(p, _)| reconcile::is_secret(p)) {
            let needle = &secret[..secret.len().min(40)];
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{n} contains the plaintext of {p}"
            );
        }
    }
    let opened = sealed::open(&kms, &name, &stored).await.expect("open");
    assert_eq!(opened, plain);

    let again = sealed::seal(&kms, &key, &name, &plain, &stored)
        .await
        .expect("reseal");
    assert_eq!(again, stored, "unchanged secrets keep their ciphertext");

    // KMS itself refuses a data key presented with another context.
    let env = Envelope::parse(std::str::from_utf8(&stored["etcd-key.pem.enc"]).expect("utf8"))
        .expect("envelope");
    let err = kms
        .decrypt(
            &key,
            &env.data_key,
            &Context::new(name.as_str(), "admin-key.pem"),
        )
        .await
        .expect_err("wrong context");
    assert_eq!(err.name().as_str(), "KmsInvalidCiphertext", "{err}");

    // (A disabled key is not tested here: moto 5.2.5 still answers GenerateDataKey for a
    // disabled key, measured; the smithy-mocks tests of the adapter cover DisabledException.)
}
