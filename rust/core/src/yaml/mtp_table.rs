//! A compact, per-document table of MeshTrafficPermission compile inputs read from YAML (issue
//! #13, "resources that cost little"): the top targetRef and the `from` items of documents whose
//! Python body is not built, kept as interned string ids in one flat array (a few dozen bytes for
//! a policy of one `from` item) instead of dictionaries; rebuilt as the core's `MtpPolicy` parts
//! when an engine compiles.

use super::clean::{MtpInputs, MtpRef};
use super::interned::{Reader, Words};
use crate::mtp::{Action, FromItem, Labels, TargetRef};

/// MeshTrafficPermission inputs by document slot (the order documents were pushed). An entry: the
/// top reference, the `from` count, then per item its reference and action (0 Allow, 1 Deny, 2
/// AllowWithShadowDeny). A reference: kind, name, namespace and sectionName ids, the label count
/// and (key, value) ids, the tag count and (key, value) ids.
#[derive(Debug, Default)]
pub struct MtpTable {
    words: Words,
}

fn action_code(a: &str) -> Option<u32> {
    match Action::parse(a)? {
        Action::Allow => Some(0),
        Action::Deny => Some(1),
        Action::AllowWithShadowDeny => Some(2),
    }
}

fn action_of(code: u32) -> Option<Action> {
    match code {
        0 => Some(Action::Allow),
        1 => Some(Action::Deny),
        2 => Some(Action::AllowWithShadowDeny),
        _ => None,
    }
}

/// The parts of an `MtpPolicy` a document holds: its top targetRef and `from` items.
pub type MtpParts = (TargetRef, Vec<FromItem>);

fn push_reference(w: &mut Words, r: &MtpRef<'_>) -> bool {
    let mut ok =
        w.intern(r.kind) && w.intern(r.name) && w.intern(r.namespace) && w.intern(r.section_name);
    for map in [&r.labels, &r.tags] {
        ok &= w.count(map.len());
        for (k, v) in map {
            ok &= w.intern(k) && w.intern(v);
        }
    }
    ok
}

fn read_map(r: &mut Reader<'_>) -> Option<Labels> {
    let n = r.word()?;
    let mut out = Labels::new();
    for _ in 0..n {
        let k = r.string()?.to_owned();
        let v = r.string()?.to_owned();
        out.insert(k, v);
    }
    Some(out)
}

fn read_reference(r: &mut Reader<'_>) -> Option<TargetRef> {
    Some(TargetRef {
        kind: r.string()?.to_owned(),
        name: r.string()?.to_owned(),
        namespace: r.string()?.to_owned(),
        section_name: r.string()?.to_owned(),
        labels: read_map(r)?,
        tags: read_map(r)?,
        proxy_types: Vec::new(),
    })
}

impl MtpTable {
    /// Record the next slot's inputs (None: a document without them). False when they cannot be
    /// kept (the table is full, or an unknown action): the slot then has none.
    pub fn push(&mut self, inputs: Option<&MtpInputs<'_>>) -> bool {
        self.words.push(inputs, |w, (top, from)| {
            let mut ok = push_reference(w, top) && w.count(from.len());
            for (target, action) in from {
                ok &= push_reference(w, target);
                match action_code(action) {
                    Some(c) => w.word(c),
                    None => ok = false,
                }
            }
            ok
        })
    }

    /// Done pushing: drop the interning index and spare capacity.
    pub fn seal(&mut self) {
        self.words.seal();
    }

    /// The (top targetRef, `from` items) of `slot`; None when it has none.
    pub fn get(&self, slot: usize) -> Option<MtpParts> {
        let mut r = self.words.entry(slot)?;
        let top = read_reference(&mut r)?;
        let n = r.word()?;
        let mut from = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let target_ref = read_reference(&mut r)?;
            let action = action_of(r.word()?)?;
            from.push(FromItem { target_ref, action });
        }
        Some((top, from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::{clean, load};

    fn inputs_of(text: &str) -> Vec<Option<MtpParts>> {
        let docs = load(text).unwrap();
        let mut t = MtpTable::default();
        for d in &docs {
            let v = d.value.as_ref().unwrap();
            assert!(t.push(clean::mtp_inputs(v).as_ref()));
        }
        t.seal();
        (0..=docs.len()).map(|i| t.get(i)).collect()
    }

    fn target(kind: &str, f: impl FnOnce(&mut TargetRef)) -> TargetRef {
        let mut t = TargetRef {
            kind: kind.into(),
            ..TargetRef::default()
        };
        f(&mut t);
        t
    }

    fn map(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn round_trips_the_compile_inputs_by_slot() {
        let got = inputs_of(concat!(
            "type: MeshTrafficPermission\nname: a\nspec:\n  targetRef:\n    kind: Dataplane\n",
            "    labels: {app: web, team: x}\n  from:\n",
            "    - targetRef: {kind: MeshSubset, tags: {kuma.io/service: c, v: '1'}}\n",
            "      default: {action: AllowWithShadowDeny}\n",
            "    - targetRef: {kind: Mesh}\n      default: {action: Deny}\n",
            "---\ntype: TrafficPermission\nname: t\nmesh: default\n",
            "sources: [{match: {a: b}}]\ndestinations: [{match: {a: b}}]\n",
            "---\ntype: MeshTrafficPermission\nname: b\nmesh: m\nspec:\n",
            "  targetRef: {kind: Dataplane, name: dp, namespace: ns, sectionName: http}\n",
            "  from: [{targetRef: {kind: MeshSubset}, default: {action: Allow}}]\n",
            "---\ntype: MeshTrafficPermission\nname: c\nspec:\n",
            "  from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]\n",
        ));
        let a = (
            target("Dataplane", |t| {
                t.labels = map(&[("app", "web"), ("team", "x")])
            }),
            vec![
                FromItem {
                    target_ref: target("MeshSubset", |t| {
                        t.tags = map(&[("kuma.io/service", "c"), ("v", "1")]);
                    }),
                    action: Action::AllowWithShadowDeny,
                },
                FromItem {
                    target_ref: TargetRef::mesh(),
                    action: Action::Deny,
                },
            ],
        );
        let b = (
            target("Dataplane", |t| {
                t.name = "dp".into();
                t.namespace = "ns".into();
                t.section_name = "http".into();
            }),
            vec![FromItem {
                target_ref: target("MeshSubset", |_| {}),
                action: Action::Allow,
            }],
        );
        // an omitted top targetRef is {kind: Mesh} (M2.4)
        let c = (
            TargetRef::mesh(),
            vec![FromItem {
                target_ref: TargetRef::mesh(),
                action: Action::Allow,
            }],
        );
        assert_eq!(got, vec![Some(a), None, Some(b), Some(c), None]);
    }

    #[test]
    fn refuses_specs_the_clean_verdict_refuses() {
        for text in [
            // no from item
            "type: MeshTrafficPermission\nname: a\nspec: {from: []}\n",
            // unknown action
            "type: MeshTrafficPermission\nname: a\nspec:\n  from: [{targetRef: {kind: Mesh}, default: {action: Maybe}}]\n",
            // proxyTypes (not a clean form)
            "type: MeshTrafficPermission\nname: a\nspec:\n  targetRef: {kind: Mesh, proxyTypes: [Sidecar]}\n  from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]\n",
        ] {
            assert_eq!(inputs_of(text).first(), Some(&None), "{text}");
        }
    }
}
