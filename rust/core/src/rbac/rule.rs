//! Access values (§3) and what one rule grants (R5.4, R5.5, R5.12, R5.13, A8, A9, A16).

use super::coverage::{rule_covers, Qualifier};
use super::target::{Scope, Target};

/// §3 access values (the things a rule can grant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Create = 0,
    Update,
    Delete,
    GenerateDataplaneToken,
    GenerateUserToken,
    GenerateZoneCpToken,
    GenerateZoneToken,
    ViewConfigDump,
    ViewStats,
    ViewClusters,
}

impl Access {
    pub const ALL: [Access; 10] = [
        Access::Create,
        Access::Update,
        Access::Delete,
        Access::GenerateDataplaneToken,
        Access::GenerateUserToken,
        Access::GenerateZoneCpToken,
        Access::GenerateZoneToken,
        Access::ViewConfigDump,
        Access::ViewStats,
        Access::ViewClusters,
    ];

    pub fn parse(s: &str) -> Option<Access> {
        Access::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Access::Create => "CREATE",
            Access::Update => "UPDATE",
            Access::Delete => "DELETE",
            Access::GenerateDataplaneToken => "GENERATE_DATAPLANE_TOKEN",
            Access::GenerateUserToken => "GENERATE_USER_TOKEN",
            Access::GenerateZoneCpToken => "GENERATE_ZONE_CP_TOKEN",
            Access::GenerateZoneToken => "GENERATE_ZONE_TOKEN",
            Access::ViewConfigDump => "VIEW_CONFIG_DUMP",
            Access::ViewStats => "VIEW_STATS",
            Access::ViewClusters => "VIEW_CLUSTERS",
        }
    }

    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    pub fn is_resource(self) -> bool {
        matches!(self, Access::Create | Access::Update | Access::Delete)
    }

    pub fn is_token(self) -> bool {
        matches!(
            self,
            Access::GenerateDataplaneToken
                | Access::GenerateUserToken
                | Access::GenerateZoneCpToken
                | Access::GenerateZoneToken
        )
    }

    pub fn is_view(self) -> bool {
        matches!(
            self,
            Access::ViewConfigDump | Access::ViewStats | Access::ViewClusters
        )
    }
}

/// The inputs of a GENERATE_* check (§3). Only the dataplane request is used by RBAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRequest {
    /// `mesh` and `tags` (tag name -> requested values).
    Dataplane {
        mesh: String,
        tags: Vec<(String, Vec<String>)>,
    },
    User,
    Zone {
        zone: String,
    },
    ZoneCp {
        zone: String,
    },
}

impl TokenRequest {
    pub fn access(&self) -> Access {
        match self {
            TokenRequest::Dataplane { .. } => Access::GenerateDataplaneToken,
            TokenRequest::User => Access::GenerateUserToken,
            TokenRequest::Zone { .. } => Access::GenerateZoneToken,
            TokenRequest::ZoneCp { .. } => Access::GenerateZoneCpToken,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rule {
    pub types: Vec<String>,
    pub names: Vec<String>,
    /// `None` for absent or `""` (no mesh restriction).
    pub mesh: Option<String>,
    pub access: u16,
    pub when: Vec<Qualifier>,
}

impl Rule {
    pub fn new(
        types: Vec<String>,
        names: Vec<String>,
        mesh: Option<String>,
        access: &[Access],
        when: Vec<Qualifier>,
    ) -> Rule {
        let mesh = mesh.filter(|m| !m.is_empty());
        Rule {
            types,
            names,
            mesh,
            access: access.iter().fold(0, |acc, a| acc | a.bit()),
            when,
        }
    }

    pub fn has(&self, a: Access) -> bool {
        self.access & a.bit() != 0
    }

    pub fn accesses(&self) -> impl Iterator<Item = Access> + '_ {
        Access::ALL.into_iter().filter(|a| self.has(*a))
    }

    /// R5.5 / A8: no mesh → pass; otherwise the target must be mesh-scoped and the mesh equal, or
    /// the rule mesh the literal `'*'`.
    pub fn mesh_passes(&self, scope: Scope, mesh: Option<&str>) -> bool {
        match &self.mesh {
            None => true,
            Some(rm) => scope == Scope::Mesh && (rm == "*" || Some(rm.as_str()) == mesh),
        }
    }

    /// R5.4 items 2–4 (type, name, mesh), i.e. the rule applies to the target regardless of `when`.
    pub fn applies(&self, target: &Target) -> bool {
        (self.types.is_empty() || self.types.contains(&target.type_name))
            && (self.names.is_empty() || self.names.contains(&target.name))
            && self.mesh_passes(target.scope, target.mesh.as_deref())
    }

    /// R5.4: does this rule grant the resource action `a` on `target`?
    pub fn grants_resource(&self, a: Access, target: &Target) -> bool {
        self.has(a)
            && self.applies(target)
            && (self.when.is_empty() || rule_covers(&self.when, target))
    }

    /// R5.4 items 3–5 for a candidate found through the `(access, type)` index, which already
    /// guarantees items 1–2 (`access` granted, `types` empty or containing the target's type).
    pub fn grants_indexed(&self, target: &Target) -> bool {
        (self.names.is_empty() || self.names.contains(&target.name))
            && self.mesh_passes(target.scope, target.mesh.as_deref())
            && (self.when.is_empty() || rule_covers(&self.when, target))
    }

    /// R5.12 / R5.13 (A9): `types`/`names` are ignored for token actions.
    pub fn grants_token(&self, req: &TokenRequest) -> bool {
        if !self.has(req.access()) {
            return false;
        }
        match req {
            TokenRequest::Dataplane { mesh, tags } => {
                self.mesh_passes(Scope::Mesh, Some(mesh))
                    && (self.when.is_empty()
                        || self.when.iter().any(|q| dp_token_satisfied(q, tags)))
            }
            // Global tokens: a rule with `mesh` or `when` does not grant them (fail closed, A9).
            _ => self.mesh.is_none() && self.when.is_empty(),
        }
    }

    /// A16: VIEW_* needs the value, the mesh check against the dataplane's mesh and no `when`.
    pub fn grants_view(&self, a: Access, target: &Target) -> bool {
        self.has(a)
            && self.mesh_passes(target.scope, target.mesh.as_deref())
            && self.when.is_empty()
    }
}

/// R5.12: every constrained tag name present in the request with a non-empty value list, every
/// requested value in the allowed set; unmentioned request tags are free.
pub fn dp_token_satisfied(q: &Qualifier, request: &[(String, Vec<String>)]) -> bool {
    match q {
        Qualifier::DpToken { tags } => tags.iter().all(|(name, allowed)| {
            request
                .iter()
                .find(|(n, _)| n == name)
                .is_some_and(|(_, values)| {
                    !values.is_empty() && values.iter().all(|v| allowed.contains(v))
                })
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::target::Body;

    fn req(mesh: &str, tags: &[(&str, &[&str])]) -> TokenRequest {
        TokenRequest::Dataplane {
            mesh: mesh.into(),
            tags: tags
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
        }
    }

    #[test]
    fn access_roundtrip() {
        for a in Access::ALL {
            assert_eq!(Access::parse(a.as_str()), Some(a));
        }
        assert_eq!(Access::parse("READ"), None);
    }

    #[test]
    fn a8_mesh_rule_never_matches_global() {
        let r = Rule::new(vec![], vec![], Some("*".into()), &[Access::Create], vec![]);
        let mesh = Target::new("Mesh", Scope::Global, None, "default", Body::None).unwrap();
        assert!(!r.grants_resource(Access::Create, &mesh));
        let secret = Target::new("Secret", Scope::Mesh, Some("x"), "s", Body::None).unwrap();
        assert!(r.grants_resource(Access::Create, &secret));
        let demo = Rule::new(
            vec![],
            vec![],
            Some("demo".into()),
            &[Access::Create],
            vec![],
        );
        assert!(!demo.grants_resource(Access::Create, &secret));
        let empty = Rule::new(
            vec![],
            vec![],
            Some(String::new()),
            &[Access::Create],
            vec![],
        );
        assert!(empty.grants_resource(Access::Create, &mesh));
    }

    #[test]
    fn r5_12_dp_token() {
        let q = Qualifier::dp_token(vec![
            ("kuma.io/service".into(), "web".into()),
            ("kuma.io/service".into(), "web2".into()),
        ]);
        let r = Rule::new(
            vec!["Dataplane".into()],
            vec![],
            Some("default".into()),
            &[Access::GenerateDataplaneToken],
            vec![q],
        );
        assert!(r.grants_token(&req("default", &[("kuma.io/service", &["web"])])));
        assert!(r.grants_token(&req(
            "default",
            &[("kuma.io/service", &["web", "web2"]), ("v", &["1"])]
        )));
        assert!(!r.grants_token(&req("default", &[("kuma.io/service", &["web", "db"])])));
        assert!(!r.grants_token(&req("default", &[("kuma.io/service", &[])])));
        assert!(!r.grants_token(&req("default", &[])));
        assert!(!r.grants_token(&req("other", &[("kuma.io/service", &["web"])])));
    }

    #[test]
    fn r5_13_global_tokens() {
        let plain = Rule::new(
            vec!["Mesh".into()],
            vec!["x".into()],
            None,
            &[Access::GenerateUserToken],
            vec![],
        );
        assert!(plain.grants_token(&TokenRequest::User));
        let meshed = Rule::new(
            vec![],
            vec![],
            Some("default".into()),
            &[Access::GenerateUserToken],
            vec![],
        );
        assert!(!meshed.grants_token(&TokenRequest::User));
        assert!(!plain.grants_token(&TokenRequest::Zone { zone: "z".into() }));
    }

    #[test]
    fn a16_view() {
        let r = Rule::new(
            vec!["Mesh".into()],
            vec![],
            Some("default".into()),
            &[Access::ViewStats],
            vec![],
        );
        let dp = Target::new("Dataplane", Scope::Mesh, Some("default"), "dp", Body::None).unwrap();
        assert!(r.grants_view(Access::ViewStats, &dp));
        assert!(!r.grants_view(Access::ViewClusters, &dp));
    }
}
