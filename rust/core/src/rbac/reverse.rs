//! Reverse query (what-can, issue #11 item 5): what a user may do, derived from the user's
//! bindings → roles → rules (R5.1, R5.2), never by enumerating requests.

use super::kinds;
use super::policy_set::PolicySet;
use super::rule::{Access, Rule};
use super::target::Scope;

/// One role the user holds, with every binding (load order) that gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRole {
    pub role: u32,
    pub bindings: Vec<u32>,
}

/// The user's roles, sorted by role name, and the role names their bindings name that resolve
/// to no AccessRole (skipped, R5.2 / A14), sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPermissions {
    pub roles: Vec<HeldRole>,
    pub missing_roles: Vec<String>,
}

impl PolicySet {
    /// R5.1 / R5.2 for a user given by name and groups.
    pub fn permissions_of<'g>(
        &self,
        name: &str,
        groups: impl IntoIterator<Item = &'g str>,
    ) -> UserPermissions {
        let mut bindings: Vec<u32> = Vec::new();
        let subjects = self
            .user_subject(name)
            .into_iter()
            .chain(groups.into_iter().filter_map(|g| self.group_subject(g)));
        for s in subjects {
            bindings.extend(self.subject_bindings(s));
        }
        bindings.sort_unstable();
        bindings.dedup();
        let mut held: Vec<HeldRole> = Vec::new();
        let mut missing: Vec<String> = Vec::new();
        for b in bindings {
            let Some(binding) = self.bindings().get(b as usize) else {
                continue;
            };
            for role in &binding.roles {
                match self.role_id(role) {
                    Some(r) => match held.iter_mut().find(|h| h.role == r) {
                        Some(h) => {
                            if !h.bindings.contains(&b) {
                                h.bindings.push(b);
                            }
                        }
                        None => held.push(HeldRole {
                            role: r,
                            bindings: vec![b],
                        }),
                    },
                    None => {
                        if !missing.contains(role) {
                            missing.push(role.clone());
                        }
                    }
                }
            }
        }
        held.sort_by(|a, b| self.role_name(a.role).cmp(self.role_name(b.role)));
        missing.sort();
        UserPermissions {
            roles: held,
            missing_roles: missing,
        }
    }
}

impl Rule {
    /// Does this rule grant `access` on a target of `type_name` in `mesh` named `name`?
    /// `Some(true)` = yes, `Some(false)` = never, `None` = depends on the `when` qualifiers
    /// (R5.6). R5.4 items 1–4; `types` / `names` do not restrict non-resource actions (A9, A16).
    pub fn decides(
        &self,
        access: Access,
        type_name: &str,
        mesh: Option<&str>,
        name: &str,
    ) -> Option<bool> {
        if !self.has(access) {
            return Some(false);
        }
        if access.is_resource()
            && (!self.types.is_empty() && !self.types.iter().any(|t| t == type_name)
                || !self.names.is_empty() && !self.names.iter().any(|n| n == name))
        {
            return Some(false);
        }
        // R5.5 / A8: an unknown type is taken as mesh-scoped when a mesh is given.
        let scope = match (kinds::lookup(type_name), mesh) {
            (_, None) => Scope::Global,
            (Some(k), Some(_)) => k.scope,
            (None, Some(_)) => Scope::Mesh,
        };
        if !self.mesh_passes(scope, mesh) {
            return Some(false);
        }
        if self.when.is_empty() {
            Some(true)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::identity::Subjects;
    use crate::rbac::policy_set::{Binding, Role};

    #[test]
    fn permissions_of_follows_bindings() {
        let role = |n: &str| Role {
            name: n.into(),
            rules: vec![Rule::new(vec![], vec![], None, &[Access::Create], vec![])],
        };
        let b = |n: &str, users: &[&str], groups: &[&str], roles: &[&str]| Binding {
            name: n.into(),
            subjects: Subjects::new(users, groups),
            roles: roles.iter().map(|x| x.to_string()).collect(),
        };
        let set = PolicySet::compile(
            vec![role("z"), role("a")],
            vec![
                b("b0", &["u"], &[], &["z", "ghost"]),
                b("b1", &[], &["g"], &["a", "z"]),
                b("b2", &[], &["other"], &["a"]),
            ],
        )
        .unwrap();
        let p = set.permissions_of("u", ["g", "g"]);
        let names: Vec<&str> = p.roles.iter().map(|h| set.role_name(h.role)).collect();
        assert_eq!(names, ["a", "z"]);
        assert_eq!(p.roles[1].bindings, [0, 1]);
        assert_eq!(p.missing_roles, ["ghost"]);
        assert_eq!(set.permissions_of("U", ["G"]), UserPermissions::default());
    }

    #[test]
    fn r5_5_decides() {
        let r = Rule::new(
            vec!["Secret".into()],
            vec![],
            Some("*".into()),
            &[Access::Create],
            vec![],
        );
        assert_eq!(
            r.decides(Access::Create, "Secret", Some("m"), "s"),
            Some(true)
        );
        assert_eq!(r.decides(Access::Create, "Secret", None, "s"), Some(false));
        assert_eq!(
            r.decides(Access::Delete, "Secret", Some("m"), "s"),
            Some(false)
        );
        assert_eq!(
            r.decides(Access::Create, "Mesh", Some("m"), "s"),
            Some(false)
        );
    }
}
