//! The fields of an ARN (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`), split once for every
//! validator of an ARN-valued key; each caller checks the fields its key needs, in its own words.

/// The partitions kubeline deploys to.
pub const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];

/// An ARN's six fields, borrowed from the text. Nothing is checked but their number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnFields<'a> {
    /// The first field: `arn` in an ARN.
    pub scheme: &'a str,
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: &'a str,
    /// `iam`, `kms`, `elasticloadbalancing`, ...
    pub service: &'a str,
    /// Empty for global services such as IAM.
    pub region: &'a str,
    /// The 12-digit account (or `aws` for AWS managed IAM policies).
    pub account: &'a str,
    /// Everything after the fifth colon (`policy/NAME`, `key/ID`, ...).
    pub resource: &'a str,
}

impl<'a> ArnFields<'a> {
    /// Splits `arn` at its first five colons; `None` when it has fewer than six fields.
    pub fn split(arn: &'a str) -> Option<Self> {
        let mut it = arn.splitn(6, ':');
        Some(ArnFields {
            scheme: it.next()?,
            partition: it.next()?,
            service: it.next()?,
            region: it.next()?,
            account: it.next()?,
            resource: it.next()?,
        })
    }

    /// Whether it starts `arn:` and names one of kubeline's partitions.
    pub fn known_partition(&self) -> bool {
        self.scheme == "arn" && PARTITIONS.contains(&self.partition)
    }
}

/// Whether `account` is an AWS account ID: exactly 12 digits.
pub fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

/// IAM's characters of role, instance profile and policy names (and of path segments):
/// letters, digits and `+=,.@_-`; never empty.
pub fn iam_name_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_six_fields_and_keeps_colons_in_the_resource() {
        let f = ArnFields::split("arn:aws:iam::123456789012:policy/a:b").expect("six fields");
        assert_eq!(
            (
                f.scheme,
                f.partition,
                f.service,
                f.region,
                f.account,
                f.resource
            ),
            ("arn", "aws", "iam", "", "123456789012", "policy/a:b")
        );
        assert!(f.known_partition());
        assert_eq!(ArnFields::split("arn:aws:iam::123456789012"), None);
        assert!(!ArnFields::split("urn:aws:s3:::b").is_some_and(|f| f.known_partition()));
        assert!(!ArnFields::split("arn:aws-iso:s3:::b").is_some_and(|f| f.known_partition()));
    }

    #[test]
    fn account_ids_and_name_characters() {
        for (s, ok) in [
            ("123456789012", true),
            ("12345678901", false),
            ("12345678901a", false),
        ] {
            assert_eq!(is_account_id(s), ok, "{s}");
        }
        for (s, ok) in [
            ("a+=,.@_-Z9", true),
            ("", false),
            ("a b", false),
            ("a/b", false),
        ] {
            assert_eq!(iam_name_chars(s), ok, "{s}");
        }
    }
}
