//! The caps validation puts on a cluster's size, in line with AWS account quotas and the
//! scale Kubernetes supports (docs/quotas.md has the table and the reasons).

/// Node pools per cluster. Each pool is one CloudFormation stack, one IAM role and one
/// instance profile: 100 pools make 103 stacks and 102 roles, so ten such clusters stay
/// within an account's default 1,000 IAM roles.
pub const MAX_NODE_POOLS: usize = 100;

/// Instances per Auto Scaling group (controllers and each pool): the largest `count` or
/// `maxSize`.
pub const MAX_GROUP_SIZE: u32 = 1000;

/// Nodes per cluster, summed over the pools' `maxSize`: Kubernetes supports up to 5,000
/// (<https://kubernetes.io/docs/setup/best-practices/cluster-large/>).
pub const MAX_CLUSTER_NODES: u64 = 5000;

/// Service accounts with IAM roles per cluster (`serviceAccounts`): each is one IAM role in the
/// control-plane stack, which with the add-ons' four keeps a cluster's roles well inside an
/// account's default 1,000.
pub const MAX_SERVICE_ACCOUNTS: usize = 50;
