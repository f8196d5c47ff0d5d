//! The networks adapter against aws-smithy-mocks: one paginated `GetResources` per giving tag,
//! filtered by that tag and by the network resource types; only the asked ids answered, with
//! all their tags; no call without ids; throttling, a denied call and the service's internal
//! error mapped to their errors.

use std::time::Duration;

use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::config::retry::RetryConfig;
use aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesOutput;
use aws_sdk_resourcegroupstagging::types::{ResourceTagMapping, Tag};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use kubeline_aws::error::AwsError;
use kubeline_aws::networks::{Networks, Tagging};

/// The network resource types, spelled as in their ARNs (the Service Authorization Reference's
/// EC2 resource types: `vpc/${VpcId}`, `subnet/`, `security-group/`, `internet-gateway/`,
/// `route-table/`, `natgateway/`, `elastic-ip/${AllocationId}`), written out here so a typo in
/// the adapter's list fails this test.
const TYPES: [&str; 7] = [
    "ec2:vpc",
    "ec2:subnet",
    "ec2:security-group",
    "ec2:internet-gateway",
    "ec2:route-table",
    "ec2:natgateway",
    "ec2:elastic-ip",
];

fn arn(kind: &str, id: &str) -> String {
    format!("arn:aws:ec2:eu-west-1:123456789012:{kind}/{id}")
}

fn mapping(arn: &str, tags: &[(&str, &str)]) -> ResourceTagMapping {
    let tags = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(*k).value(*v).build().expect("tag"));
    ResourceTagMapping::builder()
        .resource_arn(arn)
        .set_tags(Some(tags.collect()))
        .build()
}

fn page(mappings: Vec<ResourceTagMapping>, token: &str) -> GetResourcesOutput {
    GetResourcesOutput::builder()
        .set_resource_tag_mapping_list(Some(mappings))
        .pagination_token(token)
        .build()
}

fn client(rules: &[&Rule]) -> Tagging {
    let client: Client = match rules {
        [a] => mock_client!(
            aws_sdk_resourcegroupstagging,
            RuleMode::MatchAny,
            [*a],
            |c| c.retry_config(fast_retries())
        ),
        [a, b, c] => mock_client!(
            aws_sdk_resourcegroupstagging,
            RuleMode::MatchAny,
            [*a, *b, *c],
            |c| c.retry_config(fast_retries())
        ),
        _ => unreachable!("tests use one or three rules"),
    };
    Tagging::new(client)
}

fn fast_retries() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
}

fn wanted() -> Vec<(String, String)> {
    vec![
        ("kubeline.io/cluster".into(), "demo".into()),
        ("kubeline.io/tenant".into(), "payments".into()),
    ]
}

fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether `r` asks for resources of the network types tagged `key=value`, on page `token`.
fn asks(
    r: &aws_sdk_resourcegroupstagging::operation::get_resources::GetResourcesInput,
    key: &str,
    value: &str,
    token: Option<&str>,
) -> bool {
    let filters = r.tag_filters();
    filters.len() == 1
        && filters[0].key() == Some(key)
        && filters[0].values() == [value.to_owned()]
        && r.resource_type_filters() == TYPES.map(str::to_owned)
        && r.resource_arn_list().is_empty()
        && r.pagination_token().filter(|t| !t.is_empty()) == token
}

#[tokio::test]
async fn each_giving_tag_is_asked_page_by_page_and_only_the_asked_ids_are_answered() {
    let first = mock!(Client::get_resources)
        .match_requests(|r| asks(r, "kubeline.io/cluster", "demo", None))
        .then_output(|| {
            page(
                vec![
                    mapping(
                        &arn("vpc", "vpc-1"),
                        &[("kubeline.io/cluster", "demo"), ("Name", "core")],
                    ),
                    // Another of the cluster's subnets: not asked, not answered.
                    mapping(
                        &arn("subnet", "subnet-9"),
                        &[("kubeline.io/cluster", "demo")],
                    ),
                ],
                "page-2",
            )
        });
    let second = mock!(Client::get_resources)
        .match_requests(|r| asks(r, "kubeline.io/cluster", "demo", Some("page-2")))
        .then_output(|| {
            page(
                vec![mapping(
                    &arn("security-group", "sg-1"),
                    &[("kubeline.io/cluster", "demo")],
                )],
                "",
            )
        });
    let tenant = mock!(Client::get_resources)
        .match_requests(|r| asks(r, "kubeline.io/tenant", "payments", None))
        .then_output(|| {
            page(
                vec![mapping(
                    &arn("subnet", "subnet-1"),
                    &[("kubeline.io/tenant", "payments")],
                )],
                "",
            )
        });
    let net = client(&[&first, &second, &tenant]);
    let got = net
        .tags_of(&ids(&["vpc-1", "subnet-1", "sg-1", "igw-7"]), &wanted())
        .await
        .expect("tags");
    assert_eq!(
        got.keys().map(String::as_str).collect::<Vec<_>>(),
        ["sg-1", "subnet-1", "vpc-1"],
        "igw-7 (not tagged for the cluster) and subnet-9 (not asked) have no entry"
    );
    assert_eq!(got["vpc-1"]["Name"], "core", "every tag of the resource");
    assert_eq!(got["subnet-1"]["kubeline.io/tenant"], "payments");
    assert_eq!(
        (first.num_calls(), second.num_calls(), tenant.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn no_ids_make_no_call() {
    let rule = mock!(Client::get_resources).then_output(|| page(Vec::new(), ""));
    let net = client(&[&rule]);
    assert!(net.tags_of(&[], &wanted()).await.expect("tags").is_empty());
    assert_eq!(rule.num_calls(), 0);
}

#[tokio::test]
async fn throttling_denial_and_internal_errors_keep_their_kinds() {
    // (HTTP status, error code, how the error is classified, the SDK's attempts)
    type Case = (u16, &'static str, fn(&AwsError) -> bool, usize);
    let cases: [Case; 3] = [
        (
            400,
            "ThrottledException",
            |e| matches!(e, AwsError::Throttled { .. }),
            3,
        ),
        // A denial is not retried.
        (
            400,
            "AccessDeniedException",
            |e| matches!(e, AwsError::AccessDenied { .. }),
            1,
        ),
        // The Tagging API's own 500 is transient, for the state machine to retry too.
        (
            500,
            "InternalServiceException",
            |e| matches!(e, AwsError::Unavailable { .. }),
            3,
        ),
    ];
    for (status, code, is, attempts) in cases {
        let rule = mock!(Client::get_resources)
            .sequence()
            .http_status(
                status,
                Some(format!(
                    r#"{{"__type":"{code}","Message":"from the mock"}}"#
                )),
            )
            .repeatedly()
            .build();
        let net = client(&[&rule]);
        let err = net
            .tags_of(&ids(&["vpc-1"]), &wanted())
            .await
            .expect_err(code);
        assert!(is(&err), "{code}: {err:?}");
        assert_eq!(rule.num_calls(), attempts, "{code}");
    }
}
