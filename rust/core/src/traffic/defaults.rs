//! T4.12–T4.14 (A7, A7a): the default `allow-all-<mesh>` TrafficPermission. Never injected
//! implicitly: callers ask what Kuma would create and add it themselves.

/// The name of the policy Kuma would create for `mesh`, or `None`.
///
/// T4.13: created iff `create_mesh_routing_resources` and `skipCreatingInitialPolicies` holds
/// neither `"*"` nor `"TrafficPermission"` (exact, case-sensitive). T4.14: Kubernetes creates it
/// once, so `already_generated` (annotation `k8s.kuma.io/mesh-defaults-generated`) means none.
pub fn default_traffic_permission<'a, I: IntoIterator<Item = &'a str>>(
    mesh: &str,
    skip_creating_initial_policies: I,
    create_mesh_routing_resources: bool,
    already_generated: bool,
) -> Option<String> {
    if !create_mesh_routing_resources || already_generated {
        return None;
    }
    if skip_creating_initial_policies
        .into_iter()
        .any(|s| s == "*" || s == "TrafficPermission")
    {
        return None;
    }
    Some(format!("allow-all-{mesh}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t4_13_conditions() {
        assert_eq!(
            default_traffic_permission("m", [], true, false).as_deref(),
            Some("allow-all-m")
        );
        assert_eq!(default_traffic_permission("m", [], false, false), None);
        assert_eq!(default_traffic_permission("m", [], true, true), None);
        assert_eq!(default_traffic_permission("m", ["*"], true, false), None);
        assert_eq!(
            default_traffic_permission("m", ["TrafficPermission"], true, false),
            None
        );
        assert!(default_traffic_permission("m", ["trafficpermission"], true, false).is_some());
    }
}
