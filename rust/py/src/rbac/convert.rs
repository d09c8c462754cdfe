//! Python values → core values for RBAC, strictly and in one place: documents ([`PyNode`]),
//! targets (a dict in either form, a loaded `Resource`, an `RbacTarget` handle), token requests
//! and users (issue #11 item 4). No rule lives here: what to read is `meshauthz_core::rbac::document`.

use std::sync::Arc;

use meshauthz_core::rbac::document::{self, Node, Path, Shape};
use meshauthz_core::rbac::{json, Access, InputError, Target, TokenRequest, User};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use super::decision::Types;
use super::RbacTarget;

fn host(e: PyErr) -> InputError {
    InputError::Host(e.to_string())
}

/// A Python object viewed as a document node (dicts, lists / tuples, strings, numbers, None).
pub struct PyNode<'py>(pub Bound<'py, PyAny>);

impl Node for PyNode<'_> {
    fn shape(&self) -> Shape {
        let v = &self.0;
        // Exact types first (a pointer comparison each), then subclasses.
        if v.is_exact_instance_of::<PyString>() {
            return Shape::Str;
        }
        if v.is_exact_instance_of::<PyDict>() {
            return Shape::Map;
        }
        if v.is_exact_instance_of::<PyList>() {
            return Shape::List;
        }
        if v.is_none() {
            Shape::Null
        } else if v.is_instance_of::<PyString>() {
            Shape::Str
        } else if v.is_instance_of::<PyDict>() {
            Shape::Map
        } else if v.is_instance_of::<PyList>() || v.is_instance_of::<PyTuple>() {
            Shape::List
        } else if v.is_instance_of::<PyBool>() {
            Shape::Bool
        } else if v.is_instance_of::<PyInt>() {
            Shape::Int
        } else if v.is_instance_of::<PyFloat>() {
            Shape::Float
        } else {
            Shape::Other
        }
    }

    fn text(&self) -> Result<String, InputError> {
        let s = self
            .0
            .cast::<PyString>()
            .map_err(|_| InputError::Host("not a string".into()))?;
        Ok(s.to_cow().map_err(host)?.into_owned())
    }

    fn get(&self, key: &'static str) -> Result<Option<Self>, InputError> {
        let Ok(d) = self.0.cast::<PyDict>() else {
            return Ok(None);
        };
        Ok(d.get_item(interned(d.py(), key))
            .map_err(host)?
            .filter(|v| !v.is_none())
            .map(PyNode))
    }

    fn items(&self) -> Result<Vec<Self>, InputError> {
        if let Ok(l) = self.0.cast::<PyList>() {
            return Ok(l.iter().map(PyNode).collect());
        }
        if let Ok(t) = self.0.cast::<PyTuple>() {
            return Ok(t.iter().map(PyNode).collect());
        }
        Ok(Vec::new())
    }

    fn entries(&self) -> Result<Vec<(String, Self)>, InputError> {
        let Ok(d) = self.0.cast::<PyDict>() else {
            return Ok(Vec::new());
        };
        d.iter()
            .map(|(k, v)| {
                let key = k
                    .cast::<PyString>()
                    .map_err(|_| InputError::Type {
                        path: String::new(),
                        expected: "a mapping with string keys",
                    })?
                    .to_cow()
                    .map_err(host)?
                    .into_owned();
                Ok((key, PyNode(v)))
            })
            .collect()
    }
}

/// The document field names as interned Python strings (their hash is cached: a lookup costs no
/// allocation and no hashing).
fn interned<'py>(py: Python<'py>, key: &'static str) -> Bound<'py, PyString> {
    match key {
        "access" => intern!(py, "access").clone(),
        "adminResources" => intern!(py, "adminResources").clone(),
        "apiVersion" => intern!(py, "apiVersion").clone(),
        "destinations" => intern!(py, "destinations").clone(),
        "dpToken" => intern!(py, "dpToken").clone(),
        "from" => intern!(py, "from").clone(),
        "generateCpToken" => intern!(py, "generateCpToken").clone(),
        "generateDpToken" => intern!(py, "generateDpToken").clone(),
        "generateUserToken" => intern!(py, "generateUserToken").clone(),
        "generateZoneToken" => intern!(py, "generateZoneToken").clone(),
        "groups" => intern!(py, "groups").clone(),
        "kind" => intern!(py, "kind").clone(),
        "labels" => intern!(py, "labels").clone(),
        "match" => intern!(py, "match").clone(),
        "mesh" => intern!(py, "mesh").clone(),
        "metadata" => intern!(py, "metadata").clone(),
        "name" => intern!(py, "name").clone(),
        "names" => intern!(py, "names").clone(),
        "namespace" => intern!(py, "namespace").clone(),
        "roles" => intern!(py, "roles").clone(),
        "rules" => intern!(py, "rules").clone(),
        "selectors" => intern!(py, "selectors").clone(),
        "sources" => intern!(py, "sources").clone(),
        "spec" => intern!(py, "spec").clone(),
        "subjects" => intern!(py, "subjects").clone(),
        "tags" => intern!(py, "tags").clone(),
        "targetRef" => intern!(py, "targetRef").clone(),
        "to" => intern!(py, "to").clone(),
        "type" => intern!(py, "type").clone(),
        "types" => intern!(py, "types").clone(),
        "users" => intern!(py, "users").clone(),
        "value" => intern!(py, "value").clone(),
        "viewEnvoy" => intern!(py, "viewEnvoy").clone(),
        "when" => intern!(py, "when").clone(),
        "zone" => intern!(py, "zone").clone(),
        _ => PyString::new(py, key),
    }
}

/// A target from a Python value: a handle (shared), a dict (either YAML form, R4.1 / R4.2), a
/// loaded `Resource` (its normalised parts), or JSON text when `json_text` (batch cells).
pub fn target(
    types: &Types,
    v: &Bound<'_, PyAny>,
    json_text: bool,
) -> Result<Arc<Target>, InputError> {
    if let Ok(h) = v.cast::<RbacTarget>() {
        return Ok(h.get().inner.clone());
    }
    if v.is_instance_of::<PyDict>() {
        return document::target_from_document(&PyNode(v.clone())).map(Arc::new);
    }
    if json_text {
        if let Ok(s) = v.cast::<PyString>() {
            let doc = json::parse(&s.to_cow().map_err(host)?)?;
            return document::target_from_document(&&doc).map(Arc::new);
        }
    }
    if v.is_instance(types.resource.bind(v.py())).map_err(host)? {
        return resource(v).map(Arc::new);
    }
    Err(InputError::Type {
        path: String::new(),
        expected: "a resource document (dict), a Resource or an RbacTarget",
    })
}

/// A loaded `Resource`: `kind.name`, core `name`, `mesh` and its Universal-equivalent `body`.
fn resource(v: &Bound<'_, PyAny>) -> Result<Target, InputError> {
    let py = v.py();
    fn attr<'py>(
        o: &Bound<'py, PyAny>,
        name: &Bound<'py, PyString>,
    ) -> Result<Bound<'py, PyAny>, InputError> {
        o.getattr(name).map_err(host)
    }
    let kind = attr(v, intern!(py, "kind"))?;
    let type_name = document::string(
        &PyNode(attr(&kind, intern!(py, "name"))?),
        &Path::Text("type"),
    )?;
    let name = document::string(&PyNode(attr(v, intern!(py, "name"))?), &Path::Text("name"))?;
    let mesh = match attr(v, intern!(py, "mesh"))? {
        m if m.is_none() => None,
        m => Some(document::string(&PyNode(m), &Path::Text("mesh"))?),
    };
    let body = PyNode(attr(v, intern!(py, "body"))?);
    document::target_from_parts(&type_name, &name, mesh.as_deref(), &body)
}

/// A token request (dict, or JSON text when `json_text`) for token action `access`.
pub fn token(
    access: Access,
    v: &Bound<'_, PyAny>,
    json_text: bool,
) -> Result<TokenRequest, InputError> {
    if json_text {
        if let Ok(s) = v.cast::<PyString>() {
            let doc = json::parse(&s.to_cow().map_err(host)?)?;
            return document::token_request(access, &&doc);
        }
    }
    document::token_request(access, &PyNode(v.clone()))
}

/// A user as borrowed Python strings, converted strictly (the one place users are read):
/// the name a `str`; groups a list or tuple of `str` (a `str` is an error, never split into
/// characters); a `User`, a `(name, groups)` pair or a bare name.
pub struct PyUser<'py> {
    pub name: Bound<'py, PyString>,
    pub groups: Vec<Bound<'py, PyString>>,
    /// The groups as given (a list or tuple of `str`; an empty tuple when absent).
    pub groups_obj: Bound<'py, PyAny>,
}

/// Why a user could not be read (the bindings raise `EvaluationError` with it).
pub fn user_problem(what: &str) -> String {
    format!("invalid user: {what}")
}

impl<'py> PyUser<'py> {
    pub fn from_parts(
        name: &Bound<'py, PyAny>,
        groups: Option<&Bound<'py, PyAny>>,
    ) -> Result<Self, String> {
        let name = if name.is_none() {
            return Err(user_problem("the user name is missing (None)"));
        } else {
            name.cast::<PyString>()
                .map_err(|_| {
                    user_problem(&format!("the name must be a str, not {}", type_name(name)))
                })?
                .clone()
        };
        // Strict (#12 item 9): a name or group that is not valid UTF-8 (a lone surrogate) is an
        // error wherever it appears, whether or not the decision would read its text, so
        // `check` and `allowed` fail the same way. Reading a `str`'s UTF-8 is in place (py310).
        let unreadable = || user_problem("the user's name or groups are not valid text");
        name.to_str().map_err(|_| unreadable())?;
        let mut out = Vec::new();
        if let Some(g) = groups.filter(|g| !g.is_none()) {
            let push = |out: &mut Vec<Bound<'py, PyString>>, x: Bound<'py, PyAny>| match x
                .cast_into::<PyString>()
            {
                Ok(s) => {
                    s.to_str().map_err(|_| unreadable())?;
                    out.push(s);
                    Ok(())
                }
                Err(e) => Err(user_problem(&format!(
                    "groups must be strings, not {}",
                    type_name(e.into_inner().as_any())
                ))),
            };
            if let Ok(t) = g.cast::<PyTuple>() {
                for x in t.iter() {
                    push(&mut out, x)?;
                }
            } else if let Ok(l) = g.cast::<PyList>() {
                for x in l.iter() {
                    push(&mut out, x)?;
                }
            } else {
                return Err(user_problem(&format!(
                    "groups must be a list or tuple of str, not {}",
                    type_name(g)
                )));
            }
        }
        let groups_obj = match groups.filter(|g| !g.is_none()) {
            Some(g) => g.clone(),
            None => PyTuple::empty(name.py()).into_any(),
        };
        Ok(PyUser {
            name,
            groups: out,
            groups_obj,
        })
    }

    /// A `User` (attributes `name`, `groups`), a `(name, groups)` pair or a bare `str` name.
    pub fn from_obj(types: &Types, u: &Bound<'py, PyAny>) -> Result<Self, String> {
        let py = u.py();
        if u.is_instance_of::<PyString>() {
            return Self::from_parts(u, None);
        }
        // Exact type first (a pointer comparison), then subclasses.
        if u.get_type().is(types.user.bind(py))
            || u.is_instance(types.user.bind(py)).unwrap_or(false)
        {
            let name = u.getattr(intern!(py, "name")).map_err(|e| e.to_string())?;
            let groups = u
                .getattr(intern!(py, "groups"))
                .map_err(|e| e.to_string())?;
            return Self::from_parts(&name, Some(&groups));
        }
        if let Ok(t) = u.cast::<PyTuple>() {
            if t.len() == 2 {
                if let (Ok(n), Ok(g)) = (t.get_item(0), t.get_item(1)) {
                    return Self::from_parts(&n, Some(&g));
                }
            }
        }
        Err(user_problem(&format!(
            "expected a User, a (name, groups) pair or a name, not {}",
            type_name(u)
        )))
    }

    /// The R8.1 reason text of a denial for this user, from the borrowed texts (no owned user);
    /// `None` if a text is not valid Unicode.
    pub fn reason_text(&self, reason: &meshauthz_core::rbac::Reason) -> Option<String> {
        let name = self.name.to_str().ok()?;
        if self.groups.iter().any(|g| g.to_str().is_err()) {
            return None;
        }
        Some(meshauthz_core::rbac::reason_text_of(
            reason,
            name,
            self.groups.iter().filter_map(|g| g.to_str().ok()),
        ))
    }

    /// The owned user (messages, static mode); `None` if a text is not valid Unicode.
    pub fn owned(&self) -> Option<User> {
        Some(User {
            name: self.name.to_cow().ok()?.into_owned(),
            groups: self
                .groups
                .iter()
                .map(|g| g.to_cow().ok().map(|c| c.into_owned()))
                .collect::<Option<Vec<_>>>()?,
        })
    }
}

pub fn type_name(v: &Bound<'_, PyAny>) -> String {
    v.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}
