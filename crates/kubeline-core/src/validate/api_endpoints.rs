//! The rules of `apiEndpoints`: the API load balancers, their DNS names and records, and the
//! internal endpoint kubeline adds for nodes when no endpoint is private, and which endpoint
//! the admin kubeconfig and the workers use (kube-aws's `adminAPIEndpointName`,
//! `worker.apiEndpointName`).

use std::collections::BTreeSet;

use super::{Ctx, MAX_SOURCE_CIDRS, root};
use crate::cluster::{ApiEndpoint, NODES_DNS_PREFIX, NODES_ENDPOINT, Subnet, logical_id};
use crate::model::ClusterConfig;
use crate::types::{ClusterName, DnsName, is_endpoint_name};
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn api_endpoints(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
    ) -> Option<Vec<ApiEndpoint>> {
        if c.api_endpoints.is_empty() {
            self.err(
                root().key("apiEndpoints"),
                "at least one API endpoint is required",
                "add `apiEndpoints: [{name: default, dnsName: api.example.com, loadBalancer: {hostedZone: {id: Z0123456789ABCDEFGHIJ}}}]`",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut seen: Vec<(usize, String)> = Vec::new();
        let mut ok = true;
        // Load balancers are named `<cluster>-<endpoint>`, and an ELB name may not begin with
        // `internal-` (CreateLoadBalancer).
        if name.is_some_and(|n| n.as_str() == "internal") {
            self.err(
                root().key("clusterName"),
                "load balancers are named `<clusterName>-<endpoint>`, and AWS refuses load balancer names that begin with `internal-`",
                "choose another cluster name, e.g. `internal-tools`",
            );
            ok = false;
        }
        for (i, e) in c.api_endpoints.iter().enumerate() {
            let p = root().key("apiEndpoints").index(i);
            if !is_endpoint_name(&e.name) {
                self.err(
                    p.key("name"),
                    format!(
                        "{:?} is not an endpoint name (letters, digits and hyphens, starting with a letter)",
                        e.name
                    ),
                    "use letters, digits and hyphens, e.g. `public` or kube-aws's `versionedPublic`",
                );
                ok = false;
            } else if let Some((j, other)) = seen.iter().find(|(_, other)| {
                other.eq_ignore_ascii_case(&e.name) || logical_id(other) == logical_id(&e.name)
            }) {
                let reason = if *other == e.name {
                    format!("endpoint name {:?} is used twice", e.name)
                } else {
                    format!(
                        "endpoint name {:?} and apiEndpoints[{j}]'s {other:?} would name the same load balancer or CloudFormation resources ({})",
                        e.name,
                        logical_id(&e.name)
                    )
                };
                self.err(p.key("name"), reason, "give every endpoint its own name");
                ok = false;
            } else {
                seen.push((i, e.name.clone()));
            }
            let dns: Option<DnsName> = self.parse(p.key("dnsName"), &e.dns_name);
            let lb = &e.load_balancer;
            let lp = p.key("loadBalancer");
            let private = lb.private;
            let idx = self.refs(lp.key("subnets"), &lb.subnets, subnets, |s| {
                s.private == private
            });
            if !private && !lb.subnets.is_empty() {
                for &s in &idx {
                    if subnets.get(s).is_some_and(|s| s.private) {
                        self.err(
                            lp.key("subnets"),
                            format!(
                                "an internet-facing load balancer cannot use private subnet {:?}",
                                subnets[s].name
                            ),
                            "use public subnets or set `private: true`",
                        );
                    }
                }
            }
            if !private && !subnets.is_empty() && !subnets.iter().any(|s| !s.private) {
                self.err(lp.key("private"), "an internet-facing load balancer needs a public subnet, and every subnet is private", "set `private: true` or add a public subnet");
            }
            let hosted_zone_id = match &lb.hosted_zone {
                Some(z) => {
                    // Route53 documents IDs only as at most 32 characters (AWS issues them
                    // with a leading Z; emulators do not).
                    let ok_id = !z.id.is_empty()
                        && z.id.len() <= 32
                        && z.id
                            .chars()
                            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                    if !ok_id {
                        self.err(
                            lp.key("hostedZone").key("id"),
                            format!("{:?} is not a Route53 hosted zone ID", z.id),
                            "use an ID like Z0123456789ABCDEFGHIJ (without /hostedzone/)",
                        );
                    }
                    Some(z.id.clone())
                }
                None => None,
            };
            let access = self.cidrs(
                lp.key("apiAccessAllowedSourceCIDRs"),
                &lb.api_access_allowed_source_cidrs,
            );
            if access.len() > MAX_SOURCE_CIDRS {
                self.err(
                    lp.key("apiAccessAllowedSourceCIDRs"),
                    format!(
                        "{} ranges; a security group holds 60 inbound rules by default",
                        access.len()
                    ),
                    format!("list at most {MAX_SOURCE_CIDRS} ranges"),
                );
            }
            if private && access.iter().any(|c| c.net().prefix_len() == 0) {
                self.warn(
                    lp.key("apiAccessAllowedSourceCIDRs"),
                    "0.0.0.0/0 on a private load balancer allows every peered network",
                    "list the networks that need the API",
                );
            }
            let lb_name = format!(
                "{}-{}",
                name.map(ClusterName::as_str).unwrap_or("x"),
                e.name
            );
            if name.is_some() && lb_name.len() > 32 {
                self.err(
                    p.key("name"),
                    format!(
                        "the load balancer name {lb_name:?} has {} characters; AWS allows 32",
                        lb_name.len()
                    ),
                    format!(
                        "shorten the endpoint name to at most {} characters",
                        32usize.saturating_sub(lb_name.len() - e.name.len())
                    ),
                );
                ok = false;
            }
            match dns {
                Some(dns_name) if ok => out.push(ApiEndpoint {
                    name: e.name.clone(),
                    logical_id: logical_id(&e.name),
                    dns_name,
                    lb_type: lb.kind,
                    private,
                    subnets: idx,
                    hosted_zone_id: if lb.record_set_managed {
                        hosted_zone_id
                    } else {
                        None
                    },
                    record_set_managed: lb.record_set_managed && lb.hosted_zone.is_some(),
                    api_access_allowed_source_cidrs: access,
                    lb_name,
                    added_for_nodes: false,
                }),
                _ => ok = false,
            }
        }
        if !c.api_endpoints.iter().any(|e| e.load_balancer.private) {
            match self.nodes_endpoint(c, name, subnets, &out, ok) {
                Some(nodes) => out.push(nodes),
                None => ok = false,
            }
        }
        let ids: BTreeSet<&str> = out.iter().map(|e| e.logical_id.as_str()).collect();
        if ids.len() != out.len() && ok {
            self.err(
                root().key("apiEndpoints"),
                "two endpoint names give the same resource ID",
                "make the names differ by more than punctuation",
            );
            return None;
        }
        ok.then_some(out)
    }

    /// The internal endpoint of the nodes, for a cluster.yaml without a private endpoint.
    ///
    /// Nodes must reach the API by private address: security-group rules that reference a
    /// security group match only traffic from private addresses, so a private worker that
    /// reaches an internet-facing load balancer through its NAT gateway (or a public one by its
    /// public address) is admitted only if `apiAccessAllowedSourceCIDRs` happens to hold that
    /// address. An internal load balancer admits the node security groups whatever the CIDRs
    /// say. Its record is `internal.<dnsName>` of the first endpoint whose record kubeline
    /// writes, in the same hosted zone; without one there is no name kubeline can give it, an
    /// error. `out` holds the resolved endpoints (all of them when `ok`). See
    /// docs/api-endpoints.md.
    fn nodes_endpoint(
        &mut self,
        c: &ClusterConfig,
        name: Option<&ClusterName>,
        subnets: &[Subnet],
        out: &[ApiEndpoint],
        ok: bool,
    ) -> Option<ApiEndpoint> {
        let eps = root().key("apiEndpoints");
        let mut good = ok;
        if let Some(i) = c
            .api_endpoints
            .iter()
            .position(|e| e.name == NODES_ENDPOINT)
        {
            self.err(
                eps.index(i).key("name"),
                format!("{NODES_ENDPOINT:?} is the name of the internal endpoint kubeline adds for nodes when no endpoint is private"),
                "rename this endpoint, or make it private (`loadBalancer.private: true`) so that nodes use it",
            );
            good = false;
        }
        let Some(base) = c.api_endpoints.iter().position(|e| {
            e.load_balancer.record_set_managed && e.load_balancer.hosted_zone.is_some()
        }) else {
            self.err(
                eps,
                "nodes need an endpoint they reach by private address, and no endpoint is private or has a DNS record kubeline manages",
                format!("add a private endpoint (`loadBalancer.private: true`), or give an endpoint a `hostedZone` (with recordSetManaged left true) so kubeline can add `{NODES_DNS_PREFIX}<dnsName>` for nodes"),
            );
            return None;
        };
        if !good || out.len() != c.api_endpoints.len() {
            return None;
        }
        let first = &out[base];
        let text = format!("{NODES_DNS_PREFIX}{}", first.dns_name);
        let Ok(dns_name) = text.parse::<DnsName>() else {
            self.err(
                eps.index(base).key("dnsName"),
                format!(
                    "{text:?}, the name of the nodes' internal endpoint, has {} characters; DNS allows 253",
                    text.len()
                ),
                format!(
                    "shorten dnsName to at most {} characters, or add a private endpoint for nodes",
                    253 - NODES_DNS_PREFIX.len()
                ),
            );
            return None;
        };
        if let Some(i) = out.iter().position(|e| e.dns_name == dns_name) {
            self.err(
                eps.index(i).key("dnsName"),
                format!("{dns_name} is the name kubeline gives the nodes' internal endpoint"),
                "use another dnsName, or make this endpoint private (`loadBalancer.private: true`) so that nodes use it",
            );
            return None;
        }
        // One subnet per zone (a load balancer takes at most one per zone), the zone's first
        // private subnet, else its first public one.
        let mut by_zone: Vec<usize> = Vec::new();
        for (i, s) in subnets.iter().enumerate() {
            match by_zone
                .iter_mut()
                .find(|j| subnets[**j].availability_zone == s.availability_zone)
            {
                None => by_zone.push(i),
                Some(j) if s.private && !subnets[*j].private => *j = i,
                Some(_) => {}
            }
        }
        by_zone.sort_unstable();
        Some(ApiEndpoint {
            name: NODES_ENDPOINT.to_owned(),
            logical_id: logical_id(NODES_ENDPOINT),
            dns_name,
            lb_type: first.lb_type,
            private: true,
            subnets: by_zone,
            hosted_zone_id: first.hosted_zone_id.clone(),
            record_set_managed: true,
            api_access_allowed_source_cidrs: Vec::new(),
            lb_name: format!(
                "{}-{NODES_ENDPOINT}",
                name.map(ClusterName::as_str).unwrap_or("x")
            ),
            added_for_nodes: true,
        })
    }
}

impl Ctx<'_> {
    /// kube-aws's `adminAPIEndpointName`, `worker.apiEndpointName` and each pool's
    /// `apiEndpointName`: each names one of the endpoints (kubeline's `nodes` included). Workers sent to a public endpoint reach it
    /// from public addresses, which its allowed sources must then include.
    pub(super) fn endpoint_names(
        &mut self,
        c: &ClusterConfig,
        endpoints: &[ApiEndpoint],
    ) -> (Option<String>, Option<String>) {
        let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
        let pick = |ctx: &mut Self, path: Path, name: &Option<String>| -> Option<String> {
            let n = name.as_ref()?;
            if names.contains(&n.as_str()) {
                return Some(n.clone());
            }
            let hint = match crate::diag::did_you_mean(n, names.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("use one of {}", names.join(", ")),
            };
            ctx.err(path, format!("no API endpoint is named {n:?}"), hint);
            None
        };
        let admin = pick(
            self,
            root().key("adminAPIEndpointName"),
            &c.admin_api_endpoint_name,
        );
        let workers = pick(
            self,
            root().key("worker").key("apiEndpointName"),
            &c.worker.api_endpoint_name,
        );
        let mut named = vec![(root().key("worker").key("apiEndpointName"), workers.clone())];
        for (i, np) in c.worker.node_pools.iter().enumerate() {
            let p = root()
                .key("worker")
                .key("nodePools")
                .index(i)
                .key("apiEndpointName");
            let pool = pick(self, p.clone(), &np.api_endpoint_name);
            named.push((p, pool));
        }
        for (path, e) in named.iter().filter_map(|(p, n)| {
            n.as_ref()
                .and_then(|n| endpoints.iter().find(|e| &e.name == n))
                .filter(|e| !e.private)
                .map(|e| (p, e))
        }) {
            self.warn(
                path.clone(),
                format!(
                    "workers reach the public endpoint {:?} from their NAT gateways' (or their own) public addresses, which its security group admits only if apiAccessAllowedSourceCIDRs lists them",
                    e.name
                ),
                "list those addresses in the endpoint's apiAccessAllowedSourceCIDRs, or name a private endpoint",
            );
        }
        (admin, workers)
    }
}
