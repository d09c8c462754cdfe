//! The compiled, immutable RBAC policy set (R5.1–R5.3, R5.9–R5.13, A10, A12, A14).
//!
//! Rules are indexed by `(access, type)` (token and VIEW_* rules under "any type", A9/A16), both
//! per role and globally, so a check only examines rules that could grant its action on its type.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use super::coverage::covered_elements;
use super::identity::{Subjects, User};
use super::message::Reason;
use super::rule::{Access, Rule, TokenRequest};
use super::target::{Family, Target};

pub const ANY_TYPE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub name: String,
    pub subjects: Subjects,
    pub roles: Vec<String>,
}

/// What is being done: an access value, or a read (R3.1, R5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Access(Access),
    Get,
    List,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "GET" => Some(Action::Get),
            "LIST" => Some(Action::List),
            _ => Access::parse(s).map(Action::Access),
        }
    }
}

/// A12 secret reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretReads {
    /// GET iff CREATE/UPDATE/DELETE granted on the object; LIST iff such a grant has empty `names`.
    Rbac,
    /// Literal doc: reads are open.
    Open,
    /// Kuma static adminResources list.
    StaticAdmin,
}

/// Which role / binding / rule granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: String,
    pub binding: String,
    pub rule: usize,
    pub access: Access,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    pub allowed: bool,
    /// The grant for the (new) target or token request; `None` for open reads and static mode.
    pub grant: Option<Grant>,
    /// UPDATE only: the grant for the stored object (R5.9).
    pub old_grant: Option<Grant>,
    /// UPDATE denials: `"old"` or `"new"` — the side that was not granted.
    pub denied_side: Option<&'static str>,
    /// Denials: labels of target elements no applicable rule covers (R5.6).
    pub uncovered: Vec<String>,
    pub reason: Option<Reason>,
    /// Candidate rules examined for this decision.
    pub examined: usize,
}

impl Decision {
    pub fn allow(grant: Option<Grant>) -> Decision {
        Decision {
            allowed: true,
            grant,
            ..Decision::default()
        }
    }

    pub fn deny(reason: Reason) -> Decision {
        Decision {
            allowed: false,
            reason: Some(reason),
            ..Decision::default()
        }
    }
}

type Key = (Access, u32);

#[derive(Debug)]
pub struct PolicySet {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
    /// Per binding: resolved role ids (missing names skipped, A14).
    binding_roles: Vec<Vec<u32>>,
    by_user: HashMap<String, Vec<u32>>,
    by_group: HashMap<String, Vec<u32>>,
    type_ids: HashMap<String, u32>,
    role_index: Vec<HashMap<Key, Vec<u32>>>,
    global_index: HashMap<Key, Vec<(u32, u32)>>,
    examined: AtomicU64,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl PolicySet {
    /// Compile. Duplicate role or binding names are an error (A14).
    pub fn compile(roles: Vec<Role>, bindings: Vec<Binding>) -> Result<PolicySet, String> {
        let mut role_ids: HashMap<String, u32> = HashMap::new();
        for (i, r) in roles.iter().enumerate() {
            if role_ids.insert(r.name.clone(), i as u32).is_some() {
                return Err(format!("duplicate AccessRole name {:?} (A14)", r.name));
            }
        }
        let mut seen = HashMap::new();
        for b in &bindings {
            if seen.insert(b.name.clone(), ()).is_some() {
                return Err(format!(
                    "duplicate AccessRoleBinding name {:?} (A14)",
                    b.name
                ));
            }
        }
        let mut by_user: HashMap<String, Vec<u32>> = HashMap::new();
        let mut by_group: HashMap<String, Vec<u32>> = HashMap::new();
        let mut binding_roles = Vec::with_capacity(bindings.len());
        for (bi, b) in bindings.iter().enumerate() {
            for u in &b.subjects.users {
                push_unique(by_user.entry(u.clone()).or_default(), bi as u32);
            }
            for g in &b.subjects.groups {
                push_unique(by_group.entry(g.clone()).or_default(), bi as u32);
            }
            binding_roles.push(
                b.roles
                    .iter()
                    .filter_map(|n| role_ids.get(n).copied())
                    .collect(),
            );
        }
        let mut type_ids: HashMap<String, u32> = HashMap::new();
        let mut role_index = Vec::with_capacity(roles.len());
        let mut global_index: HashMap<Key, Vec<(u32, u32)>> = HashMap::new();
        for (ri, role) in roles.iter().enumerate() {
            let mut idx: HashMap<Key, Vec<u32>> = HashMap::new();
            for (ki, rule) in role.rules.iter().enumerate() {
                for a in rule.accesses() {
                    // A9 / A16: `types` do not restrict token and VIEW_* actions.
                    let keys: Vec<u32> = if !a.is_resource() || rule.types.is_empty() {
                        vec![ANY_TYPE]
                    } else {
                        let mut ks: Vec<u32> = rule
                            .types
                            .iter()
                            .map(|t| {
                                let n = type_ids.len() as u32;
                                *type_ids.entry(t.clone()).or_insert(n)
                            })
                            .collect();
                        ks.sort_unstable();
                        ks.dedup();
                        ks
                    };
                    for k in keys {
                        idx.entry((a, k)).or_default().push(ki as u32);
                        global_index
                            .entry((a, k))
                            .or_default()
                            .push((ri as u32, ki as u32));
                    }
                }
            }
            role_index.push(idx);
        }
        Ok(PolicySet {
            roles,
            bindings,
            binding_roles,
            by_user,
            by_group,
            type_ids,
            role_index,
            global_index,
            examined: AtomicU64::new(0),
        })
    }

    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Total candidate rules examined by every check so far (index test, benchmarks).
    pub fn examined_total(&self) -> u64 {
        self.examined.load(Ordering::Relaxed)
    }

    pub fn rule_count(&self) -> usize {
        self.roles.iter().map(|r| r.rules.len()).sum()
    }

    /// R5.2: the user's roles as `(role id, first binding id)`, sorted by role id.
    pub fn user_roles(&self, user: &User) -> Vec<(u32, u32)> {
        let mut bs: Vec<u32> = Vec::new();
        if let Some(v) = self.by_user.get(&user.name) {
            bs.extend_from_slice(v);
        }
        for g in &user.groups {
            if let Some(v) = self.by_group.get(g) {
                bs.extend_from_slice(v);
            }
        }
        bs.sort_unstable();
        bs.dedup();
        let mut out: Vec<(u32, u32)> = bs
            .iter()
            .flat_map(|&b| self.binding_roles[b as usize].iter().map(move |&r| (r, b)))
            .collect();
        out.sort_unstable();
        out.dedup_by_key(|x| x.0);
        out
    }

    fn type_key(&self, type_name: Option<&str>) -> Option<u32> {
        type_name.and_then(|t| self.type_ids.get(t).copied())
    }

    /// The first `(role, rule)` (by load order) among the user's candidate rules for `access`
    /// (and `type_name` when given) that satisfies `pred`.
    fn find<F: Fn(&Rule) -> bool>(
        &self,
        user_roles: &[(u32, u32)],
        access: Access,
        type_name: Option<&str>,
        pred: F,
    ) -> (Option<(u32, u32, u32)>, usize) {
        let tk = self.type_key(type_name);
        let mut examined = 0usize;
        let empty: Vec<(u32, u32)> = Vec::new();
        let g_typed = tk
            .and_then(|t| self.global_index.get(&(access, t)))
            .unwrap_or(&empty);
        let g_any = self.global_index.get(&(access, ANY_TYPE)).unwrap_or(&empty);
        let result = if 2 * user_roles.len() <= g_typed.len() + g_any.len() {
            // Few roles: walk the user's roles in order, each through its own index.
            let mut found = None;
            for &(r, b) in user_roles {
                let idx = &self.role_index[r as usize];
                let mut best: Option<u32> = None;
                for bucket in [
                    tk.and_then(|t| idx.get(&(access, t))),
                    idx.get(&(access, ANY_TYPE)),
                ]
                .into_iter()
                .flatten()
                {
                    for &k in bucket {
                        if best.is_some_and(|x| x < k) {
                            continue;
                        }
                        examined += 1;
                        if pred(&self.roles[r as usize].rules[k as usize]) {
                            best = Some(k);
                        }
                    }
                }
                if let Some(k) = best {
                    found = Some((r, k, b));
                    break;
                }
            }
            found
        } else {
            // Many roles: walk the global candidate lists, filtering by role membership.
            let mut best: Option<(u32, u32, u32)> = None;
            for bucket in [g_typed, g_any] {
                for &(r, k) in bucket {
                    if best.is_some_and(|(br, bk, _)| (br, bk) < (r, k)) {
                        continue;
                    }
                    let Ok(pos) = user_roles.binary_search_by_key(&r, |x| x.0) else {
                        continue;
                    };
                    examined += 1;
                    if pred(&self.roles[r as usize].rules[k as usize]) {
                        best = Some((r, k, user_roles[pos].1));
                    }
                }
            }
            best
        };
        self.examined.fetch_add(examined as u64, Ordering::Relaxed);
        (result, examined)
    }

    fn grant_of(&self, found: (u32, u32, u32), access: Access) -> Grant {
        Grant {
            role: self.roles[found.0 as usize].name.clone(),
            binding: self.bindings[found.2 as usize].name.clone(),
            rule: found.1 as usize,
            access,
        }
    }

    /// R5.4 for one resource action; on denial, the elements no applicable rule covers.
    fn check_resource(
        &self,
        roles: &[(u32, u32)],
        access: Access,
        target: &Target,
        d: &mut Decision,
    ) -> Option<Grant> {
        let (found, n) = self.find(roles, access, Some(&target.type_name), |r| {
            r.grants_resource(access, target)
        });
        d.examined += n;
        if let Some(f) = found {
            return Some(self.grant_of(f, access));
        }
        // Denied: explain coverage over the applicable rules that have qualifiers.
        let mut covered = vec![false; target.elements.len()];
        let mut any = false;
        for &(r, _) in roles {
            for rule in &self.roles[r as usize].rules {
                if rule.has(access) && rule.applies(target) && !rule.when.is_empty() {
                    any = true;
                    for (c, e) in covered.iter_mut().zip(covered_elements(&rule.when, target)) {
                        *c |= e;
                    }
                }
            }
        }
        if any {
            if target.family == Family::None {
                d.uncovered.push(format!(
                    "{} has no section a qualifier can match (A7)",
                    target.type_name
                ));
            }
            for (i, c) in covered.iter().enumerate() {
                if !c {
                    push_unique(&mut d.uncovered, target.labels[i].clone());
                }
            }
        }
        None
    }

    /// The RBAC decision (§5). `static_admin` serves `SecretReads::StaticAdmin`.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &self,
        user: &User,
        action: Action,
        target: Option<&Target>,
        old: Option<&Target>,
        token: Option<&TokenRequest>,
        secret_reads: SecretReads,
        static_admin: &Subjects,
    ) -> Result<Decision, String> {
        let roles = self.user_roles(user);
        let mut d = Decision::default();
        let deny = |mut d: Decision| {
            d.allowed = false;
            d.reason = Some(Reason::CannotAccessResource);
            Ok(d)
        };
        match action {
            Action::Get | Action::List => {
                let t = target.ok_or("GET/LIST needs a resource")?;
                if !matches!(t.type_name.as_str(), "Secret" | "GlobalSecret") {
                    return Ok(Decision::allow(None)); // R3.1
                }
                match secret_reads {
                    SecretReads::Open => Ok(Decision::allow(None)),
                    SecretReads::StaticAdmin => {
                        if static_admin.matches(user) {
                            Ok(Decision::allow(None))
                        } else {
                            deny(d)
                        }
                    }
                    SecretReads::Rbac => {
                        // A12: any write grant on the object implies reading it; LIST needs it unnamed.
                        let list = action == Action::List;
                        for a in [Access::Create, Access::Update, Access::Delete] {
                            let (found, n) = self.find(&roles, a, Some(&t.type_name), |r| {
                                (!list || r.names.is_empty()) && r.grants_resource(a, t)
                            });
                            d.examined += n;
                            if let Some(f) = found {
                                d.allowed = true;
                                d.grant = Some(self.grant_of(f, a));
                                return Ok(d);
                            }
                        }
                        deny(d)
                    }
                }
            }
            Action::Access(a) if a.is_resource() => {
                let t = target.ok_or_else(|| format!("{} needs a resource", a.as_str()))?;
                if a == Access::Update {
                    // R5.9 / A10: both stored and new object must be granted UPDATE.
                    let o = old.ok_or("UPDATE needs old_resource (the stored object, A10)")?;
                    if (&o.type_name, &o.mesh, &o.name) != (&t.type_name, &t.mesh, &t.name) {
                        return Err(format!(
                            "UPDATE must keep type, mesh and name (R5.9): stored {} {:?}/{} vs new {} {:?}/{}",
                            o.type_name, o.mesh, o.name, t.type_name, t.mesh, t.name
                        ));
                    }
                    match self.check_resource(&roles, a, o, &mut d) {
                        Some(g) => d.old_grant = Some(g),
                        None => {
                            d.denied_side = Some("old");
                            return deny(d);
                        }
                    }
                    match self.check_resource(&roles, a, t, &mut d) {
                        Some(g) => d.grant = Some(g),
                        None => {
                            d.denied_side = Some("new");
                            return deny(d);
                        }
                    }
                    d.allowed = true;
                    return Ok(d);
                }
                match self.check_resource(&roles, a, t, &mut d) {
                    Some(g) => {
                        d.allowed = true;
                        d.grant = Some(g);
                        Ok(d)
                    }
                    None => deny(d),
                }
            }
            Action::Access(a) if a.is_token() => {
                let req = token.ok_or_else(|| format!("{} needs a token request", a.as_str()))?;
                if req.access() != a {
                    return Err(format!("token request does not fit {}", a.as_str()));
                }
                let (found, n) = self.find(&roles, a, None, |r| r.grants_token(req));
                d.examined += n;
                match found {
                    Some(f) => {
                        d.allowed = true;
                        d.grant = Some(self.grant_of(f, a));
                        Ok(d)
                    }
                    None => deny(d), // A13: same text as R8.2
                }
            }
            Action::Access(a) => {
                let t = target
                    .ok_or_else(|| format!("{} needs the inspected dataplane", a.as_str()))?;
                let (found, n) = self.find(&roles, a, None, |r| r.grants_view(a, t));
                d.examined += n;
                match found {
                    Some(f) => {
                        d.allowed = true;
                        d.grant = Some(self.grant_of(f, a));
                        Ok(d)
                    }
                    None => deny(d),
                }
            }
        }
    }
}
