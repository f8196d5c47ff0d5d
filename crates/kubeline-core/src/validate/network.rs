//! The network rules: the VPC (new or existing, by ID or another stack's export), its subnets,
//! every subnet's way out (internet or NAT gateway), and references to subnets by name.

use std::collections::BTreeMap;

use super::{Ctx, root};
use crate::cluster::{Existing, Subnet, Vpc, logical_id};
use crate::model::{ClusterConfig, NameRef};
use crate::types::{AvailabilityZone, Cidr, Region};
use crate::yaml::Path;

impl Ctx<'_> {
    pub(super) fn vpc(&mut self, c: &ClusterConfig) -> Vpc {
        let existing_id = c.vpc.as_ref().and_then(|v| {
            self.existing(
                root().key("vpc"),
                v.id.as_deref(),
                v.id_from_stack_output.as_deref(),
                "vpc-",
            )
        });
        let mut cidr = None;
        if c.vpc.is_some() && c.vpc_cidr.is_some() {
            self.err(
                root().key("vpcCIDR"),
                "vpcCIDR cannot be set together with vpc.id",
                "remove vpcCIDR: an existing VPC keeps its own CIDR",
            );
        } else if c.vpc.is_none() {
            cidr = self.parse::<Cidr>(
                root().key("vpcCIDR"),
                c.vpc_cidr.as_deref().unwrap_or("10.0.0.0/16"),
            );
            if let Some(v) = cidr
                && !(16..=28).contains(&v.net().prefix_len())
            {
                self.err(
                    root().key("vpcCIDR"),
                    format!("{v}: VPC blocks must be /16 to /28"),
                    "use a /16 such as 10.0.0.0/16",
                );
                cidr = None;
            }
        }
        let route_table_id = c
            .route_table_id
            .as_ref()
            .and_then(|r| self.id(root().key("routeTableId"), r, "rtb-"));
        if c.route_table_id.is_some() && c.vpc.is_none() {
            self.err(
                root().key("routeTableId"),
                "routeTableId needs vpc.id",
                "set vpc.id to the VPC of the route table, or remove routeTableId",
            );
        }
        let internet_gateway_id = c.internet_gateway.as_ref().and_then(|g| {
            self.existing(
                root().key("internetGateway"),
                g.id.as_deref(),
                g.id_from_stack_output.as_deref(),
                "igw-",
            )
        });
        if c.internet_gateway.is_some() && c.vpc.is_none() {
            self.err(
                root().key("internetGateway").key("id"),
                "internetGateway.id needs vpc.id",
                "set vpc.id, or remove internetGateway",
            );
        }
        Vpc {
            existing_id,
            cidr,
            route_table_id,
            internet_gateway_id,
        }
    }

    pub(super) fn subnets(&mut self, c: &ClusterConfig, region: &Region, vpc: &Vpc) -> Vec<Subnet> {
        let mut out = Vec::new();
        if c.subnets.is_empty() {
            let Some(az) = &c.availability_zone else {
                self.err(
                    root().key("availabilityZone"),
                    "availabilityZone is required when subnets is omitted",
                    format!("add `availabilityZone: {region}a` or list subnets"),
                );
                return out;
            };
            let Ok(az) = AvailabilityZone::parse_in(az, region)
                .map_err(|e| self.invalid(root().key("availabilityZone"), e))
            else {
                return out;
            };
            let Some(cidr) = self.parse::<Cidr>(
                root().key("instanceCIDR"),
                c.instance_cidr.as_deref().unwrap_or("10.0.0.0/24"),
            ) else {
                return out;
            };
            if let Some(v) = vpc.cidr
                && !v.contains(&cidr)
            {
                self.err(
                    root().key("instanceCIDR"),
                    format!("{cidr} is outside vpcCIDR {v}"),
                    "choose a block inside the VPC",
                );
            }
            out.push(Subnet {
                name: "Subnet0".into(),
                logical_id: "Subnet0".into(),
                availability_zone: az,
                cidr: Some(cidr),
                private: false,
                existing_id: None,
                nat_gateway_id: None,
                nat_eip_allocation_id: None,
                route_table_id: None,
            });
            return out;
        }
        if let Some(az) = &c.availability_zone
            && let Err(e) = AvailabilityZone::parse_in(az, region)
        {
            self.invalid(root().key("availabilityZone"), e);
        }
        if c.instance_cidr.is_some() {
            self.warn(
                root().key("instanceCIDR"),
                "instanceCIDR is ignored when subnets are listed",
                "set instanceCIDR on each subnet instead",
            );
        }
        let mut names: BTreeMap<String, usize> = BTreeMap::new();
        let mut ids: BTreeMap<String, usize> = BTreeMap::new();
        let mut placed: Vec<(usize, Cidr)> = Vec::new();
        for (i, s) in c.subnets.iter().enumerate() {
            let p = root().key("subnets").index(i);
            let lid = format!("Subnet{}", logical_id(&s.name));
            if s.name.is_empty() || s.name.len() > 64 || lid == "Subnet" {
                self.err(
                    p.key("name"),
                    format!("{:?} is not a usable subnet name", s.name),
                    "use 1-64 letters, digits and hyphens",
                );
            } else if let Some(prev) = names.insert(s.name.clone(), i) {
                self.err(
                    p.key("name"),
                    format!(
                        "subnet name {:?} is already used by subnets[{prev}]",
                        s.name
                    ),
                    "give every subnet its own name",
                );
            } else if let Some(prev) = ids.insert(lid.clone(), i) {
                self.err(
                    p.key("name"),
                    format!(
                        "{:?} and subnets[{prev}] give the same resource ID {lid}",
                        s.name
                    ),
                    "rename one of them",
                );
            }
            let az = AvailabilityZone::parse_in(&s.availability_zone, region)
                .map_err(|e| self.invalid(p.key("availabilityZone"), e))
                .ok();
            let cidr = s
                .instance_cidr
                .as_ref()
                .and_then(|x| self.parse::<Cidr>(p.key("instanceCIDR"), x));
            let existing_id = if s.id.is_some() || s.id_from_stack_output.is_some() {
                self.existing(
                    p.clone(),
                    s.id.as_deref(),
                    s.id_from_stack_output.as_deref(),
                    "subnet-",
                )
            } else {
                None
            };
            if (s.id.is_some() || s.id_from_stack_output.is_some())
                && vpc.existing_id.is_none()
                && c.vpc.is_none()
            {
                self.err(
                    p.key("id"),
                    "an existing subnet needs the existing VPC it belongs to",
                    "set vpc.id, or remove id to let kubeline create the subnet",
                );
            }
            if s.id.is_none() && s.id_from_stack_output.is_none() && s.instance_cidr.is_none() {
                self.err(p.clone(), "a subnet kubeline creates needs instanceCIDR", "add `instanceCIDR: 10.0.N.0/24` inside vpcCIDR, or `id:` of an existing subnet");
            }
            if let Some(cidr) = cidr {
                if let Some(v) = vpc.cidr
                    && !v.contains(&cidr)
                {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr} is outside vpcCIDR {v}"),
                        "choose a block inside the VPC",
                    );
                }
                if !(16..=28).contains(&cidr.net().prefix_len()) {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr}: subnet blocks must be /16 to /28"),
                        "use a /24 or similar",
                    );
                }
                if let Some((j, other)) = placed.iter().find(|(_, o)| o.overlaps(&cidr)) {
                    self.err(
                        p.key("instanceCIDR"),
                        format!("{cidr} overlaps subnets[{j}] ({other})"),
                        "give each subnet its own block",
                    );
                }
                placed.push((i, cidr));
            }
            let nat = s.nat_gateway.as_ref();
            let nat_gateway_id = nat
                .filter(|n| n.id.is_some() || n.id_from_stack_output.is_some())
                .and_then(|n| {
                    self.existing(
                        p.key("natGateway"),
                        n.id.as_deref(),
                        n.id_from_stack_output.as_deref(),
                        "nat-",
                    )
                });
            let nat_eip_allocation_id =
                nat.and_then(|n| n.eip_allocation_id.as_ref())
                    .and_then(|id| {
                        self.id(p.key("natGateway").key("eipAllocationId"), id, "eipalloc-")
                    });
            if let Some(n) = nat {
                let existing = n.id.as_ref().or(n.id_from_stack_output.as_ref());
                match (existing, &n.eip_allocation_id) {
                    (Some(_), Some(_)) => self.err(
                        p.key("natGateway").key("eipAllocationId"),
                        "an existing NAT gateway (natGateway.id) already has its address",
                        "keep id (use that gateway) or eipAllocationId (kubeline creates one with this address), not both",
                    ),
                    (None, None) => self.err(
                        p.key("natGateway"),
                        "natGateway names neither an existing gateway nor an Elastic IP",
                        "set id: nat-..., idFromStackOutput: EXPORT or eipAllocationId: eipalloc-..., or remove natGateway",
                    ),
                    _ => {}
                }
            }
            if nat_eip_allocation_id.is_some()
                && (s.id.is_some() || s.id_from_stack_output.is_some() || s.route_table.is_some())
            {
                self.err(
                    p.key("natGateway").key("eipAllocationId"),
                    "kubeline creates no NAT gateway for a subnet with an existing id or route table",
                    "remove eipAllocationId, or let kubeline create the subnet and its route table",
                );
            }
            if s.nat_gateway.is_some() && !s.private {
                self.err(
                    p.key("natGateway"),
                    "only private subnets use a NAT gateway",
                    "set `private: true` or remove natGateway",
                );
            }
            let route_table_id = s.route_table.as_ref().and_then(|r| {
                self.existing(
                    p.key("routeTable"),
                    r.id.as_deref(),
                    r.id_from_stack_output.as_deref(),
                    "rtb-",
                )
            });
            if let Some(az) = az {
                out.push(Subnet {
                    name: s.name.clone(),
                    logical_id: lid,
                    availability_zone: az,
                    cidr,
                    private: s.private,
                    existing_id,
                    nat_gateway_id,
                    nat_eip_allocation_id,
                    route_table_id,
                });
            }
        }
        if out.len() != c.subnets.len() {
            // Keep indices aligned with the file; an invalid subnet already produced an error.
            return Vec::new();
        }
        out
    }

    /// Every created subnet must have a way out: an internet gateway for public ones and
    /// a NAT gateway (or an existing route table) for private ones.
    pub(super) fn network_paths(&mut self, c: &ClusterConfig, vpc: &Vpc, subnets: &[Subnet]) {
        for (i, s) in subnets.iter().enumerate() {
            if s.existing_id.is_some() || s.route_table_id.is_some() {
                continue;
            }
            let p = if c.subnets.is_empty() {
                root().key("vpc").key("id")
            } else {
                root().key("subnets").index(i)
            };
            if !s.private
                && vpc.existing_id.is_some()
                && vpc.internet_gateway_id.is_none()
                && vpc.route_table_id.is_none()
            {
                self.err(
                    p.clone(),
                    "a public subnet in an existing VPC needs its internet gateway",
                    "set internetGateway.id or routeTableId (or routeTable.id on the subnet)",
                );
            }
            if s.private
                && let Some((j, other)) = subnets.iter().enumerate().take(i).find(|(_, o)| {
                    o.private
                        && o.existing_id.is_none()
                        && o.route_table_id.is_none()
                        && o.availability_zone == s.availability_zone
                        && o.nat_gateway_id != s.nat_gateway_id
                })
            {
                self.err(p.key("natGateway"), format!("private subnets of {} share one route table, but subnets[{j}] ({:?}) uses a different NAT gateway", s.availability_zone, other.name), "give the private subnets of one zone the same natGateway.id (or none)");
            }
            if let Some(eip) = &s.nat_eip_allocation_id
                && let Some((j, other)) = subnets.iter().enumerate().take(i).find(|(_, o)| {
                    o.availability_zone != s.availability_zone
                        && o.nat_eip_allocation_id.as_ref() == Some(eip)
                })
            {
                self.err(p.key("natGateway").key("eipAllocationId"), format!("{eip} is already the NAT gateway address of {} (subnets[{j}]); an Elastic IP serves one NAT gateway", other.availability_zone), "give each zone's NAT gateway its own Elastic IP");
            }
            if s.private
                && s.nat_eip_allocation_id.is_some()
                && let Some((j, _)) = subnets.iter().enumerate().take(i).find(|(_, o)| {
                    o.private
                        && o.availability_zone == s.availability_zone
                        && o.nat_eip_allocation_id.is_some()
                        && o.nat_eip_allocation_id != s.nat_eip_allocation_id
                })
            {
                self.err(p.key("natGateway").key("eipAllocationId"), format!("the private subnets of {} share one NAT gateway, but subnets[{j}] gives it another Elastic IP", s.availability_zone), "give the private subnets of one zone the same eipAllocationId (or give it on one of them)");
            }
            if s.private && s.nat_gateway_id.is_none() {
                let has_public = subnets
                    .iter()
                    .any(|o| !o.private && o.availability_zone == s.availability_zone);
                if !has_public {
                    self.err(p, format!("private subnet {:?} has no public subnet in {} for its NAT gateway", s.name, s.availability_zone), "add a public subnet in the same zone, or set natGateway.id or routeTable.id");
                }
            }
        }
    }

    pub(super) fn refs(
        &mut self,
        path: Path,
        refs: &[NameRef],
        subnets: &[Subnet],
        default: impl Fn(&Subnet) -> bool,
    ) -> Vec<usize> {
        if refs.is_empty() {
            let picked: Vec<usize> = subnets
                .iter()
                .enumerate()
                .filter(|(_, s)| default(s))
                .map(|(i, _)| i)
                .collect();
            if picked.is_empty() {
                return (0..subnets.len()).collect();
            }
            return picked;
        }
        let mut out = Vec::new();
        for (i, r) in refs.iter().enumerate() {
            match subnets.iter().position(|s| s.name == r.name) {
                Some(idx) if out.contains(&idx) => self.err(
                    path.index(i).key("name"),
                    format!("subnet {:?} is listed twice", r.name),
                    "list each subnet once",
                ),
                Some(idx) => out.push(idx),
                None => {
                    let names: Vec<&str> = subnets.iter().map(|s| s.name.as_str()).collect();
                    let hint = match crate::diag::did_you_mean(&r.name, names.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("use one of the names under subnets: {}", names.join(", ")),
                    };
                    self.err(
                        path.index(i).key("name"),
                        format!("no subnet is named {:?}", r.name),
                        hint,
                    );
                }
            }
        }
        out
    }
}

/// Most characters of an export name kubeline takes (CloudFormation export names are
/// region-unique strings; kubeline allows letters, digits and `:_-`).
const MAX_EXPORT_NAME: usize = 255;

impl Ctx<'_> {
    /// An existing resource at `path`: `id` (with its `prefix`) or `idFromStackOutput` (an
    /// export name), exactly one.
    pub(super) fn existing(
        &mut self,
        path: Path,
        id: Option<&str>,
        export: Option<&str>,
        prefix: &str,
    ) -> Option<Existing> {
        match (id, export) {
            (Some(_), Some(_)) => {
                self.err(
                    path.key("idFromStackOutput"),
                    "id and idFromStackOutput name the same resource twice",
                    "keep one of them",
                );
                None
            }
            (Some(id), None) => self.id(path.key("id"), id, prefix).map(Existing::Id),
            (None, Some(name)) => {
                let ok = !name.is_empty()
                    && name.len() <= MAX_EXPORT_NAME
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":_-".contains(c));
                if ok {
                    Some(Existing::Export(name.to_owned()))
                } else {
                    self.err(
                        path.key("idFromStackOutput"),
                        format!("{name:?} is not an export name kubeline takes"),
                        format!("use the name of another stack's export (letters, digits, : _ -, at most {MAX_EXPORT_NAME}) whose value is the {prefix}... ID"),
                    );
                    None
                }
            }
            (None, None) => {
                self.err(
                    path.clone(),
                    "an existing resource needs its id or idFromStackOutput",
                    format!("set id: {prefix}... or idFromStackOutput: EXPORT"),
                );
                None
            }
        }
    }
}
