//! R4 target normalisation from a parsed document, without the YAML loader (issue #11 item 4).
//!
//! The extraction rules (which fields a decision reads, in which form, with which defaults) live
//! here once, generic over [`Node`]: the bindings implement it for Python objects, [`super::json`]
//! for JSON text. Only known fields are visited, so a document's nesting depth costs nothing.

use super::error::InputError;
use super::glob::{selector, Selector};
use super::kinds::{self, KindInfo};
use super::rule::{Access, TokenRequest};
use super::target::{Body, Family, Scope, Target};
use super::target_ref::TargetRef;

/// The shape of a document node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Null,
    Str,
    Bool,
    Int,
    Float,
    List,
    Map,
    Other,
}

/// A read-only view of one node of a parsed document (a Python object, a JSON value).
pub trait Node: Sized {
    fn shape(&self) -> Shape;
    /// The text of a `Str` node.
    fn text(&self) -> Result<String, InputError>;
    /// A `Map` node's value for `key` (always a field name known here); `None` when absent or
    /// null.
    fn get(&self, key: &'static str) -> Result<Option<Self>, InputError>;
    /// A `List` node's items.
    fn items(&self) -> Result<Vec<Self>, InputError>;
    /// A `Map` node's entries (string keys; another key type is an error).
    fn entries(&self) -> Result<Vec<(String, Self)>, InputError>;
}

/// Where a node sits in its document: rendered (`spec.to[0].targetRef`) only for an error, so
/// a conversion that succeeds builds no path strings.
#[derive(Debug, Clone, Copy)]
pub enum Path<'a> {
    Root,
    /// A free-text prefix (`AccessRole "r": rules`).
    Text(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    pub fn render(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Text(t) => (*t).to_string(),
            Path::Key(p, k) => match p.render() {
                r if r.is_empty() => (*k).to_string(),
                r => format!("{r}.{k}"),
            },
            Path::Index(p, i) => format!("{}[{i}]", p.render()),
        }
    }

    pub fn key<'b>(&'b self, k: &'b str) -> Path<'b> {
        Path::Key(self, k)
    }

    pub fn index(&self, i: usize) -> Path<'_> {
        Path::Index(self, i)
    }
}

fn type_err(path: &Path<'_>, expected: &'static str) -> InputError {
    InputError::Type {
        path: path.render(),
        expected,
    }
}

fn missing(path: &Path<'_>) -> InputError {
    InputError::Missing {
        path: path.render(),
    }
}

/// A string node (strict: numbers and booleans are not strings, R2.1 "wrong YAML types").
pub fn string<N: Node>(n: &N, path: &Path<'_>) -> Result<String, InputError> {
    match n.shape() {
        Shape::Str => n.text(),
        _ => Err(type_err(path, "a string")),
    }
}

/// `key` of map `n` as an optional string (absent or null = `None`).
pub fn opt_string<N: Node>(
    n: &N,
    key: &'static str,
    path: &Path<'_>,
) -> Result<Option<String>, InputError> {
    n.get(key)?.map(|v| string(&v, &path.key(key))).transpose()
}

/// A map node (checked).
pub fn map<N: Node>(n: &N, path: &Path<'_>) -> Result<(), InputError> {
    match n.shape() {
        Shape::Map => Ok(()),
        _ => Err(type_err(path, "a mapping")),
    }
}

/// `key` of map `n` as an optional list (absent or null = empty).
pub fn list<N: Node>(n: &N, key: &'static str, path: &Path<'_>) -> Result<Vec<N>, InputError> {
    match n.get(key)? {
        None => Ok(Vec::new()),
        Some(v) if v.shape() == Shape::List => v.items(),
        Some(_) => Err(type_err(&path.key(key), "a list")),
    }
}

/// `key` of map `n` as a list of strings (absent or null = empty).
pub fn string_list<N: Node>(
    n: &N,
    key: &'static str,
    path: &Path<'_>,
) -> Result<Vec<String>, InputError> {
    let p = path.key(key);
    list(n, key, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| string(x, &p.index(i)))
        .collect()
}

/// A map of strings to strings, sorted by key.
pub fn string_map<N: Node>(n: &N, path: &Path<'_>) -> Result<Selector, InputError> {
    map(n, path)?;
    let mut out = Vec::new();
    for (k, v) in n.entries()? {
        if v.shape() == Shape::Null {
            continue;
        }
        let s = string(&v, &path.key(&k))?;
        out.push((k, s));
    }
    Ok(selector(out))
}

/// R5.7 TargetRef: `kind` plus scalar (string), map (`tags`, `labels`) and list fields.
pub fn target_ref<N: Node>(n: &N, path: &Path<'_>) -> Result<TargetRef, InputError> {
    map(n, path)?;
    let mut t = TargetRef::default();
    let mut kind = None;
    for (key, val) in n.entries()? {
        let p = path.key(&key);
        match val.shape() {
            Shape::Null => {}
            _ if key == "kind" => kind = Some(string(&val, &p)?),
            Shape::Map => {
                let m = string_map(&val, &p)?;
                t.maps.push((key, m));
            }
            Shape::List => {
                let items = val.items()?;
                let l = items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| string(x, &p.index(i)))
                    .collect::<Result<_, _>>()?;
                t.lists.push((key, l));
            }
            _ => {
                let v = string(&val, &p)?;
                t.scalars.push((key, v));
            }
        }
    }
    t.kind = kind
        .filter(|k| !k.is_empty())
        .ok_or_else(|| missing(&path.key("kind")))?;
    Ok(t.normalised())
}

/// `{targetRef: ...}` (a `to` / `from` item, or a qualifier's `to` / `from`).
pub fn wrapped_ref<N: Node>(n: &N, path: &Path<'_>) -> Result<TargetRef, InputError> {
    map(n, path)?;
    let p = path.key("targetRef");
    let tr = n.get("targetRef")?.ok_or_else(|| missing(&p))?;
    target_ref(&tr, &p)
}

/// `{match: {...}}` (absent `match` = `{}`).
pub fn match_of<N: Node>(n: &N, path: &Path<'_>) -> Result<Selector, InputError> {
    map(n, path)?;
    match n.get("match")? {
        Some(m) => string_map(&m, &path.key("match")),
        None => Ok(Selector::new()),
    }
}

fn each<N: Node, T>(
    n: &N,
    key: &'static str,
    path: &Path<'_>,
    f: impl Fn(&N, &Path<'_>) -> Result<T, InputError>,
) -> Result<Vec<T>, InputError> {
    let p = path.key(key);
    list(n, key, path)?
        .iter()
        .enumerate()
        .map(|(i, x)| f(x, &p.index(i)))
        .collect()
}

/// R4.5 / R4.6: the coverable parts of a policy body (`spec` of targetRef policies, the legacy
/// top-level body otherwise), for the kind's family.
pub fn body<N: Node>(
    family: Family,
    spec: Option<&N>,
    path: &Path<'_>,
) -> Result<Body, InputError> {
    let Some(spec) = spec else {
        return Ok(match family {
            Family::TargetRef => Body::TargetRef {
                top: None,
                to: vec![],
                from: vec![],
                has_rules: false,
            },
            Family::LegacyConnection => Body::Connection {
                sources: vec![],
                destinations: vec![],
            },
            Family::LegacyDataplane => Body::Dataplane { selectors: vec![] },
            Family::None => Body::None,
        });
    };
    if family == Family::None {
        return Ok(Body::None); // payload never inspected (R4)
    }
    map(spec, path)?;
    Ok(match family {
        Family::TargetRef => Body::TargetRef {
            top: spec
                .get("targetRef")?
                .map(|t| target_ref(&t, &path.key("targetRef")))
                .transpose()?,
            to: each(spec, "to", path, wrapped_ref)?,
            from: each(spec, "from", path, wrapped_ref)?,
            has_rules: !list(spec, "rules", path)?.is_empty(),
        },
        Family::LegacyConnection => Body::Connection {
            sources: each(spec, "sources", path, match_of)?,
            destinations: each(spec, "destinations", path, match_of)?,
        },
        Family::LegacyDataplane => Body::Dataplane {
            selectors: each(spec, "selectors", path, match_of)?,
        },
        Family::None => Body::None,
    })
}

fn kind_of(name: &str, path: &'static str) -> Result<&'static KindInfo, InputError> {
    kinds::lookup(name).ok_or_else(|| InputError::UnknownKind {
        path: path.to_string(),
        kind: name.to_string(),
    })
}

const SPEC: Path<'static> = Path::Key(&Path::Root, "spec");
const META: Path<'static> = Path::Key(&Path::Root, "metadata");
const TOKEN: Path<'static> = Path::Key(&Path::Root, "token_request");

/// A target from a stored resource's parts (a loaded `Resource`: core name, mesh and
/// Universal-equivalent body already normalised by the loader).
pub fn target_from_parts<N: Node>(
    type_name: &str,
    name: &str,
    mesh: Option<&str>,
    body_node: &N,
) -> Result<Target, InputError> {
    let kind = kind_of(type_name, "type")?;
    map(body_node, &Path::Root)?;
    let spec = if kind.spec_wrapped {
        body_node.get("spec")?
    } else {
        None
    };
    let spec = if kind.spec_wrapped {
        spec.as_ref()
    } else {
        Some(body_node)
    };
    let path = if kind.spec_wrapped { SPEC } else { Path::Root };
    finish(
        kind,
        mesh.map(str::to_string),
        name.to_string(),
        body(kind.family, spec, &path)?,
    )
}

fn finish(
    kind: &KindInfo,
    mesh: Option<String>,
    name: String,
    body: Body,
) -> Result<Target, InputError> {
    let mesh = match kind.scope {
        Scope::Global => None,
        Scope::Mesh => mesh,
    };
    Target::from_owned(kind.name.to_string(), kind.scope, mesh, name, body)
}

const K8S_API: &str = "kuma.io/v1alpha1";

/// R4.1 / R4.2: a target from a document in either form.
pub fn target_from_document<N: Node>(doc: &N) -> Result<Target, InputError> {
    let root = Path::Root;
    map(doc, &root)?;
    if doc.get("apiVersion")?.is_some() || doc.get("kind")?.is_some() {
        return kubernetes(doc);
    }
    // R4.1 Universal: `type`, `name`, `mesh`; body under `spec` for targetRef-era kinds.
    let type_name = opt_string(doc, "type", &root)?.ok_or_else(|| missing(&root.key("type")))?;
    let kind = kind_of(&type_name, "type")?;
    let name = opt_string(doc, "name", &root)?.unwrap_or_default();
    let mut mesh = opt_string(doc, "mesh", &root)?.filter(|m| !m.is_empty());
    if kind.name == "MeshTrafficPermission" && mesh.is_none() {
        mesh = Some("default".into()); // MTP schema default (meshtrafficpermission.md §2.1)
    }
    let spec = if kind.spec_wrapped {
        doc.get("spec")?
    } else {
        None
    };
    let (spec, path) = if kind.spec_wrapped {
        (spec.as_ref(), SPEC)
    } else {
        (Some(doc), Path::Root)
    };
    let body = body(kind.family, spec, &path)?;
    finish(kind, mesh, name, body)
}

fn kubernetes<N: Node>(doc: &N) -> Result<Target, InputError> {
    let root = Path::Root;
    let api = opt_string(doc, "apiVersion", &root)?.unwrap_or_default();
    let kind_name = opt_string(doc, "kind", &root)?.unwrap_or_default();
    let meta = doc.get("metadata")?.ok_or_else(|| missing(&META))?;
    map(&meta, &META)?;
    let kind = if api == "v1" && kind_name == "Secret" {
        let t = opt_string(doc, "type", &root)?.unwrap_or_default();
        kinds::k8s_secret_kind(&t).ok_or(InputError::NotAKumaSecret(t))?
    } else if api != K8S_API {
        return Err(InputError::UnsupportedApiVersion(api));
    } else {
        kind_of(&kind_name, "kind")?
    };
    let name = opt_string(&meta, "name", &META)?
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(&META.key("name")))?;
    let namespace = opt_string(&meta, "namespace", &META)?.filter(|n| !n.is_empty());
    let labels = match meta.get("labels")? {
        Some(l) => string_map(&l, &META.key("labels"))?,
        None => Selector::new(),
    };
    // R4.2: legacy top-level `mesh`, else the kuma.io/mesh label, else "default".
    let label_mesh = labels
        .iter()
        .find(|(k, _)| k == "kuma.io/mesh")
        .map(|(_, v)| v.clone());
    let mesh = opt_string(doc, "mesh", &root)?
        .filter(|m| !m.is_empty())
        .or(label_mesh.filter(|m| !m.is_empty()))
        .unwrap_or_else(|| "default".into());
    // A11: namespaced CRDs have the core name `name.namespace`.
    let core_name = match (&namespace, kind.namespaced) {
        (Some(ns), true) => format!("{name}.{ns}"),
        _ => name,
    };
    let spec = if kind.family == Family::None {
        None
    } else {
        doc.get("spec")?
    };
    let body = body(kind.family, spec.as_ref(), &SPEC)?;
    finish(kind, Some(mesh), core_name, body)
}

/// §3 token request for a GENERATE_* action (`None` for other actions).
pub fn token_request<N: Node>(access: Access, doc: &N) -> Result<TokenRequest, InputError> {
    map(doc, &TOKEN)?;
    let text = |k: &'static str| opt_string(doc, k, &TOKEN);
    Ok(match access {
        Access::GenerateDataplaneToken => {
            // R5.12: the request mesh is required (dataplane tokens are always mesh-scoped).
            let mesh = text("mesh")?
                .filter(|m| !m.is_empty())
                .ok_or_else(|| missing(&TOKEN.key("mesh")))?;
            let mut tags = Vec::new();
            let tp = TOKEN.key("tags");
            if let Some(t) = doc.get("tags")? {
                map(&t, &tp)?;
                for (k, vals) in t.entries()? {
                    let p = tp.key(&k);
                    let values = match vals.shape() {
                        Shape::Null => Vec::new(),
                        Shape::List => vals
                            .items()?
                            .iter()
                            .enumerate()
                            .map(|(i, x)| string(x, &p.index(i)))
                            .collect::<Result<_, _>>()?,
                        _ => vec![string(&vals, &p)?],
                    };
                    tags.push((k, values));
                }
            }
            TokenRequest::Dataplane { mesh, tags }
        }
        Access::GenerateUserToken => TokenRequest::User,
        Access::GenerateZoneToken => TokenRequest::Zone {
            zone: text("zone")?.unwrap_or_default(),
        },
        Access::GenerateZoneCpToken => TokenRequest::ZoneCp {
            zone: text("zone")?.unwrap_or_default(),
        },
        _ => {
            return Err(InputError::UnknownOption {
                what: "token action",
                value: access.as_str().into(),
            })
        }
    })
}
