//! Kong Mesh RBAC (`AccessRole`, `AccessRoleBinding`) and the static access mode (spec rbac.md).
//!
//! Pure and deterministic: the bindings crate compiles a [`Engine`] once from plain data and calls
//! [`Engine::check`] per request.

pub mod batch;
pub mod coverage;
pub mod document;
pub mod error;
pub mod glob;
pub mod identity;
pub mod json;
pub mod kinds;
pub mod message;
pub mod policy_doc;
pub mod policy_set;
pub mod reverse;
pub mod rule;
pub mod static_mode;
pub mod target;
pub mod target_ref;

pub use coverage::Qualifier;
pub use error::{CheckError, InputError, RowError};
pub use identity::{Subjects, User};
pub use message::{
    denial_text, go_quote, reason_text, reason_text_of, Channel, Reason, ReasonCode,
};
pub use policy_set::{Action, Binding, Decision, Grant, HeldRoles, PolicySet, Role, SecretReads};
pub use reverse::{HeldRole, UserPermissions};
pub use rule::{Access, Rule, TokenRequest};
pub use static_mode::StaticConfig;
pub use target::{Body, Family, Scope, Target};
pub use target_ref::TargetRef;

/// `access.type` (R7.1) with its configuration.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per compiled set
pub enum Engine {
    Rbac {
        set: PolicySet,
        secret_reads: SecretReads,
        static_config: StaticConfig,
    },
    Static(StaticConfig),
}

impl Decision {
    /// The batch reason code: `Allowed`, or the denial's reason (R8.2 when none is recorded).
    pub fn code(&self) -> ReasonCode {
        match (&self.reason, self.allowed) {
            (_, true) => ReasonCode::Allowed,
            (Some(r), false) => r.code(),
            (None, false) => ReasonCode::CannotAccessResource,
        }
    }
}

impl TokenRequest {
    /// The request of a token action given without one (`check(..., token_request={})`):
    /// `None` for a dataplane token, whose request needs a mesh (R5.12).
    pub fn empty(access: Access) -> Option<TokenRequest> {
        match access {
            Access::GenerateUserToken => Some(TokenRequest::User),
            Access::GenerateZoneToken => Some(TokenRequest::Zone {
                zone: String::new(),
            }),
            Access::GenerateZoneCpToken => Some(TokenRequest::ZoneCp {
                zone: String::new(),
            }),
            _ => None,
        }
    }
}

impl Engine {
    /// R5.1: the subject ids of a user (name, then each group), appended to `out`. Nothing under
    /// the static strategy (it matches users itself).
    pub fn subjects<'g>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = &'g str>,
        out: &mut Vec<u32>,
    ) {
        if let Engine::Rbac { set, .. } = self {
            out.extend(set.user_subject(name));
            out.extend(groups.into_iter().filter_map(|g| set.group_subject(g)));
        }
    }

    /// Whether decisions may need the user's name and groups as text (the static strategy, A12
    /// static-admin secret reads); otherwise the subject ids suffice (batches skip the text).
    pub fn needs_user_text(&self) -> bool {
        match self {
            Engine::Rbac { secret_reads, .. } => *secret_reads == SecretReads::StaticAdmin,
            Engine::Static(_) => true,
        }
    }

    /// The R5.1 subject id of a `User` subject named `name` (none under the static strategy).
    pub fn user_subject(&self, name: &str) -> Option<u32> {
        match self {
            Engine::Rbac { set, .. } => set.user_subject(name),
            Engine::Static(_) => None,
        }
    }

    /// The R5.1 subject id of a `Group` subject named `group`.
    pub fn group_subject(&self, group: &str) -> Option<u32> {
        match self {
            Engine::Rbac { set, .. } => set.group_subject(group),
            Engine::Static(_) => None,
        }
    }

    /// The one decision path (§5 RBAC, §7 static): every check, batch row and handle call ends
    /// here. `subjects` are the user's subject ids ([`Engine::subjects`], or the bindings'
    /// interned lookup); `user` materialises the user when the static strategy or A12
    /// static-admin reads need it (`None` = the user could not be read: an error).
    pub fn decide(
        &self,
        subjects: &[u32],
        user: impl FnOnce() -> Option<User>,
        action: Action,
        target: Option<&Target>,
        old: Option<&Target>,
        token: Option<&TokenRequest>,
    ) -> Result<Decision, CheckError> {
        match self {
            Engine::Rbac {
                set,
                secret_reads,
                static_config,
            } => {
                let mut unreadable = false;
                let d = set.decide(
                    &set.held_roles(subjects),
                    || match user() {
                        Some(u) => static_config.admin_resources.matches(&u),
                        None => {
                            unreadable = true;
                            false
                        }
                    },
                    action,
                    target,
                    old,
                    token,
                    *secret_reads,
                );
                if unreadable {
                    return Err(CheckError::UnreadableUser);
                }
                d
            }
            Engine::Static(cfg) => {
                let u = user().ok_or(CheckError::UnreadableUser)?;
                cfg.check(&u, action, target, token)
            }
        }
    }

    /// [`Engine::decide`] for an owned user.
    pub fn check(
        &self,
        user: &User,
        action: Action,
        target: Option<&Target>,
        old: Option<&Target>,
        token: Option<&TokenRequest>,
    ) -> Result<Decision, CheckError> {
        let mut ids = Vec::new();
        self.subjects(&user.name, user.groups.iter().map(String::as_str), &mut ids);
        self.decide(&ids, || Some(user.clone()), action, target, old, token)
    }

    /// R5.6 on demand for a denial: the uncovered elements of `target` (the denied side).
    /// Empty for non-resource actions, reads and the static strategy.
    pub fn uncovered<'g>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = &'g str>,
        action: Action,
        target: &Target,
    ) -> Vec<String> {
        match (self, action) {
            (Engine::Rbac { set, .. }, Action::Access(a)) if a.is_resource() => {
                set.uncovered(&set.roles_of(name, groups), a, target)
            }
            _ => Vec::new(),
        }
    }

    /// The reverse query (what-can); empty under the static strategy.
    pub fn permissions_of<'g>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = &'g str>,
    ) -> UserPermissions {
        match self {
            Engine::Rbac { set, .. } => set.permissions_of(name, groups),
            Engine::Static(_) => UserPermissions::default(),
        }
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;

    const TYPES: [&str; 20] = [
        "MeshAccessLog",
        "MeshCircuitBreaker",
        "MeshFaultInjection",
        "MeshHealthCheck",
        "MeshHTTPRoute",
        "MeshTCPRoute",
        "MeshLoadBalancingStrategy",
        "MeshMetric",
        "MeshPassthrough",
        "MeshProxyPatch",
        "MeshRateLimit",
        "MeshRetry",
        "MeshTimeout",
        "MeshTLS",
        "MeshTrace",
        "MeshTrafficPermission",
        "TrafficPermission",
        "TrafficRoute",
        "Secret",
        "ExternalService",
    ];

    /// 2,000 roles × 5 rules, one binding per role: a check examines only the rules of the user's
    /// roles indexed under its (access, type), never the whole set.
    #[test]
    fn index_limits_candidates_on_2000_roles() {
        let mut roles = Vec::new();
        let mut bindings = Vec::new();
        for i in 0..2000 {
            let rules = (0..5)
                .map(|k| {
                    Rule::new(
                        vec![TYPES[(i + k) % TYPES.len()].to_string()],
                        vec![],
                        Some("default".into()),
                        &[Access::Create, Access::Update],
                        vec![Qualifier::target_ref(
                            Some(TargetRef {
                                kind: "MeshService".into(),
                                scalars: vec![("name".into(), format!("svc-{i}"))],
                                ..TargetRef::default()
                            }),
                            None,
                            None,
                        )
                        .unwrap()],
                    )
                })
                .collect();
            roles.push(Role {
                name: format!("role-{i}"),
                rules,
            });
            bindings.push(Binding {
                name: format!("b-{i}"),
                subjects: Subjects::new(&[&format!("user-{i}")], &["all"]),
                roles: vec![format!("role-{i}")],
            });
        }
        let set = PolicySet::compile(roles, bindings).unwrap();
        assert_eq!(set.rule_count(), 10_000);
        let mut tr = TargetRef::of_kind("MeshService");
        tr.scalars = vec![("name".into(), "svc-7".into())];
        let t = Target::new(
            "MeshRetry",
            Scope::Mesh,
            Some("default"),
            "x",
            Body::TargetRef {
                top: Some(tr),
                to: vec![],
                from: vec![],
                has_rules: false,
            },
        )
        .unwrap();
        let before = set.examined_total();
        let d = set
            .check(
                &User::new("user-7", &[]),
                Action::Access(Access::Create),
                Some(&t),
                None,
                None,
                SecretReads::Rbac,
                &Subjects::default(),
            )
            .unwrap();
        assert!(d.allowed, "{d:?}");
        // role-7 has exactly one MeshRetry rule (type index 11 = 7 + 4).
        assert_eq!(d.examined, 1);
        assert_eq!(set.examined_total() - before, 1);
        let d = set
            .check(
                &User::new("user-8", &[]),
                Action::Access(Access::Create),
                Some(&t),
                None,
                None,
                SecretReads::Rbac,
                &Subjects::default(),
            )
            .unwrap();
        assert!(!d.allowed);
        assert_eq!(d.examined, 1);
        // A user holding every role: only the MeshRetry bucket (5 rules × 2000 / 20 types = 500).
        let d = set
            .check(
                &User::new("x", &["all"]),
                Action::Access(Access::Create),
                Some(&t),
                None,
                None,
                SecretReads::Rbac,
                &Subjects::default(),
            )
            .unwrap();
        assert!(d.allowed);
        assert!(d.examined <= 500, "examined {}", d.examined);
        // Unknown type: nothing to examine.
        let u = Target::new("MeshMetric2", Scope::Mesh, Some("default"), "x", Body::None).unwrap();
        let d = set
            .check(
                &User::new("x", &["all"]),
                Action::Access(Access::Create),
                Some(&u),
                None,
                None,
                SecretReads::Rbac,
                &Subjects::default(),
            )
            .unwrap();
        assert_eq!(d.examined, 0);
    }

    /// R5.2: a role's binding is the first (load order) among all bindings matching the user by
    /// name or any group, across interned subjects; duplicate groups and roleless subjects too.
    #[test]
    fn r5_2_first_binding_across_subjects() {
        let r = |n: &str| Role {
            name: n.into(),
            rules: vec![],
        };
        let b = |n: &str, users: &[&str], groups: &[&str], roles: &[&str]| Binding {
            name: n.into(),
            subjects: Subjects::new(users, groups),
            roles: roles.iter().map(|x| x.to_string()).collect(),
        };
        let set = PolicySet::compile(
            vec![r("a"), r("b"), r("c"), r("d"), r("e"), r("f")],
            vec![
                b("b0", &[], &["g2"], &["c"]),
                b("b1", &["u"], &[], &["b", "a"]),
                b("b2", &[], &["g1"], &["a", "c", "missing"]),
                b("b3", &[], &["g3"], &["d"]),
                b("b4", &[], &["g4"], &["e"]),
                b("b5", &[], &["g5"], &["f"]),
                b("b6", &[], &["g6"], &[]),
            ],
        )
        .unwrap();
        let u = User::new("u", &["g1", "g2", "g1", "g6"]);
        assert_eq!(set.user_roles(&u), vec![(0, 1), (1, 1), (2, 0)]);
        // More than four matching subjects (inline lists spill).
        let v = User::new("u", &["g5", "g4", "g3", "g2", "g1"]);
        assert_eq!(
            set.user_roles(&v),
            vec![(0, 1), (1, 1), (2, 0), (3, 3), (4, 4), (5, 5)]
        );
        assert!(set.user_roles(&User::new("U", &["G1"])).is_empty());
    }

    #[test]
    fn a14_duplicates_rejected() {
        let r = Role {
            name: "a".into(),
            rules: vec![],
        };
        assert!(PolicySet::compile(vec![r.clone(), r], vec![]).is_err());
        let b = Binding {
            name: "b".into(),
            subjects: Subjects::default(),
            roles: vec![],
        };
        assert!(PolicySet::compile(vec![], vec![b.clone(), b]).is_err());
    }

    #[test]
    fn r5_9_update_needs_both_sides() {
        let mk = |name: &str| {
            let mut tr = TargetRef::of_kind("MeshService");
            tr.scalars = vec![("name".into(), name.into())];
            Target::new(
                "MeshTrafficPermission",
                Scope::Mesh,
                Some("default"),
                "p",
                Body::TargetRef {
                    top: Some(tr),
                    to: vec![],
                    from: vec![],
                    has_rules: false,
                },
            )
            .unwrap()
        };
        let mut q = TargetRef::of_kind("MeshService");
        q.scalars = vec![("name".into(), "backend".into())];
        let rule = Rule::new(
            vec![],
            vec![],
            Some("default".into()),
            &[Access::Update],
            vec![Qualifier::target_ref(Some(q), None, None).unwrap()],
        );
        let set = PolicySet::compile(
            vec![Role {
                name: "r".into(),
                rules: vec![rule],
            }],
            vec![Binding {
                name: "b".into(),
                subjects: Subjects::new(&["u"], &[]),
                roles: vec!["r".into(), "missing".into()],
            }],
        )
        .unwrap();
        let u = User::new("u", &[]);
        let chk = |old: &Target, new: &Target| {
            set.check(
                &u,
                Action::Access(Access::Update),
                Some(new),
                Some(old),
                None,
                SecretReads::Rbac,
                &Subjects::default(),
            )
            .unwrap()
        };
        assert!(chk(&mk("backend"), &mk("backend")).allowed);
        let d = chk(&mk("backend"), &mk("web"));
        assert_eq!((d.allowed, d.denied_side), (false, Some("new")));
        assert_eq!(chk(&mk("web"), &mk("backend")).denied_side, Some("old"));
        assert!(set
            .check(
                &u,
                Action::Access(Access::Update),
                Some(&mk("backend")),
                None,
                None,
                SecretReads::Rbac,
                &Subjects::default()
            )
            .is_err());
    }
}
