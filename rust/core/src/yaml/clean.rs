//! A conservative verdict on a parsed document: is it a resource of a hot kind (TrafficPermission,
//! MeshTrafficPermission, AccessRole, AccessRoleBinding, and Dataplanes of the common shape:
//! [`super::clean_dataplane`]), in the Universal form ([`clean_universal`]) or the Kubernetes form
//! ([`clean_kubernetes`]), that loads with no problem and no warning?
//!
//! `true` only when every check the Python loader runs would pass: the envelope (TP §5.3 name and
//! mesh rules, string labels, RFC 3339 times), the body's types as the pydantic models take them (no
//! unknown field, no coercion) and Kuma's rules (T5.1–T5.6; rbac.md R2.1, A7, A17). The loader then
//! builds the resource without re-checking; anything else answers `false` and takes the full Python
//! path, which words every problem (so messages and paths never depend on this module).

use super::{resolve, Scalar, Value};

fn str_of<'a>(v: &'a Value<'_>) -> Option<&'a str> {
    match v {
        Value::Scalar(Scalar::Str, t) => Some(t),
        _ => None,
    }
}

fn is_null(v: &Value<'_>) -> bool {
    matches!(v, Value::Scalar(Scalar::Null, _))
}

fn entries<'a, 'b>(v: &'a Value<'b>) -> Option<&'a [(Value<'b>, Value<'b>)]> {
    match v {
        Value::Map(e) => Some(e),
        _ => None,
    }
}

/// The entries of a mapping whose keys are all known strings (no allocation: this runs for every
/// document and bundle row).
#[derive(Clone, Copy)]
struct Fields<'a, 'b>(&'a [(Value<'b>, Value<'b>)]);

impl<'a, 'b> Fields<'a, 'b> {
    fn len(self) -> usize {
        self.0.len()
    }

    fn iter(self) -> impl Iterator<Item = (&'a str, &'a Value<'b>)> {
        self.0
            .iter()
            .map(|(k, v)| (str_of(k).unwrap_or_default(), v))
    }

    fn first(self) -> Option<(&'a str, &'a Value<'b>)> {
        self.iter().next()
    }
}

/// Every key a string `known` accepts (each field once: duplicates were refused by the reader).
fn fields_where<'a, 'b>(v: &'a Value<'b>, known: impl Fn(&str) -> bool) -> Option<Fields<'a, 'b>> {
    let e = entries(v)?;
    e.iter()
        .all(|(k, _)| str_of(k).is_some_and(&known))
        .then_some(Fields(e))
}

/// Every key one of `known`.
fn fields<'a, 'b>(v: &'a Value<'b>, known: &[&str]) -> Option<Fields<'a, 'b>> {
    fields_where(v, |k| known.contains(&k))
}

fn get<'a, 'b>(f: &Fields<'a, 'b>, key: &str) -> Option<&'a Value<'b>> {
    f.0.iter()
        .find(|(k, _)| str_of(k) == Some(key))
        .map(|(_, v)| v)
}

/// RFC 1123 subdomain (TP §5.3): `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`.
fn rfc1123(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            let b = label.as_bytes();
            let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
            b.first().is_some_and(alnum)
                && b.last().is_some_and(alnum)
                && b.iter().all(|c| alnum(c) || *c == b'-')
        })
}

fn mesh_name(mesh: &str) -> bool {
    !mesh.is_empty()
        && mesh.len() <= 253
        && mesh.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

fn tag_char(c: u8, slash: bool) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_' | b':') || (slash && c == b'/')
}

/// A mapping of strings to strings (see [`string_map`]).
#[derive(Clone, Copy)]
struct StrMap<'a, 'b>(&'a [(Value<'b>, Value<'b>)]);

impl<'a> StrMap<'a, '_> {
    fn is_empty(self) -> bool {
        self.0.is_empty()
    }

    fn iter(self) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.0
            .iter()
            .map(|(k, v)| (str_of(k).unwrap_or_default(), str_of(v).unwrap_or_default()))
    }
}

/// `Optional[Dict[StrictStr, Optional[StrictStr]]]` with only string values.
fn string_map<'a, 'b>(v: &'a Value<'b>) -> Option<StrMap<'a, 'b>> {
    let e = entries(v)?;
    e.iter()
        .all(|(k, v)| str_of(k).is_some() && str_of(v).is_some())
        .then_some(StrMap(e))
}

fn opt_string_map(v: Option<&Value<'_>>) -> bool {
    v.is_none_or(|v| is_null(v) || string_map(v).is_some())
}

fn opt_str(v: Option<&Value<'_>>) -> bool {
    v.is_none_or(|v| is_null(v) || str_of(v).is_some())
}

fn opt_str_list(v: Option<&Value<'_>>) -> bool {
    match v {
        None => true,
        Some(v) if is_null(v) => true,
        Some(Value::Seq(items)) => items.iter().all(|i| str_of(i).is_some()),
        _ => false,
    }
}

/// A time the loader reads without a problem: a YAML timestamp, or a string in the same form.
fn time_ok(v: Option<&Value<'_>>) -> bool {
    match v {
        None => true,
        Some(Value::Scalar(Scalar::Null | Scalar::Timestamp { .. }, _)) => true,
        Some(Value::Scalar(Scalar::Str, t)) => {
            matches!(resolve::plain(t), Scalar::Timestamp { .. })
        }
        _ => false,
    }
}

/// T5.1–T5.6 on `sources` / `destinations`: at least one selector, each `{match: tags}` with at
/// least one tag, names and values non-empty in their charsets (value `*` allowed).
fn selectors(v: Option<&Value<'_>>) -> bool {
    let Some(Value::Seq(items)) = v else {
        return false;
    };
    !items.is_empty()
        && items.iter().all(|item| {
            let Some(f) = fields(item, &["match"]) else {
                return false;
            };
            let Some(tags) = get(&f, "match").and_then(string_map) else {
                return false;
            };
            !tags.is_empty()
                && tags.iter().all(|(k, v)| {
                    !k.is_empty()
                        && k.bytes().all(|c| tag_char(c, true))
                        && !v.is_empty()
                        && (v == "*" || v.bytes().all(|c| tag_char(c, true)))
                })
        })
}

const ACCESS: [&str; 10] = [
    "CREATE",
    "UPDATE",
    "DELETE",
    "GENERATE_DATAPLANE_TOKEN",
    "GENERATE_USER_TOKEN",
    "GENERATE_ZONE_CP_TOKEN",
    "GENERATE_ZONE_TOKEN",
    "VIEW_CONFIG_DUMP",
    "VIEW_STATS",
    "VIEW_CLUSTERS",
];

const TARGET_REF: [&str; 8] = [
    "kind",
    "name",
    "namespace",
    "labels",
    "tags",
    "mesh",
    "proxyTypes",
    "sectionName",
];

/// A targetRef (models.base.TargetRef types) whose `kind` is a non-empty string.
fn target_ref(v: &Value<'_>) -> bool {
    let Some(f) = fields(v, &TARGET_REF) else {
        return false;
    };
    get(&f, "kind")
        .and_then(str_of)
        .is_some_and(|k| !k.is_empty())
        && ["name", "namespace", "mesh", "sectionName"]
            .iter()
            .all(|k| opt_str(get(&f, k)))
        && opt_string_map(get(&f, "labels"))
        && opt_string_map(get(&f, "tags"))
        && opt_str_list(get(&f, "proxyTypes"))
}

/// An AccessRole qualifier (rbac.md R2.1, A7, A17): known keys of one family, each well formed
/// (`dpToken` qualifiers take the Python path).
fn qualifier(v: &Value<'_>) -> bool {
    let Some(f) = fields(
        v,
        &[
            "targetRef",
            "to",
            "from",
            "sources",
            "destinations",
            "selectors",
        ],
    ) else {
        return false;
    };
    let family = |k: &str| match k {
        "targetRef" | "to" | "from" => 0,
        "sources" | "destinations" => 1,
        _ => 2,
    };
    f.first()
        .is_some_and(|(first, _)| f.iter().all(|(k, _)| family(k) == family(first)))
        && f.iter().all(|(k, v)| match k {
            "targetRef" => target_ref(v),
            "to" | "from" => fields(v, &["targetRef"])
                .is_some_and(|h| get(&h, "targetRef").is_some_and(target_ref)),
            _ => fields(v, &["match"]).is_some_and(|h| opt_string_map(get(&h, "match"))),
        })
}

fn rules(v: Option<&Value<'_>>) -> bool {
    let items = match v {
        None => return true,
        Some(v) if is_null(v) => return true,
        Some(Value::Seq(items)) => items,
        _ => return false,
    };
    items.iter().all(|rule| {
        let Some(f) = fields(rule, &["types", "names", "mesh", "access", "when"]) else {
            return false;
        };
        let access_ok = match get(&f, "access") {
            None => true,
            Some(v) if is_null(v) => true,
            Some(Value::Seq(a)) => a
                .iter()
                .all(|x| str_of(x).is_some_and(|s| ACCESS.contains(&s))),
            _ => false,
        };
        let when_ok = match get(&f, "when") {
            None => true,
            Some(v) if is_null(v) => true,
            Some(Value::Seq(q)) => q.iter().all(qualifier),
            _ => false,
        };
        access_ok
            && when_ok
            && opt_str_list(get(&f, "types"))
            && opt_str_list(get(&f, "names"))
            && opt_str(get(&f, "mesh"))
    })
}

fn subjects(v: Option<&Value<'_>>) -> bool {
    let items = match v {
        None => return true,
        Some(v) if is_null(v) => return true,
        Some(Value::Seq(items)) => items,
        _ => return false,
    };
    items.iter().all(|s| {
        fields(s, &["type", "name"]).is_some_and(|f| {
            get(&f, "type")
                .and_then(str_of)
                .is_some_and(|t| t == "User" || t == "Group")
                && get(&f, "name")
                    .and_then(str_of)
                    .is_some_and(|n| !n.is_empty())
        })
    })
}

/// `[a-zA-Z0-9.\-_:]+` (ValidateTags: M3.4, no `/`, no `*`).
fn tag_value(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|c| tag_char(c, false))
}

/// A MeshTrafficPermission targetRef of the common, warning-free forms (M3.3, M3.7, M3.8):
/// `{kind: Mesh}`; at the top also `{kind: Dataplane}` with labels, or name (+ namespace), and an
/// optional sectionName (an inbound policy); in `from` also `{kind: MeshSubset, tags}`.
fn mtp_target_ref(v: &Value<'_>, top: bool) -> bool {
    let Some(f) = fields(
        v,
        &["kind", "labels", "name", "namespace", "sectionName", "tags"],
    ) else {
        return false;
    };
    let s = |k: &str| get(&f, k).map(|v| str_of(v).filter(|s| !s.is_empty()));
    match s("kind") {
        Some(Some("Mesh")) => f.len() == 1,
        Some(Some("Dataplane")) if top => {
            let labels = match get(&f, "labels") {
                None => None,
                Some(l) => match string_map(l) {
                    Some(m) if !m.is_empty() => Some(m),
                    _ => return false,
                },
            };
            let named = s("name").is_some() || s("namespace").is_some();
            get(&f, "tags").is_none()
                && ["name", "namespace", "sectionName"]
                    .iter()
                    .all(|k| s(k).is_none_or(|v| v.is_some()))
                && !(labels.is_some() && named)
        }
        Some(Some("MeshSubset")) if !top => {
            f.iter().all(|(k, _)| matches!(k, "kind" | "tags"))
                && get(&f, "tags").is_none_or(|t| {
                    string_map(t).is_some_and(|m| {
                        m.iter().all(|(k, v)| {
                            !k.is_empty() && k.bytes().all(|c| tag_char(c, true)) && tag_value(v)
                        })
                    })
                })
        }
        _ => false,
    }
}

/// MeshTrafficPermission `spec` (M3.1–M3.8): a warning-free targetRef, at least one `from` item,
/// each with a targetRef and a `default.action` of Allow / Deny / AllowWithShadowDeny.
fn mtp_spec(v: Option<&Value<'_>>) -> bool {
    let Some(f) = v.and_then(|v| fields(v, &["targetRef", "from"])) else {
        return false;
    };
    let Some(Value::Seq(items)) = get(&f, "from") else {
        return false;
    };
    !items.is_empty()
        && get(&f, "targetRef").is_none_or(|t| mtp_target_ref(t, true))
        && items.iter().all(|item| {
            fields(item, &["targetRef", "default"]).is_some_and(|i| {
                get(&i, "targetRef").is_some_and(|t| mtp_target_ref(t, false))
                    && get(&i, "default")
                        .and_then(|d| fields(d, &["action"]))
                        .is_some_and(|d| {
                            get(&d, "action").and_then(str_of).is_some_and(|a| {
                                matches!(a, "Allow" | "Deny" | "AllowWithShadowDeny")
                            })
                        })
            })
        })
}

/// The Universal envelope: every other top-level field is the resource's body.
pub const ENVELOPE: [&str; 6] = [
    "type",
    "name",
    "mesh",
    "labels",
    "creationTime",
    "modificationTime",
];

/// See the module documentation.
pub fn clean_universal(doc: &Value<'_>) -> bool {
    let Some(e) = entries(doc) else {
        return false;
    };
    let Some(kind) = e
        .iter()
        .find(|(k, _)| str_of(k) == Some("type"))
        .and_then(|(_, v)| str_of(v))
    else {
        return false;
    };
    let Some(body) = body_fields(kind) else {
        return false;
    };
    let Some(f) = fields_where(doc, |k| ENVELOPE.contains(&k) || body.contains(&k)) else {
        return false;
    };
    let mesh_scoped = matches!(
        kind,
        "TrafficPermission" | "MeshTrafficPermission" | "Dataplane"
    );
    let envelope = get(&f, "name").and_then(str_of).is_some_and(rfc1123)
        && match get(&f, "mesh") {
            // a Universal MeshTrafficPermission without mesh is in "default" (MTP §2.1)
            None => kind == "MeshTrafficPermission" || !mesh_scoped,
            Some(m) => mesh_scoped && str_of(m).is_some_and(mesh_name),
        }
        && get(&f, "labels").is_none_or(|l| is_null(l) || string_map(l).is_some())
        && time_ok(get(&f, "creationTime"))
        && time_ok(get(&f, "modificationTime"));
    envelope && body_ok(kind, &f)
}

/// The body fields of a hot kind and whether they pass (the Universal and Kubernetes forms share
/// them: a Kubernetes `spec` is the Universal body, or `{spec: ...}` for MeshTrafficPermission).
fn body_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "TrafficPermission" => &["sources", "destinations"],
        "AccessRole" => &["rules"],
        "AccessRoleBinding" => &["subjects", "roles"],
        "MeshTrafficPermission" => &["spec"],
        "Dataplane" => &["networking"],
        _ => return None,
    })
}

fn body_ok(kind: &str, f: &Fields<'_, '_>) -> bool {
    match kind {
        "TrafficPermission" => selectors(get(f, "sources")) && selectors(get(f, "destinations")),
        "AccessRole" => rules(get(f, "rules")),
        "MeshTrafficPermission" => mtp_spec(get(f, "spec")),
        "Dataplane" => super::clean_dataplane::networking(get(f, "networking")),
        "AccessRoleBinding" => subjects(get(f, "subjects")) && opt_str_list(get(f, "roles")),
        _ => false,
    }
}

/// The top-level keys of a Kubernetes object the loader reads without a warning (`status`, which
/// it also accepts, takes the Python path).
const K8S_KEYS: [&str; 5] = ["apiVersion", "kind", "metadata", "spec", "mesh"];
/// The ObjectMeta keys accepted here (a subset of the loader's; the unread ones may hold anything).
const K8S_META: [&str; 8] = [
    "name",
    "namespace",
    "labels",
    "annotations",
    "creationTimestamp",
    "uid",
    "resourceVersion",
    "generation",
];

/// The clean verdict for the Kubernetes form (`apiVersion: kuma.io/v1alpha1`) of the hot kinds,
/// under the loader's Kubernetes rules: no unknown top-level or metadata key (they warn), a
/// non-empty `metadata.name` under TP §5.3's name rule, a string namespace, string labels, an RFC
/// 3339 `creationTimestamp`, the mesh of R4.2 / TP A13 (top-level `mesh`, else the `kuma.io/mesh`
/// label, else "default") under the mesh rule for mesh-scoped kinds, and a `spec` mapping whose
/// fields pass the Universal body's checks.
pub fn clean_kubernetes(doc: &Value<'_>) -> bool {
    let Some(f) = fields(doc, &K8S_KEYS) else {
        return false;
    };
    if get(&f, "apiVersion").and_then(str_of) != Some("kuma.io/v1alpha1") {
        return false;
    }
    let Some(kind) = get(&f, "kind").and_then(str_of) else {
        return false;
    };
    let Some(body) = body_fields(kind) else {
        return false;
    };
    let Some(meta) = get(&f, "metadata").and_then(|m| fields(m, &K8S_META)) else {
        return false;
    };
    let labels = match get(&meta, "labels") {
        None => None,
        Some(l) if is_null(l) => None,
        Some(l) => match string_map(l) {
            Some(m) => Some(m),
            None => return false,
        },
    };
    // `raw.get("mesh") or labels.get("kuma.io/mesh") or "default"` (an empty string falls through)
    let top = match get(&f, "mesh") {
        None => None,
        Some(m) if is_null(m) => None,
        Some(m) => match str_of(m) {
            Some(s) => Some(s).filter(|s| !s.is_empty()),
            None => return false,
        },
    };
    let label = labels.and_then(|m| {
        m.iter()
            .find(|(k, v)| *k == "kuma.io/mesh" && !v.is_empty())
            .map(|(_, v)| v)
    });
    let mesh = top.or(label).unwrap_or("default");
    let mesh_scoped = matches!(
        kind,
        "TrafficPermission" | "MeshTrafficPermission" | "Dataplane"
    );
    let envelope = get(&meta, "name").and_then(str_of).is_some_and(rfc1123)
        && get(&meta, "namespace").is_none_or(|n| is_null(n) || str_of(n).is_some())
        && time_ok(get(&meta, "creationTimestamp"))
        && (!mesh_scoped || mesh_name(mesh));
    let Some(spec) = get(&f, "spec") else {
        return false;
    };
    if !envelope {
        return false;
    }
    if kind == "MeshTrafficPermission" {
        // spec-wrapped: the body is `{spec: spec}`
        return mtp_spec(Some(spec));
    }
    fields(spec, body).is_some_and(|b| body_ok(kind, &b))
}

/// A clean document's creationTime, resolved: (the timestamp's fields as written, seconds since
/// the Unix epoch). The loader builds its datetime view and precise value from it without parsing
/// the text again; None when absent (or not a timestamp: the loader's general path then decides).
pub fn creation_time(doc: &Value<'_>) -> Option<(Scalar, i64)> {
    let value = entries(doc)?
        .iter()
        .find(|(k, _)| str_of(k) == Some("creationTime"))
        .map(|(_, v)| v)?;
    let ts = match value {
        Value::Scalar(Scalar::Str, t) => resolve::plain(t),
        Value::Scalar(s @ Scalar::Timestamp { .. }, _) => s.clone(),
        _ => return None,
    };
    let Scalar::Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset_minutes,
        ..
    } = ts
    else {
        return None;
    };
    let seconds = super::days_from_civil(i64::from(year), month, day) * 86_400
        + i64::from(hour) * 3600
        + i64::from(minute) * 60
        + i64::from(second)
        - i64::from(offset_minutes.unwrap_or(0)) * 60;
    Some((ts, seconds))
}

/// The `type` of a Universal document (a string), if any.
pub fn kind<'a>(doc: &'a Value<'_>) -> Option<&'a str> {
    entries(doc)?
        .iter()
        .find(|(k, _)| str_of(k) == Some("type"))
        .and_then(|(_, v)| str_of(v))
}

/// A selector's tags in the order written.
pub type Selector<'a> = Vec<(&'a str, &'a str)>;

/// A TrafficPermission's `sources` and `destinations` match maps (the traffic compile's inputs),
/// read from a document [`clean_universal`] found clean; None for another document (any other
/// kind, or a shape the clean verdict refuses).
pub fn tp_selectors<'a>(doc: &'a Value<'_>) -> Option<(Vec<Selector<'a>>, Vec<Selector<'a>>)> {
    let e = entries(doc)?;
    let field = |key: &str| {
        e.iter()
            .find(|(k, _)| str_of(k) == Some(key))
            .map(|(_, v)| v)
    };
    if kind(doc) != Some("TrafficPermission") {
        return None;
    }
    let side = |key: &str| -> Option<Vec<Selector<'a>>> {
        let Some(Value::Seq(items)) = field(key) else {
            return None;
        };
        items
            .iter()
            .map(|item| {
                let f = fields(item, &["match"])?;
                let tags = get(&f, "match").and_then(string_map)?;
                Some(tags.iter().collect())
            })
            .collect()
    };
    Some((side("sources")?, side("destinations")?))
}

/// A MeshTrafficPermission targetRef as the compile takes it (`meshauthz.mtp.compile.target_ref`):
/// an absent field is empty; labels and tags in the order written (no proxyTypes: the clean
/// verdict refuses them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MtpRef<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub namespace: &'a str,
    pub section_name: &'a str,
    pub labels: Selector<'a>,
    pub tags: Selector<'a>,
}

/// A MeshTrafficPermission's compile inputs: the top targetRef (`{kind: Mesh}` when omitted,
/// M2.4) and each `from` item's (targetRef, action).
pub type MtpInputs<'a> = (MtpRef<'a>, Vec<(MtpRef<'a>, &'a str)>);

fn mtp_ref<'a>(v: &'a Value<'_>) -> Option<MtpRef<'a>> {
    let f = fields(
        v,
        &["kind", "labels", "name", "namespace", "sectionName", "tags"],
    )?;
    let s = |k: &str| get(&f, k).and_then(str_of).unwrap_or_default();
    let map = |k: &str| -> Option<Selector<'a>> {
        match get(&f, k) {
            None => Some(Vec::new()),
            Some(m) => Some(string_map(m)?.iter().collect()),
        }
    };
    Some(MtpRef {
        kind: s("kind"),
        name: s("name"),
        namespace: s("namespace"),
        section_name: s("sectionName"),
        labels: map("labels")?,
        tags: map("tags")?,
    })
}

/// A MeshTrafficPermission's compile inputs (see [`MtpInputs`]), read from a document
/// [`clean_universal`] found clean; None for another document (any other kind, or a spec the
/// clean verdict refuses).
pub fn mtp_inputs<'a>(doc: &'a Value<'_>) -> Option<MtpInputs<'a>> {
    if kind(doc) != Some("MeshTrafficPermission") {
        return None;
    }
    let spec = entries(doc)?
        .iter()
        .find(|(k, _)| str_of(k) == Some("spec"))
        .map(|(_, v)| v);
    if !mtp_spec(spec) {
        return None;
    }
    let f = fields(spec?, &["targetRef", "from"])?;
    let top = match get(&f, "targetRef") {
        None => MtpRef {
            kind: "Mesh",
            ..MtpRef::default()
        },
        Some(t) => mtp_ref(t)?,
    };
    let Some(Value::Seq(items)) = get(&f, "from") else {
        return None;
    };
    let from = items
        .iter()
        .map(|item| {
            let i = fields(item, &["targetRef", "default"])?;
            let target = mtp_ref(get(&i, "targetRef")?)?;
            let d = fields(get(&i, "default")?, &["action"])?;
            Some((target, get(&d, "action").and_then(str_of)?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some((top, from))
}
