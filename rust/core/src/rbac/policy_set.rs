//! The compiled, immutable RBAC policy set (R5.1–R5.3, R5.9–R5.13, A10, A12, A14).
//!
//! Rules are indexed by `(access, type)` (token and VIEW_* rules under "any type", A9/A16), both
//! per role and globally, so a check only examines rules that could grant its action on its type.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use super::coverage::covered_elements;
use super::error::{CheckError, InputError};
use super::identity::{Subjects, User};
use super::message::Reason;
use super::rule::{Access, Rule, TokenRequest};
use super::target::{Family, Target};
use ahash::AHashMap as FastMap;

pub const ANY_TYPE: u32 = u32::MAX;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Role {
    pub name: String,
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Binding {
    pub name: String,
    pub subjects: Subjects,
    pub roles: Vec<String>,
}

/// What is being done: an access value, or a read (R3.1, R5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "GET",
            Action::List => "LIST",
            Action::Access(a) => a.as_str(),
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

/// Which role / binding / rule granted: ids into [`PolicySet::roles`] / [`PolicySet::bindings`]
/// (names via [`PolicySet::role_name`] / [`PolicySet::binding_name`]; no per-check copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub role: u32,
    pub binding: u32,
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
    // R5.6 uncovered elements are not computed here: a denial explains itself on demand through
    // `PolicySet::uncovered` (lazy; most denials are never explained).
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

/// The per-role `(access, type)` rule index, flattened into three contiguous arrays (a check
/// touches a few cache lines, not one hash table per role): role `r`'s keys are
/// `keys[spans[r]]`, sorted; each key's rule ids are `rules[start..end]`, in load order.
#[derive(Debug, Default)]
struct RoleIndex {
    spans: Vec<(u32, u32)>,
    keys: Vec<(Key, u32, u32)>,
    rules: Vec<u32>,
}

impl RoleIndex {
    fn push(&mut self, idx: FastMap<Key, Vec<u32>>) {
        let start = self.keys.len() as u32;
        let mut entries: Vec<(Key, Vec<u32>)> = idx.into_iter().collect();
        entries.sort_unstable_by_key(|e| e.0);
        for (key, ids) in entries {
            let a = self.rules.len() as u32;
            self.rules.extend(ids);
            self.keys.push((key, a, self.rules.len() as u32));
        }
        self.spans.push((start, self.keys.len() as u32));
    }

    fn shrink(&mut self) {
        self.spans.shrink_to_fit();
        self.keys.shrink_to_fit();
        self.rules.shrink_to_fit();
    }

    /// The rule ids of role `r` indexed under `key` (load order).
    fn get(&self, r: u32, key: Key) -> &[u32] {
        let Some(&(s, e)) = self.spans.get(r as usize) else {
            return &[];
        };
        let keys = self.keys.get(s as usize..e as usize).unwrap_or_default();
        match keys.binary_search_by(|(k, _, _)| k.cmp(&key)) {
            Ok(i) => keys
                .get(i)
                .and_then(|&(_, a, b)| self.rules.get(a as usize..b as usize))
                .unwrap_or_default(),
            Err(_) => &[],
        }
    }
}

/// R5.2: the roles a user holds, as the precomputed `(role id, first binding id)` lists (sorted by
/// role id) of each subject that matches them (user name, then each group). One list is used in
/// place; several are merged only when a walk in role order needs it.
#[derive(Debug, Default)]
pub struct HeldRoles<'a> {
    lists: Inline<&'a [(u32, u32)]>,
}

/// Up to 4 items inline, then spilled: a check allocates nothing for the usual few subjects.
#[derive(Debug)]
struct Inline<T: Copy> {
    inline: [Option<T>; 4],
    n: usize,
    spill: Vec<T>,
}

impl<T: Copy> Default for Inline<T> {
    fn default() -> Self {
        Inline {
            inline: [None; 4],
            n: 0,
            spill: Vec::new(),
        }
    }
}

impl<T: Copy> Inline<T> {
    fn push(&mut self, x: T) {
        if let Some(slot) = self.inline.get_mut(self.n) {
            *slot = Some(x);
        } else {
            if self.spill.is_empty() {
                self.spill.extend(self.inline.iter().flatten());
            }
            self.spill.push(x);
        }
        self.n += 1;
    }

    fn iter(&self) -> impl Iterator<Item = T> + '_ {
        // `push` fills the slots in order, so the slots from `n` on are `None`
        let (a, b): (&[Option<T>], &[T]) = if self.n <= self.inline.len() {
            (&self.inline, &[])
        } else {
            (&[], &self.spill)
        };
        a.iter().flatten().copied().chain(b.iter().copied())
    }
}

impl<'a> HeldRoles<'a> {
    /// Upper bound of the number of held roles (exact with one matching subject).
    fn len_hint(&self) -> usize {
        self.lists.iter().map(|l| l.len()).sum()
    }

    /// R5.2: the first binding (by load order) that gives role `r`, if the user holds it.
    #[inline]
    fn binding_of(&self, r: u32) -> Option<u32> {
        let mut best: Option<u32> = None;
        for l in self.lists.iter() {
            let found = l
                .binary_search_by_key(&r, |x| x.0)
                .ok()
                .and_then(|p| l.get(p));
            if let Some(&(_, b)) = found {
                if best.is_none_or(|x| b < x) {
                    best = Some(b);
                }
            }
        }
        best
    }

    /// All held roles in role-id order, each with its first binding.
    fn merged(&self) -> Cow<'a, [(u32, u32)]> {
        let mut lists = self.lists.iter();
        match (self.lists.n, lists.next()) {
            (_, None) => Cow::Borrowed(&[]),
            (1, Some(one)) => Cow::Borrowed(one),
            (_, Some(first)) => {
                let mut acc: Vec<(u32, u32)> = first.to_vec();
                for l in lists {
                    let mut out = Vec::with_capacity(acc.len() + l.len());
                    let (mut xs, mut ys) = (acc.as_slice(), l);
                    while let (Some((&a, a_rest)), Some((&b, b_rest))) =
                        (xs.split_first(), ys.split_first())
                    {
                        match a.0.cmp(&b.0) {
                            std::cmp::Ordering::Less => {
                                out.push(a);
                                xs = a_rest;
                            }
                            std::cmp::Ordering::Greater => {
                                out.push(b);
                                ys = b_rest;
                            }
                            std::cmp::Ordering::Equal => {
                                out.push((a.0, a.1.min(b.1)));
                                xs = a_rest;
                                ys = b_rest;
                            }
                        }
                    }
                    out.extend_from_slice(xs);
                    out.extend_from_slice(ys);
                    acc = out;
                }
                Cow::Owned(acc)
            }
        }
    }
}

#[derive(Debug)]
pub struct PolicySet {
    roles: Vec<Role>,
    bindings: Vec<Binding>,
    /// R5.1 subjects interned at compile time: name → index into `subject_roles`.
    by_user: FastMap<Box<str>, u32>,
    by_group: FastMap<Box<str>, u32>,
    /// Per subject: `(role id, first binding id)` sorted by role id (R5.2).
    subject_roles: Vec<Vec<(u32, u32)>>,
    /// Per subject: the bindings naming it, in load order (reverse queries).
    subject_bindings: Vec<Vec<u32>>,
    type_ids: FastMap<String, u32>,
    /// `type_ids` by kind-registry index (`Target::kind`).
    kind_type_ids: Vec<Option<u32>>,
    role_index: RoleIndex,
    global_index: FastMap<Key, Vec<(u32, u32)>>,
    examined: AtomicU64,
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

impl PolicySet {
    /// Compile. Duplicate role or binding names are an error (A14).
    pub fn compile(roles: Vec<Role>, bindings: Vec<Binding>) -> Result<PolicySet, InputError> {
        // Borrowed keys, fast hashing: compiling is on the load path (issue #13).
        let mut role_ids: FastMap<&str, u32> = FastMap::default();
        for (i, r) in roles.iter().enumerate() {
            if role_ids.insert(r.name.as_str(), i as u32).is_some() {
                return Err(InputError::Duplicate {
                    kind: "AccessRole",
                    name: r.name.clone(),
                });
            }
        }
        let mut seen: FastMap<&str, ()> = FastMap::default();
        for b in &bindings {
            if seen.insert(b.name.as_str(), ()).is_some() {
                return Err(InputError::Duplicate {
                    kind: "AccessRoleBinding",
                    name: b.name.clone(),
                });
            }
        }
        // Per binding: resolved role ids (missing names skipped, A14).
        let mut binding_roles: Vec<Vec<u32>> = Vec::with_capacity(bindings.len());
        for b in &bindings {
            binding_roles.push(
                b.roles
                    .iter()
                    .filter_map(|n| role_ids.get(n.as_str()).copied())
                    .collect(),
            );
        }
        // R5.1 / R5.2: intern every subject and precompute the roles it gives, each with the
        // first binding (load order) that gives it.
        let mut by_user: FastMap<Box<str>, u32> = FastMap::default();
        let mut by_group: FastMap<Box<str>, u32> = FastMap::default();
        let mut subject_roles: Vec<Vec<(u32, u32)>> = Vec::new();
        let mut subject_bindings: Vec<Vec<u32>> = Vec::new();
        for (bi, (b, roles_given)) in bindings.iter().zip(&binding_roles).enumerate() {
            let mut subjects: Vec<u32> = Vec::new();
            for (map, names) in [
                (&mut by_user, &b.subjects.users),
                (&mut by_group, &b.subjects.groups),
            ] {
                for name in names {
                    let id = match map.get(name.as_str()) {
                        Some(&id) => id,
                        None => {
                            let n = subject_roles.len() as u32;
                            map.insert(name.as_str().into(), n);
                            subject_roles.push(Vec::new());
                            subject_bindings.push(Vec::new());
                            n
                        }
                    };
                    subjects.push(id);
                }
            }
            for s in subjects {
                // ids are allocated with their two entries just above: always found (were one
                // not, that subject would hold fewer roles: less access, never more)
                let (Some(sb), Some(held)) = (
                    subject_bindings.get_mut(s as usize),
                    subject_roles.get_mut(s as usize),
                ) else {
                    continue;
                };
                if sb.last() != Some(&(bi as u32)) {
                    sb.push(bi as u32);
                }
                for &r in roles_given {
                    // Bindings are visited in load order: the first one to give `r` stays.
                    if !held.iter().any(|x| x.0 == r) {
                        held.push((r, bi as u32));
                    }
                }
            }
        }
        for held in &mut subject_roles {
            held.sort_unstable();
        }
        let mut type_ids: FastMap<String, u32> = FastMap::default();
        let mut role_index = RoleIndex::default();
        let mut global_index: FastMap<Key, Vec<(u32, u32)>> = FastMap::default();
        for (ri, role) in roles.iter().enumerate() {
            let mut idx: FastMap<Key, Vec<u32>> = FastMap::default();
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
        role_index.shrink();
        let kind_type_ids = super::kinds::KINDS
            .iter()
            .map(|k| type_ids.get(k.name).copied())
            .collect();
        Ok(PolicySet {
            roles,
            bindings,
            by_user,
            by_group,
            subject_roles,
            subject_bindings,
            type_ids,
            kind_type_ids,
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

    /// The id of the role named `name`.
    pub fn role_id(&self, name: &str) -> Option<u32> {
        self.roles
            .iter()
            .position(|r| r.name == name)
            .map(|i| i as u32)
    }

    /// The bindings naming subject `s` (load order).
    pub fn subject_bindings(&self, s: u32) -> &[u32] {
        self.subject_bindings
            .get(s as usize)
            .map_or(&[], Vec::as_slice)
    }

    /// The name of role `id` (`""` for an id this set never handed out).
    pub fn role_name(&self, id: u32) -> &str {
        self.roles.get(id as usize).map_or("", |r| r.name.as_str())
    }

    /// The name of binding `id` (`""` for an id this set never handed out).
    pub fn binding_name(&self, id: u32) -> &str {
        self.bindings
            .get(id as usize)
            .map_or("", |b| b.name.as_str())
    }

    /// R5.1: the subject id of a `User` subject name (exact, case-sensitive).
    #[inline]
    pub fn user_subject(&self, name: &str) -> Option<u32> {
        self.by_user.get(name).copied()
    }

    /// Every `User` subject name with its subject id (each once, no order).
    pub fn user_subjects(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_user.iter().map(|(k, v)| (&**k, *v))
    }

    /// Every `Group` subject name with its subject id (each once, no order).
    pub fn group_subjects(&self) -> impl Iterator<Item = (&str, u32)> {
        self.by_group.iter().map(|(k, v)| (&**k, *v))
    }

    /// R5.1: the subject id of a `Group` subject name.
    #[inline]
    pub fn group_subject(&self, group: &str) -> Option<u32> {
        self.by_group.get(group).copied()
    }

    /// R5.2: the roles held through the given subject ids (see `user_subject` / `group_subject`).
    pub fn held_roles(&self, subjects: &[u32]) -> HeldRoles<'_> {
        self.held(subjects.iter().copied())
    }

    fn held(&self, subjects: impl IntoIterator<Item = u32>) -> HeldRoles<'_> {
        let mut lists: Inline<&[(u32, u32)]> = Inline::default();
        for s in subjects {
            // an unknown subject id holds no role (less access, never more)
            let l = self
                .subject_roles
                .get(s as usize)
                .map_or(&[][..], Vec::as_slice);
            if !l.is_empty() && !lists.iter().any(|x| std::ptr::eq(x, l)) {
                lists.push(l);
            }
        }
        HeldRoles { lists }
    }

    /// R5.1 / R5.2: the roles `user` holds (name, then each group).
    pub fn roles_of<'s, I: IntoIterator<Item = &'s str>>(
        &self,
        name: &str,
        groups: I,
    ) -> HeldRoles<'_> {
        let user = self.user_subject(name);
        self.held(
            user.into_iter()
                .chain(groups.into_iter().filter_map(|g| self.group_subject(g))),
        )
    }

    /// R5.2: the user's roles as `(role id, first binding id)`, sorted by role id.
    pub fn user_roles(&self, user: &User) -> Vec<(u32, u32)> {
        self.roles_of(&user.name, user.groups.iter().map(String::as_str))
            .merged()
            .into_owned()
    }

    /// The type id of a target: through its kind-registry index when known (no hashing per
    /// check), else by name.
    fn type_key(&self, target: Option<&Target>) -> Option<u32> {
        let t = target?;
        match t.kind {
            Some(k) => self.kind_type_ids.get(k as usize).copied().flatten(),
            None => self.type_ids.get(t.type_name.as_str()).copied(),
        }
    }

    /// The first `(role, rule)` (by load order) among the user's candidate rules for `access`
    /// (and `type_name` when given) that satisfies `pred`.
    fn find<F: Fn(&Rule) -> bool>(
        &self,
        held: &HeldRoles<'_>,
        access: Access,
        target: Option<&Target>,
        pred: F,
    ) -> (Option<(u32, u32, u32)>, usize) {
        let tk = self.type_key(target);
        let mut examined = 0usize;
        let empty: Vec<(u32, u32)> = Vec::new();
        let g_typed = tk
            .and_then(|t| self.global_index.get(&(access, t)))
            .unwrap_or(&empty);
        let g_any = self.global_index.get(&(access, ANY_TYPE)).unwrap_or(&empty);
        let result = if 2 * held.len_hint() <= g_typed.len() + g_any.len() {
            // Few roles: walk the user's roles in order, each through its own index.
            let user_roles = held.merged();
            let mut found = None;
            for &(r, b) in user_roles.iter() {
                let mut best: Option<u32> = None;
                let typed = tk.map_or(&[][..], |t| self.role_index.get(r, (access, t)));
                for bucket in [typed, self.role_index.get(r, (access, ANY_TYPE))] {
                    for &k in bucket {
                        if best.is_some_and(|x| x < k) {
                            continue;
                        }
                        examined += 1;
                        if self.rule(r, k).is_some_and(&pred) {
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
                    let Some(b) = held.binding_of(r) else {
                        continue;
                    };
                    examined += 1;
                    if self.rule(r, k).is_some_and(&pred) {
                        best = Some((r, k, b));
                    }
                }
            }
            best
        };
        if examined > 0 {
            self.examined.fetch_add(examined as u64, Ordering::Relaxed);
        }
        (result, examined)
    }

    /// Rule `k` of role `r` (the index's ids always name one; None grants nothing).
    #[inline]
    fn rule(&self, r: u32, k: u32) -> Option<&Rule> {
        self.roles.get(r as usize)?.rules.get(k as usize)
    }

    fn grant_of(&self, found: (u32, u32, u32), access: Access) -> Grant {
        Grant {
            role: found.0,
            binding: found.2,
            rule: found.1 as usize,
            access,
        }
    }

    /// R5.4 for one resource action.
    fn check_resource(
        &self,
        roles: &HeldRoles<'_>,
        access: Access,
        target: &Target,
        d: &mut Decision,
    ) -> Option<Grant> {
        // The (access, type) index guarantees R5.4 items 1-2 for every candidate.
        let (found, n) = self.find(roles, access, Some(target), |r| r.grants_indexed(target));
        d.examined += n;
        found.map(|f| self.grant_of(f, access))
    }

    /// R5.6, on demand: for a denied resource `access` on `target` (for UPDATE the side named by
    /// `Decision::denied_side`), the labels of the elements no applicable rule of the user's
    /// roles covers. Empty when no applicable rule has qualifiers.
    pub fn uncovered(&self, roles: &HeldRoles<'_>, access: Access, target: &Target) -> Vec<String> {
        let mut out = Vec::new();
        let mut covered = vec![false; target.elements.len()];
        let mut any = false;
        for &(r, _) in roles.merged().iter() {
            let rules = self
                .roles
                .get(r as usize)
                .map_or(&[][..], |role| &role.rules);
            for rule in rules {
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
                out.push(format!(
                    "{} has no section a qualifier can match (A7)",
                    target.type_name
                ));
            }
            for (c, label) in covered.iter().zip(target.labels()) {
                if !c {
                    push_unique(&mut out, label);
                }
            }
        }
        out
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
    ) -> Result<Decision, CheckError> {
        let roles = self.roles_of(&user.name, user.groups.iter().map(String::as_str));
        self.decide(
            &roles,
            || static_admin.matches(user),
            action,
            target,
            old,
            token,
            secret_reads,
        )
    }

    /// §5 for a user given by the roles they hold (`roles_of` / `held_roles`);
    /// `is_static_admin` answers A12 `SecretReads::StaticAdmin` (asked only then).
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        &self,
        roles: &HeldRoles<'_>,
        is_static_admin: impl FnOnce() -> bool,
        action: Action,
        target: Option<&Target>,
        old: Option<&Target>,
        token: Option<&TokenRequest>,
        secret_reads: SecretReads,
    ) -> Result<Decision, CheckError> {
        let mut d = Decision::default();
        let deny = |mut d: Decision| {
            d.allowed = false;
            d.reason = Some(Reason::CannotAccessResource);
            Ok(d)
        };
        match action {
            Action::Get | Action::List => {
                let t = target.ok_or(CheckError::MissingResource(action.as_str()))?;
                if !matches!(t.type_name.as_str(), "Secret" | "GlobalSecret") {
                    return Ok(Decision::allow(None)); // R3.1
                }
                match secret_reads {
                    SecretReads::Open => Ok(Decision::allow(None)),
                    SecretReads::StaticAdmin => {
                        if is_static_admin() {
                            Ok(Decision::allow(None))
                        } else {
                            deny(d)
                        }
                    }
                    SecretReads::Rbac => {
                        // A12: any write grant on the object implies reading it; LIST needs it unnamed.
                        let list = action == Action::List;
                        for a in [Access::Create, Access::Update, Access::Delete] {
                            let (found, n) = self.find(roles, a, Some(t), |r| {
                                (!list || r.names.is_empty()) && r.grants_indexed(t)
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
                let t = target.ok_or(CheckError::MissingResource(a.as_str()))?;
                if a == Access::Update {
                    // R5.9 / A10: both stored and new object must be granted UPDATE.
                    let o = old.ok_or(CheckError::MissingOld)?;
                    if (&o.type_name, &o.mesh, &o.name) != (&t.type_name, &t.mesh, &t.name) {
                        return Err(CheckError::IdentityChanged {
                            stored: o.label(),
                            new: t.label(),
                        });
                    }
                    match self.check_resource(roles, a, o, &mut d) {
                        Some(g) => d.old_grant = Some(g),
                        None => {
                            d.denied_side = Some("old");
                            return deny(d);
                        }
                    }
                    match self.check_resource(roles, a, t, &mut d) {
                        Some(g) => d.grant = Some(g),
                        None => {
                            d.denied_side = Some("new");
                            return deny(d);
                        }
                    }
                    d.allowed = true;
                    return Ok(d);
                }
                match self.check_resource(roles, a, t, &mut d) {
                    Some(g) => {
                        d.allowed = true;
                        d.grant = Some(g);
                        Ok(d)
                    }
                    None => deny(d),
                }
            }
            Action::Access(a) if a.is_token() => {
                let req = token.ok_or(CheckError::MissingTokenRequest(a))?;
                if req.access() != a {
                    return Err(CheckError::TokenMismatch(a));
                }
                let (found, n) = self.find(roles, a, None, |r| r.grants_token(req));
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
                let t = target.ok_or(CheckError::MissingResource(a.as_str()))?;
                let (found, n) = self.find(roles, a, None, |r| r.grants_view(a, t));
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
