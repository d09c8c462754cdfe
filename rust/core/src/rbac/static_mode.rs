//! §7 the `static` access strategy (Kuma's only one; Kong Mesh lockout recovery). AccessRoles and
//! bindings are ignored entirely (R7.1).

use super::error::CheckError;
use super::identity::{Subjects, User};
use super::message::Reason;
use super::policy_set::{Action, Decision};
use super::rule::{Access, TokenRequest};
use super::target::Target;

const ADMIN: &str = "mesh-system:admin";

/// R7.2 static lists (users OR groups).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    pub admin_resources: Subjects,
    pub generate_dp_token: Subjects,
    pub generate_user_token: Subjects,
    pub generate_zone_token: Subjects,
    /// A19: `kmesh.access.static.generateCpToken`.
    pub generate_cp_token: Subjects,
    /// Envoy config dump / stats / clusters.
    pub view_envoy: Subjects,
}

impl Default for StaticConfig {
    fn default() -> StaticConfig {
        let admin = Subjects::new(&[ADMIN], &[ADMIN]);
        StaticConfig {
            admin_resources: admin.clone(),
            generate_dp_token: admin.clone(),
            generate_user_token: admin.clone(),
            generate_zone_token: admin.clone(),
            generate_cp_token: admin,
            view_envoy: Subjects::new(
                &[],
                &["mesh-system:unauthenticated", "mesh-system:authenticated"],
            ),
        }
    }
}

impl StaticConfig {
    /// R7.2: Secret/GlobalSecret — every operation — for admin resources only; the rest is open.
    pub fn check(
        &self,
        user: &User,
        action: Action,
        target: Option<&Target>,
        token: Option<&TokenRequest>,
    ) -> Result<Decision, CheckError> {
        let verdict = |list: &Subjects, reason: Reason| {
            if list.matches(user) {
                Decision::allow(None)
            } else {
                Decision::deny(reason)
            }
        };
        Ok(match action {
            Action::Get
            | Action::List
            | Action::Access(Access::Create | Access::Update | Access::Delete) => {
                let t = target.ok_or(CheckError::MissingResource(action.as_str()))?;
                match t.type_name.as_str() {
                    "Secret" | "GlobalSecret" => verdict(
                        &self.admin_resources,
                        Reason::ResourceOfType(t.type_name.clone()),
                    ),
                    _ => Decision::allow(None),
                }
            }
            Action::Access(a) if a.is_token() => {
                let req = token.ok_or(CheckError::MissingTokenRequest(a))?;
                if req.access() != a {
                    return Err(CheckError::TokenMismatch(a));
                }
                match req {
                    TokenRequest::Dataplane { .. } => {
                        verdict(&self.generate_dp_token, Reason::DataplaneToken)
                    }
                    TokenRequest::User => verdict(&self.generate_user_token, Reason::UserToken),
                    TokenRequest::Zone { zone } => {
                        verdict(&self.generate_zone_token, Reason::ZoneToken(zone.clone()))
                    }
                    TokenRequest::ZoneCp { .. } => {
                        verdict(&self.generate_cp_token, Reason::ZoneCpToken)
                    }
                }
            }
            Action::Access(_) => verdict(&self.view_envoy, Reason::EnvoyProxyInfo),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::target::{Body, Scope};

    #[test]
    fn r7_2_static_defaults() {
        let cfg = StaticConfig::default();
        let bo = User::new("backend-owner", &["mesh-system:authenticated"]);
        let admin = User::new("mesh-system:admin", &["mesh-system:admin"]);
        let secret = Target::new("Secret", Scope::Mesh, Some("default"), "s", Body::None).unwrap();
        let arb = Target::new(
            "AccessRoleBinding",
            Scope::Global,
            None,
            "default",
            Body::None,
        )
        .unwrap();
        assert!(
            !cfg.check(&bo, Action::Get, Some(&secret), None)
                .unwrap()
                .allowed
        );
        assert!(
            cfg.check(&admin, Action::Get, Some(&secret), None)
                .unwrap()
                .allowed
        );
        assert!(
            cfg.check(&bo, Action::Access(Access::Create), Some(&arb), None)
                .unwrap()
                .allowed
        );
        let d = cfg
            .check(
                &bo,
                Action::Access(Access::GenerateUserToken),
                None,
                Some(&TokenRequest::User),
            )
            .unwrap();
        assert_eq!(d.reason, Some(Reason::UserToken));
        let dp = Target::new("Dataplane", Scope::Mesh, Some("default"), "dp", Body::None).unwrap();
        assert!(
            cfg.check(&bo, Action::Access(Access::ViewStats), Some(&dp), None)
                .unwrap()
                .allowed
        );
        assert!(
            !cfg.check(
                &User::new("ci", &[]),
                Action::Access(Access::ViewStats),
                Some(&dp),
                None
            )
            .unwrap()
            .allowed
        );
    }
}
