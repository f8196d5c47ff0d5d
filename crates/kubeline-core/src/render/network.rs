//! The network stack's template context: gateways, NAT gateways and route tables that follow
//! from the subnets.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cluster::Cluster;

/// Network facts the template needs that follow from the subnets: gateways and route tables.
pub(super) fn network_context(c: &Cluster) -> Value {
    let vpc_ref = match &c.vpc.existing_id {
        Some(id) => json!(id),
        None => json!({"Ref": "VPC"}),
    };
    let managed_public = c
        .subnets
        .iter()
        .any(|s| s.existing_id.is_none() && !s.private && s.route_table_id.is_none());
    let need_igw = c.vpc.existing_id.is_none();
    let igw_ref = match &c.vpc.internet_gateway_id {
        Some(id) => json!(id),
        None => json!({"Ref": "InternetGateway"}),
    };
    let public_route_table = managed_public && c.vpc.route_table_id.is_none();
    let subnet_ref = |s: &crate::cluster::Subnet| match &s.existing_id {
        Some(id) => json!(id),
        None => json!({"Ref": s.logical_id}),
    };
    // One NAT gateway and private route table per zone that has created private subnets.
    let mut zones: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for s in c
        .subnets
        .iter()
        .filter(|s| s.private && s.existing_id.is_none() && s.route_table_id.is_none())
    {
        let zone = s.availability_zone.to_string();
        if zones.contains_key(&zone) {
            continue;
        }
        let suffix = crate::cluster::logical_id(&zone);
        let nat_ref = match &s.nat_gateway_id {
            Some(id) => json!(id),
            None => json!({"Ref": format!("NatGateway{suffix}")}),
        };
        zones.insert(zone, (suffix, nat_ref));
    }
    let mut nat_gateways = Vec::new();
    let mut private_route_tables = Vec::new();
    for (zone, (suffix, nat_ref)) in &zones {
        private_route_tables.push(json!({"zone": zone, "suffix": suffix, "nat_ref": nat_ref}));
        let needs_nat = c.subnets.iter().any(|s| {
            s.private
                && s.existing_id.is_none()
                && s.nat_gateway_id.is_none()
                && s.availability_zone.as_str() == zone
        });
        if needs_nat
            && let Some(public) = c
                .subnets
                .iter()
                .find(|s| !s.private && s.availability_zone.as_str() == zone)
        {
            // The zone's pre-allocated Elastic IP, if one of its private subnets names it.
            let eip = c
                .subnets
                .iter()
                .filter(|s| s.private && s.availability_zone.as_str() == zone)
                .find_map(|s| s.nat_eip_allocation_id.clone());
            nat_gateways.push(json!({"zone": zone, "suffix": suffix, "subnet_ref": subnet_ref(public), "eip_allocation_id": eip}));
        }
    }
    let mut route_table_of = serde_json::Map::new();
    for s in &c.subnets {
        let rt = if let Some(id) = &s.route_table_id {
            json!(id)
        } else if s.private {
            let suffix = crate::cluster::logical_id(s.availability_zone.as_str());
            json!({"Ref": format!("PrivateRouteTable{suffix}")})
        } else if let Some(id) = &c.vpc.route_table_id {
            json!(id)
        } else {
            json!({"Ref": "PublicRouteTable"})
        };
        route_table_of.insert(s.name.clone(), rt);
    }
    json!({
        "vpc_ref": vpc_ref,
        "need_igw": need_igw,
        "igw_ref": igw_ref,
        "public_route_table": public_route_table,
        "nat_gateways": nat_gateways,
        "private_route_tables": private_route_tables,
        "route_table_of": route_table_of,
    })
}
