//! One batch row (issue #11 item 4, #12 item 4): the same decision as a single check, or an
//! `error:*` code for a row that cannot be decided. The bindings only convert columns into
//! [`Row`]s; every row rule lives here.

use super::error::RowError;
use super::identity::User;
use super::message::ReasonCode;
use super::policy_set::Action;
use super::rule::TokenRequest;
use super::target::Target;
use super::Engine;

/// A row's target (resource or stored object): absent, converted, or unconvertible.
#[derive(Debug, Clone, Copy)]
pub enum Slot<'a> {
    Absent,
    Target(&'a Target),
    Bad,
}

/// A row's token request: absent (`{}` as in `check`), converted, or unconvertible.
#[derive(Debug, Clone, Copy)]
pub enum TokenSlot<'a> {
    Absent,
    Request(&'a TokenRequest),
    Bad,
}

/// One row, borrowed from the input columns.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    /// `None` = null or missing (an error, as in `check`).
    pub user: Option<&'a str>,
    /// `Err` = the groups cell could not be read. The texts are read for R5.1 when `subjects`
    /// is `None`, and for the user's text when [`Engine::needs_user_text`]; otherwise they may
    /// be left empty.
    pub groups: Result<&'a [&'a str], ()>,
    /// `None` = null, missing or not an action (`Action::parse`).
    pub action: Option<Action>,
    /// The user's R5.1 subject ids when the caller resolved them already (a batch resolves each
    /// distinct user / group once); `None` = resolve `user` and `groups` here.
    pub subjects: Option<&'a [u32]>,
    pub resource: Slot<'a>,
    pub old: Slot<'a>,
    pub token: TokenSlot<'a>,
}

/// The outcome of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowOutcome {
    pub allowed: bool,
    pub code: Result<ReasonCode, RowError>,
    /// The granting role (for UPDATE: of the new object).
    pub role: Option<u32>,
}

impl RowOutcome {
    pub fn error(e: RowError) -> RowOutcome {
        RowOutcome {
            allowed: false,
            code: Err(e),
            role: None,
        }
    }
}

fn slot(s: Slot<'_>, bad: RowError) -> Result<Option<&Target>, RowError> {
    match s {
        Slot::Absent => Ok(None),
        Slot::Target(t) => Ok(Some(t)),
        Slot::Bad => Err(bad),
    }
}

/// Decide one row. `ids` is scratch space for the user's subject ids (reused across rows).
pub fn decide_row(engine: &Engine, row: &Row<'_>, ids: &mut Vec<u32>) -> RowOutcome {
    match try_row(engine, row, ids, None) {
        Ok(o) => o,
        Err(e) => RowOutcome::error(e),
    }
}

/// Identifies a row's targets for [`RowMemo`]: equal keys within one memo mean equal targets
/// (the bindings use the index of the converted target in their per-batch table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TargetKeys {
    pub resource: u32,
    pub old: u32,
}

/// Outcomes already decided in one batch (one memo per worker; issue #11 benchmarks: audit logs
/// repeat requests). A row's outcome is a function of its action, its user's R5.1 subject ids,
/// its targets and its token request; a memoized row is one whose outcome depends on nothing
/// else: not a token action (token rows are decided every time) and an engine that never reads
/// the user's text ([`Engine::needs_user_text`]: static mode and A12 static-admin reads do).
/// Rows that fail before deciding (bad cells) are never memoized; they fail the same way again.
/// The memo is bounded: cleared at [`RowMemo::CAPACITY`] users or 4× as many outcomes.
#[derive(Debug, Default)]
pub struct RowMemo {
    /// Subject-id lists longer than [`INLINE_IDS`] → a small id (so the outcome key is `Copy`).
    users: ahash::AHashMap<Vec<u32>, u32>,
    outcomes: ahash::AHashMap<(UserKey, Action, TargetKeys), RowOutcome>,
}

/// Subject-id lists up to this length are their own key (no interning lookup per row).
const INLINE_IDS: usize = 4;

/// A user's subject ids as a memo key: `[len, ids...]` (padded), or `[LONG, interned id, ..]`.
type UserKey = [u32; INLINE_IDS + 1];
const LONG: u32 = u32::MAX;

impl RowMemo {
    pub const CAPACITY: usize = 1 << 16;

    fn user_key(&mut self, ids: &[u32]) -> UserKey {
        let interned;
        let (head, tail) = if ids.len() <= INLINE_IDS {
            (ids.len() as u32, ids)
        } else {
            interned = [self.user(ids)];
            (LONG, interned.as_slice())
        };
        let mut k: UserKey = [0; INLINE_IDS + 1];
        for (slot, id) in k.iter_mut().zip(std::iter::once(&head).chain(tail)) {
            *slot = *id;
        }
        k
    }

    fn user(&mut self, ids: &[u32]) -> u32 {
        if let Some(&u) = self.users.get(ids) {
            return u;
        }
        if self.users.len() >= Self::CAPACITY {
            // A new numbering invalidates every outcome keyed by the old one.
            self.users.clear();
            self.outcomes.clear();
        }
        let u = self.users.len() as u32;
        self.users.insert(ids.to_vec(), u);
        u
    }
}

/// [`decide_row`] through `memo`: the same outcome, decided once per distinct
/// (subjects, action, targets) when the row qualifies (see [`RowMemo`]). `keys` must identify
/// the row's `resource` / `old` targets within this memo.
pub fn decide_row_memo(
    engine: &Engine,
    row: &Row<'_>,
    ids: &mut Vec<u32>,
    keys: TargetKeys,
    memo: &mut RowMemo,
) -> RowOutcome {
    let m = (!engine.needs_user_text()).then_some((memo, keys));
    match try_row(engine, row, ids, m) {
        Ok(o) => o,
        Err(e) => RowOutcome::error(e),
    }
}

fn try_row(
    engine: &Engine,
    row: &Row<'_>,
    ids: &mut Vec<u32>,
    memo: Option<(&mut RowMemo, TargetKeys)>,
) -> Result<RowOutcome, RowError> {
    let action = row.action.ok_or(RowError::UnknownAction)?;
    let name = row.user.ok_or(RowError::MissingUser)?;
    let groups = row.groups.map_err(|()| RowError::BadGroups)?;
    let target = slot(row.resource, RowError::BadResource)?;
    let old = slot(row.old, RowError::BadOldResource)?;
    let empty;
    let token = match (action, row.token) {
        (Action::Access(a), TokenSlot::Absent) if a.is_token() => {
            empty = TokenRequest::empty(a).ok_or(RowError::MissingTokenRequest)?;
            Some(&empty)
        }
        (Action::Access(a), TokenSlot::Request(r)) if a.is_token() => Some(r),
        (Action::Access(a), TokenSlot::Bad) if a.is_token() => {
            return Err(RowError::BadTokenRequest)
        }
        _ => None,
    };
    let ids: &[u32] = match row.subjects {
        Some(s) => s,
        None => {
            ids.clear();
            engine.subjects(name, groups.iter().copied(), ids);
            ids
        }
    };
    let user = || {
        Some(User {
            name: name.to_owned(),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        })
    };
    let decide = || {
        let d = engine
            .decide(ids, user, action, target, old, token)
            .map_err(|e| e.row_error());
        match d {
            Ok(d) => RowOutcome {
                allowed: d.allowed,
                code: Ok(d.code()),
                role: d.grant.map(|g| g.role),
            },
            Err(e) => RowOutcome::error(e),
        }
    };
    // Every cell was read above: from here the outcome depends only on the memo key.
    let outcome = match memo {
        Some((memo, keys)) if token.is_none() => {
            let key = (memo.user_key(ids), action, keys);
            match memo.outcomes.get(&key) {
                Some(&o) => o,
                None => {
                    let o = decide();
                    if memo.outcomes.len() >= 4 * RowMemo::CAPACITY {
                        memo.outcomes.clear();
                    }
                    memo.outcomes.insert(key, o);
                    o
                }
            }
        }
        _ => decide(),
    };
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::identity::Subjects;
    use crate::rbac::policy_set::{Binding, PolicySet, Role, SecretReads};
    use crate::rbac::rule::{Access, Rule};
    use crate::rbac::static_mode::StaticConfig;
    use crate::rbac::target::{Body, Scope};

    fn engine() -> Engine {
        let set = PolicySet::compile(
            vec![Role {
                name: "r".into(),
                rules: vec![Rule::new(
                    vec![],
                    vec![],
                    None,
                    &[Access::Create, Access::Update, Access::GenerateUserToken],
                    vec![],
                )],
            }],
            vec![Binding {
                name: "b".into(),
                subjects: Subjects::new(&[], &["g"]),
                roles: vec!["r".into()],
            }],
        )
        .unwrap();
        Engine::Rbac {
            set,
            secret_reads: SecretReads::Rbac,
            static_config: StaticConfig::default(),
        }
    }

    fn row<'a>(
        user: Option<&'a str>,
        groups: &'a [&'a str],
        action: &'a str,
        t: Slot<'a>,
    ) -> Row<'a> {
        Row {
            user,
            groups: Ok(groups),
            action: Action::parse(action),
            subjects: None,
            resource: t,
            old: Slot::Absent,
            token: TokenSlot::Absent,
        }
    }

    /// Issue #12 item 4: a null user is an error row, never an empty name allowed via groups.
    #[test]
    fn null_user_is_an_error_row() {
        let e = engine();
        let t = Target::new("Mesh", Scope::Global, None, "m", Body::None).unwrap();
        let mut ids = Vec::new();
        let ok = decide_row(
            &e,
            &row(Some("x"), &["g"], "CREATE", Slot::Target(&t)),
            &mut ids,
        );
        assert_eq!(ok.code, Ok(ReasonCode::Allowed));
        let bad = decide_row(&e, &row(None, &["g"], "CREATE", Slot::Target(&t)), &mut ids);
        assert_eq!((bad.allowed, bad.code), (false, Err(RowError::MissingUser)));
    }

    /// The memo never changes an outcome: every row decided through one memo (repeats, errors,
    /// UPDATE sides, token rows) equals the same row decided alone.
    #[test]
    fn memo_rows_equal_single_rows() {
        let e = engine();
        let a = Target::new("Mesh", Scope::Global, None, "a", Body::None).unwrap();
        let b = Target::new("Mesh", Scope::Global, None, "b", Body::None).unwrap();
        let targets = [Slot::Target(&a), Slot::Target(&b), Slot::Absent, Slot::Bad];
        let mut memo = RowMemo::default();
        let (mut ids, mut ids2) = (Vec::new(), Vec::new());
        let users: [(Option<&str>, &[&str]); 4] = [
            (Some("x"), &["g"]),
            (Some("x"), &[]),
            (None, &["g"]),
            (Some("y"), &["h", "g"]),
        ];
        let mut n = 0;
        for _ in 0..2 {
            for (user, groups) in users {
                for action in [
                    "CREATE",
                    "UPDATE",
                    "DELETE",
                    "GET",
                    "GENERATE_USER_TOKEN",
                    "bad",
                ] {
                    for (ri, r) in targets.iter().enumerate() {
                        for (oi, o) in targets.iter().enumerate() {
                            let row = Row {
                                old: *o,
                                ..row(user, groups, action, *r)
                            };
                            let keys = TargetKeys {
                                resource: ri as u32,
                                old: oi as u32,
                            };
                            let want = decide_row(&e, &row, &mut ids);
                            assert_eq!(decide_row_memo(&e, &row, &mut ids2, keys, &mut memo), want);
                            n += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(n, 2 * 4 * 6 * 16);
        assert!(!memo.outcomes.is_empty());
    }

    #[test]
    fn update_needs_old_and_tokens_are_batched() {
        let e = engine();
        let t = Target::new("Mesh", Scope::Global, None, "m", Body::None).unwrap();
        let mut ids = Vec::new();
        let r = row(Some("x"), &["g"], "UPDATE", Slot::Target(&t));
        assert_eq!(decide_row(&e, &r, &mut ids).code, Err(RowError::MissingOld));
        let with_old = Row {
            old: Slot::Target(&t),
            ..r
        };
        assert!(decide_row(&e, &with_old, &mut ids).allowed);
        let bad_old = Row {
            old: Slot::Bad,
            ..r
        };
        assert_eq!(
            decide_row(&e, &bad_old, &mut ids).code,
            Err(RowError::BadOldResource)
        );
        let tok = row(Some("x"), &["g"], "GENERATE_USER_TOKEN", Slot::Absent);
        assert!(decide_row(&e, &tok, &mut ids).allowed);
        let dp = row(Some("x"), &["g"], "GENERATE_DATAPLANE_TOKEN", Slot::Absent);
        assert_eq!(
            decide_row(&e, &dp, &mut ids).code,
            Err(RowError::MissingTokenRequest)
        );
    }
}
