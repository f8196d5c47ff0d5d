//! Validated newtypes: a value of these types has passed its checks, so later code need not re-check.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::arn::{ArnFields, is_account_id};
use ipnet::Ipv4Net;
use serde::Serialize;

/// Why a value was rejected; the text completes "X is invalid: ...".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct Invalid {
    /// What is wrong.
    pub reason: String,
    /// How to fix it.
    pub hint: String,
}

fn invalid(reason: impl Into<String>, hint: impl Into<String>) -> Invalid {
    Invalid {
        reason: reason.into(),
        hint: hint.into(),
    }
}

/// Is `s` a DNS label: 1-63 of `a-z0-9-`, starting with a letter, not ending with `-`?
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Is `s` an API endpoint name: 1-63 ASCII letters, digits and `-`, starting with a letter,
/// not ending with `-` (a DNS label, or kube-aws's camelCase names such as `versionedPublic`;
/// it becomes part of a load balancer name and CloudFormation logical IDs, which take both).
pub fn is_endpoint_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with('-')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A cluster name: a DNS label of at most [`ClusterName::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ClusterName(String);

impl ClusterName {
    /// Longest name such that `<name>-controller-plane`-style derived names fit AWS limits
    /// (ELB names of 32 characters leave room for `-` and a short endpoint name).
    pub const MAX_LEN: usize = 24;
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClusterName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        if s.contains('.') {
            return Err(invalid(
                format!("{s:?} contains a dot"),
                "use a DNS label such as `prod-eu1` (letters, digits and hyphens only)",
            ));
        }
        if !is_dns_label(s) {
            return Err(invalid(
                format!("{s:?} is not a DNS label"),
                "start with a lower-case letter and use only a-z, 0-9 and '-', not ending in '-'",
            ));
        }
        if s.len() > Self::MAX_LEN {
            return Err(invalid(
                format!(
                    "{s:?} has {} characters; at most {} fit every derived AWS name \
                     (ELB names are limited to 32, IAM roles to 64)",
                    s.len(),
                    Self::MAX_LEN
                ),
                "choose a shorter name",
            ));
        }
        Ok(ClusterName(s.to_owned()))
    }
}

impl fmt::Display for ClusterName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4 CIDR block in canonical form (host bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr(Ipv4Net);

impl Cidr {
    /// The network.
    pub fn net(&self) -> Ipv4Net {
        self.0
    }
    /// Does this block contain all of `other`?
    pub fn contains(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0)
    }
    /// Does this block share any address with `other`?
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.0.contains(&other.0.network()) || other.0.contains(&self.0.network())
    }
    /// Does this block contain `ip`?
    pub fn contains_ip(&self, ip: Ipv4Addr) -> bool {
        self.0.contains(&ip)
    }
    /// The `n`th address of the block (0 = network address), if inside it.
    pub fn nth(&self, n: u32) -> Option<Ipv4Addr> {
        let base = u32::from(self.0.network());
        let size = 1u64 << (32 - u32::from(self.0.prefix_len()));
        if u64::from(n) < size {
            Some(Ipv4Addr::from(base.wrapping_add(n)))
        } else {
            None
        }
    }
    /// Number of addresses.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.0.prefix_len()))
    }
}

impl FromStr for Cidr {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let net: Ipv4Net = s.parse().map_err(|_| {
            invalid(
                format!("{s:?} is not an IPv4 CIDR"),
                "write it as ADDRESS/PREFIX, e.g. 10.0.0.0/16",
            )
        })?;
        if net.network() != net.addr() {
            return Err(invalid(
                format!("{s:?} has host bits set"),
                format!("use {}", net.trunc()),
            ));
        }
        Ok(Cidr(net))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An AWS region name such as `eu-west-1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Region(String);

impl Region {
    /// The region as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The ARN partition of the region ([`partition_of`]).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.0)
    }
}

/// The ARN partition of a region name: `aws-cn` for `cn-*`, `aws-us-gov` for `us-gov-*`, else
/// `aws`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl FromStr for Region {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        // <area>-<direction>-<n>, e.g. us-east-1, ap-southeast-2, us-gov-west-1, cn-north-1.
        let parts: Vec<&str> = s.split('-').collect();
        let ok = parts.len() >= 3
            && parts.iter().all(|p| !p.is_empty())
            && parts[..parts.len() - 1]
                .iter()
                .all(|p| p.chars().all(|c| c.is_ascii_lowercase()))
            && parts[parts.len() - 1].chars().all(|c| c.is_ascii_digit());
        if ok {
            Ok(Region(s.to_owned()))
        } else {
            Err(invalid(
                format!("{s:?} is not an AWS region name"),
                "use a region such as us-east-1 or eu-west-1",
            ))
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An availability zone of a known region, e.g. `eu-west-1a` or `us-west-2-lax-1a`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AvailabilityZone(String);

impl AvailabilityZone {
    /// Parses `s` as a zone of `region`.
    pub fn parse_in(s: &str, region: &Region) -> Result<Self, Invalid> {
        let rest = s.strip_prefix(region.as_str()).ok_or_else(|| {
            invalid(
                format!("{s:?} is not in region {region}"),
                format!("use a zone of {region}, e.g. {region}a"),
            )
        })?;
        let plain = rest.len() == 1 && rest.chars().all(|c| c.is_ascii_lowercase());
        let local = rest.starts_with('-')
            && rest.len() > 2
            && rest[1..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && rest.ends_with(|c: char| c.is_ascii_lowercase());
        if plain || local {
            Ok(AvailabilityZone(s.to_owned()))
        } else {
            Err(invalid(
                format!("{s:?} is not an availability zone name"),
                format!("use a zone of {region}, e.g. {region}a"),
            ))
        }
    }
    /// The zone as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AvailabilityZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An S3 location `s3://bucket[/prefix]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct S3Uri {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
}

impl S3Uri {
    /// `prefix/` followed by `rest`, or `rest` alone when the prefix is empty.
    pub fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

impl FromStr for S3Uri {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| {
            invalid(
                format!("{s:?} does not start with s3://"),
                "write it as s3://BUCKET or s3://BUCKET/PREFIX",
            )
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket)?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.contains("//") || prefix.starts_with('/') {
            return Err(invalid(
                format!("{s:?} has an empty path segment"),
                "remove the doubled '/'",
            ));
        }
        // The prefix reaches node scripts, systemd units and IAM `Fn::Sub` strings: only
        // characters that mean nothing to any of them (S3's "safe characters").
        if let Some(bad) = prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/._-".contains(*c)))
        {
            return Err(invalid(
                format!("{s:?} has {bad:?} in its prefix"),
                "use only letters, digits and / . _ - in the prefix",
            ));
        }
        if prefix.split('/').any(|seg| seg == "." || seg == "..") {
            return Err(invalid(
                format!("{s:?} has a `.` or `..` path segment"),
                "name the prefix's folders plainly",
            ));
        }
        Ok(S3Uri {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

fn check_bucket(b: &str) -> Result<(), Invalid> {
    let hint = "bucket names have 3-63 characters of a-z, 0-9, '.' and '-', \
                start and end with a letter or digit, and are not IP addresses";
    let ok = (3..=63).contains(&b.len())
        && b.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && b.starts_with(|c: char| c.is_ascii_alphanumeric())
        && b.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !b.contains("..")
        && !b.contains(".-")
        && !b.contains("-.")
        && b.parse::<Ipv4Addr>().is_err()
        && !b.starts_with("xn--")
        && !b.ends_with("-s3alias");
    if ok {
        Ok(())
    } else {
        Err(invalid(
            format!("{b:?} is not a valid S3 bucket name"),
            hint,
        ))
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.prefix.is_empty() {
            write!(f, "s3://{}", self.bucket)
        } else {
            write!(f, "s3://{}/{}", self.bucket, self.prefix)
        }
    }
}

/// A KMS key ARN `arn:<partition>:kms:<region>:<account>:key/<id>` (or `alias/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct KmsKeyArn(String);

impl KmsKeyArn {
    /// Parses `s` and checks it belongs to `region`.
    pub fn parse_in(s: &str, region: &Region) -> Result<Self, Invalid> {
        let hint = "write it as arn:aws:kms:REGION:ACCOUNT:key/KEY-ID";
        let Some(f) = ArnFields::split(s).filter(|f| f.scheme == "arn" && f.service == "kms")
        else {
            return Err(invalid(format!("{s:?} is not a KMS key ARN"), hint));
        };
        if !f.known_partition() {
            return Err(invalid(
                format!("unknown partition {:?}", f.partition),
                hint,
            ));
        }
        if f.region != region.as_str() {
            return Err(invalid(
                format!(
                    "the key is in region {:?}, the cluster in {region}",
                    f.region
                ),
                format!("use a KMS key of {region}: KMS keys cannot be used across regions"),
            ));
        }
        if !is_account_id(f.account) {
            return Err(invalid(
                format!("account {:?} is not a 12-digit AWS account ID", f.account),
                hint,
            ));
        }
        let resource_ok = f
            .resource
            .strip_prefix("key/")
            .or_else(|| f.resource.strip_prefix("alias/"))
            .is_some_and(|id| {
                !id.is_empty()
                    && id
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
            });
        if !resource_ok {
            return Err(invalid(
                format!("{:?} is neither key/ID nor alias/NAME", f.resource),
                hint,
            ));
        }
        Ok(KmsKeyArn(s.to_owned()))
    }
    /// The ARN as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Its account (the ARN's fifth field, checked to be 12 digits at parse).
    pub fn account(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }
    /// The DNS suffix of AWS endpoints in its partition (`amazonaws.com`, `amazonaws.com.cn`).
    pub fn dns_suffix(&self) -> &'static str {
        match self.0.split(':').nth(1) {
            Some("aws-cn") => "amazonaws.com.cn",
            _ => "amazonaws.com",
        }
    }
}

impl fmt::Display for KmsKeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fully qualified DNS name (no trailing dot), lower-case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DnsName(String);

impl DnsName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DnsName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let name = s.strip_suffix('.').unwrap_or(s);
        let labels: Vec<&str> = name.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) {
            return Err(invalid(
                format!("{s:?} is not a fully qualified DNS name"),
                "use lower-case labels of a-z, 0-9 and '-' joined by dots, e.g. api.example.com",
            ));
        }
        if labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit()))
        {
            return Err(invalid(
                format!("{s:?} looks like an IP address"),
                "put IP addresses in customApiServerSettings.additionalIPAddressSans",
            ));
        }
        Ok(DnsName(name.to_owned()))
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An AWS resource ID with a given prefix (`vpc-`, `subnet-`, `rtb-`, `igw-`, `nat-`, `ami-`).
pub fn check_aws_id(s: &str, prefix: &str) -> Result<(), Invalid> {
    let hex = s.strip_prefix(prefix).unwrap_or("");
    if (hex.len() == 8 || hex.len() == 17) && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(invalid(
            format!("{s:?} is not a {prefix}… ID"),
            format!("use an ID like {prefix}0123456789abcdef0"),
        ))
    }
}

/// A Kubernetes version `MAJOR.MINOR.PATCH` (a leading `v` is accepted and dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    /// Major version (1).
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl KubeVersion {
    /// Oldest supported minor version.
    pub const MIN_MINOR: u32 = 31;
    /// Newest supported minor version.
    pub const MAX_MINOR: u32 = 35;
}

impl FromStr for KubeVersion {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<Self, Invalid> {
        let t = s.strip_prefix('v').unwrap_or(s);
        let nums: Vec<Option<u32>> = t.split('.').map(|p| p.parse().ok()).collect();
        let v = match nums.as_slice() {
            [Some(a), Some(b), Some(c)] => KubeVersion {
                major: *a,
                minor: *b,
                patch: *c,
            },
            _ => {
                return Err(invalid(
                    format!("{s:?} is not a version MAJOR.MINOR.PATCH"),
                    "write a full release such as 1.34.2",
                ));
            }
        };
        if v.major != 1 || !(Self::MIN_MINOR..=Self::MAX_MINOR).contains(&v.minor) {
            return Err(invalid(
                format!("Kubernetes {v} is not supported"),
                format!("use 1.{}.x to 1.{}.x", Self::MIN_MINOR, Self::MAX_MINOR),
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for KubeVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules() {
        let vpc: Cidr = "10.0.0.0/16".parse().expect("valid");
        let sub: Cidr = "10.0.1.0/24".parse().expect("valid");
        assert!(vpc.contains(&sub));
        assert!(vpc.overlaps(&sub) && sub.overlaps(&vpc));
        assert!(!sub.overlaps(&"10.0.2.0/24".parse().expect("valid")));
        assert_eq!(sub.nth(10), Some(Ipv4Addr::new(10, 0, 1, 10)));
        assert_eq!(sub.nth(256), None);
        assert!("10.0.1.1/24".parse::<Cidr>().is_err());
        assert!("10.0.1.0/33".parse::<Cidr>().is_err());
    }

    #[test]
    fn names() {
        assert!("prod-eu1".parse::<ClusterName>().is_ok());
        assert!("prod.eu1".parse::<ClusterName>().is_err());
        assert!("Prod".parse::<ClusterName>().is_err());
        assert!("a".repeat(25).parse::<ClusterName>().is_err());
        let r: Region = "eu-west-1".parse().expect("valid");
        assert!(AvailabilityZone::parse_in("eu-west-1a", &r).is_ok());
        assert!(
            AvailabilityZone::parse_in("us-west-2-lax-1a", &"us-west-2".parse().expect("valid"))
                .is_ok()
        );
        assert!(AvailabilityZone::parse_in("us-east-1a", &r).is_err());
        assert!(
            KmsKeyArn::parse_in("arn:aws:kms:eu-west-1:123456789012:key/abcd-1234", &r).is_ok()
        );
        assert!(KmsKeyArn::parse_in("arn:aws:kms:us-east-1:123456789012:key/abcd", &r).is_err());
        let s: S3Uri = "s3://my-bucket/some/prefix/".parse().expect("valid");
        assert_eq!(
            (s.bucket.as_str(), s.prefix.as_str()),
            ("my-bucket", "some/prefix")
        );
        assert!("s3://My_Bucket".parse::<S3Uri>().is_err());
        // Prefixes reach shell scripts and Fn::Sub strings: nothing that means anything there.
        for bad in [
            "s3://my-bucket/a b",
            "s3://my-bucket/$(id)",
            "s3://my-bucket/a'b",
            "s3://my-bucket/${AWS::Region}",
            "s3://my-bucket/a;b",
            "s3://my-bucket/../x",
            "s3://my-bucket/a/./b",
        ] {
            assert!(bad.parse::<S3Uri>().is_err(), "{bad}");
        }
        assert!("s3://my-bucket/team_a/v1.2-x".parse::<S3Uri>().is_ok());
        assert!("api.example.com".parse::<DnsName>().is_ok());
        assert!("10.0.0.1".parse::<DnsName>().is_err());
        assert!("localhost".parse::<DnsName>().is_err());
    }
}
