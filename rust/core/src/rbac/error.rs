//! Typed errors of the RBAC core (no `Result<_, String>`): one enum per operation. Messages are
//! lowercase, user input quoted; the bindings map each enum to one Python class (`errors.rs`).

use std::fmt;

use super::rule::Access;

/// Why a check could not be decided. Fail closed: the caller raises (`EvaluationError`) or, in a
/// batch, records an `error:*` row; never an allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// A resource action, a read or a VIEW_* action without its target.
    MissingResource(&'static str),
    /// A10: UPDATE needs the stored object.
    MissingOld,
    /// R5.9: the stored and new objects differ in type, mesh or name.
    IdentityChanged { stored: String, new: String },
    /// A token action without its request.
    MissingTokenRequest(Access),
    /// The request is for another token kind than the action.
    TokenMismatch(Access),
    /// The user's name or groups could not be read (e.g. text that is not valid Unicode).
    UnreadableUser,
}

impl CheckError {
    /// The batch row code of this error.
    pub fn row_error(&self) -> RowError {
        match self {
            CheckError::MissingResource(_) => RowError::MissingResource,
            CheckError::MissingOld => RowError::MissingOld,
            CheckError::IdentityChanged { .. } => RowError::IdentityChanged,
            CheckError::MissingTokenRequest(_) => RowError::MissingTokenRequest,
            CheckError::TokenMismatch(_) => RowError::BadTokenRequest,
            CheckError::UnreadableUser => RowError::BadUser,
        }
    }
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::MissingResource(a) => write!(f, "{a} needs a resource"),
            CheckError::MissingOld => {
                write!(f, "UPDATE needs old_resource (the stored object, A10)")
            }
            CheckError::IdentityChanged { stored, new } => write!(
                f,
                "UPDATE must keep type, mesh and name (R5.9): stored {stored} vs new {new}"
            ),
            CheckError::MissingTokenRequest(a) => {
                write!(f, "{} needs a token request", a.as_str())
            }
            CheckError::TokenMismatch(a) => {
                write!(f, "token request does not fit {}", a.as_str())
            }
            CheckError::UnreadableUser => write!(f, "the user's name or groups cannot be read"),
        }
    }
}

impl std::error::Error for CheckError {}

/// A document (resource, token request, AccessRole, AccessRoleBinding, static configuration)
/// that cannot be used. `path` is the field path inside the document (`spec.to[0].targetRef`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// A field has the wrong shape (`expected`: "a mapping", "a list", "a string", ...).
    Type {
        path: String,
        expected: &'static str,
    },
    /// A required field is absent.
    Missing { path: String },
    /// R4.3: unknown resource kind.
    UnknownKind { path: String, kind: String },
    /// A Kubernetes document with another apiVersion.
    UnsupportedApiVersion(String),
    /// R4.2: a `v1/Secret` that is not a Kuma secret.
    NotAKumaSecret(String),
    /// R4.1: a mesh-scoped target without mesh.
    MissingMesh { type_name: String, name: String },
    /// R2.1 / A17: unknown access value.
    UnknownAccess { path: String, value: String },
    /// R2.1: unknown qualifier key.
    UnknownQualifierKey { path: String, key: String },
    /// R2.1: a qualifier with no field.
    EmptyQualifier { path: String },
    /// R2.1 / A7: a qualifier mixing families.
    MixedFamilies { path: String },
    /// R2.1: subject type not `User` / `Group`.
    SubjectType { path: String, value: String },
    /// R2.1: empty subject name.
    EmptySubjectName { path: String },
    /// A14: two roles or two bindings with the same name.
    Duplicate { kind: &'static str, name: String },
    /// Unknown option of the static configuration or the engine.
    UnknownOption { what: &'static str, value: String },
    /// A text column / argument that is not valid JSON (or nested deeper than the parser allows).
    Json(String),
    /// The host could not read a value (a Python exception while converting), with its message.
    Host(String),
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |p: &str| {
            if p.is_empty() {
                "the document".to_string()
            } else {
                format!("`{p}`")
            }
        };
        match self {
            InputError::Type { path, expected } => write!(f, "{} must be {expected}", at(path)),
            InputError::Missing { path } => write!(f, "{} is required", at(path)),
            InputError::UnknownKind { path, kind } => {
                write!(f, "{}: unknown resource kind {kind:?} (R4.3)", at(path))
            }
            InputError::UnsupportedApiVersion(v) => write!(
                f,
                "unsupported apiVersion {v:?} (expected kuma.io/v1alpha1, or v1 for Secrets)"
            ),
            InputError::NotAKumaSecret(t) => {
                write!(f, "Secret of type {t:?} is not a Kuma secret (R4.2)")
            }
            InputError::MissingMesh { type_name, name } => write!(
                f,
                "{type_name} {name:?} is mesh-scoped but has no mesh (R4.1)"
            ),
            InputError::UnknownAccess { path, value } => write!(
                f,
                "{}: unknown access value {value:?} (R2.1, A17)",
                at(path)
            ),
            InputError::UnknownQualifierKey { path, key } => write!(
                f,
                "{}: unknown qualifier key {key:?} (R2.1; expected targetRef, to, from, sources, \
                 destinations, selectors or dpToken)",
                at(path)
            ),
            InputError::EmptyQualifier { path } => {
                write!(f, "{}: qualifier cannot be empty (R2.1)", at(path))
            }
            InputError::MixedFamilies { path } => {
                write!(f, "{}: qualifier mixes families (A7)", at(path))
            }
            InputError::SubjectType { path, value } => write!(
                f,
                "{}: subject type must be User or Group, not {value:?} (R2.1)",
                at(path)
            ),
            InputError::EmptySubjectName { path } => {
                write!(f, "{}: subject name must not be empty (R2.1)", at(path))
            }
            InputError::Duplicate { kind, name } => {
                write!(f, "duplicate {kind} name {name:?} (A14)")
            }
            InputError::UnknownOption { what, value } => write!(f, "unknown {what} {value:?}"),
            InputError::Json(e) => write!(f, "invalid JSON: {e}"),
            InputError::Host(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for InputError {}

/// Why a batch row has no decision: its `error:*` reason code. Codes are stable strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowError {
    /// A list-form row that is not a tuple / dict of the expected shape.
    BadRow,
    UnknownAction,
    MissingUser,
    BadUser,
    BadGroups,
    BadResource,
    BadOldResource,
    BadTokenRequest,
    MissingResource,
    MissingOld,
    IdentityChanged,
    MissingTokenRequest,
}

impl RowError {
    /// Every row error in discriminant order: `ALL[e as usize] == e`.
    pub const ALL: [RowError; 12] = [
        RowError::BadRow,
        RowError::UnknownAction,
        RowError::MissingUser,
        RowError::BadUser,
        RowError::BadGroups,
        RowError::BadResource,
        RowError::BadOldResource,
        RowError::BadTokenRequest,
        RowError::MissingResource,
        RowError::MissingOld,
        RowError::IdentityChanged,
        RowError::MissingTokenRequest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowError::BadRow => "error:bad-row",
            RowError::UnknownAction => "error:unknown-action",
            RowError::MissingUser => "error:missing-user",
            RowError::BadUser => "error:bad-user",
            RowError::BadGroups => "error:bad-groups",
            RowError::BadResource => "error:bad-resource",
            RowError::BadOldResource => "error:bad-old-resource",
            RowError::BadTokenRequest => "error:bad-token-request",
            RowError::MissingResource => "error:missing-resource",
            RowError::MissingOld => "error:missing-old-resource",
            RowError::IdentityChanged => "error:identity-changed",
            RowError::MissingTokenRequest => "error:missing-token-request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_error_order() {
        for (i, e) in RowError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
            assert!(e.as_str().starts_with("error:"));
        }
    }

    #[test]
    fn messages_name_the_rule() {
        assert!(CheckError::MissingOld.to_string().contains("A10"));
        let e = InputError::Type {
            path: "spec.to".into(),
            expected: "a list",
        };
        assert_eq!(e.to_string(), "`spec.to` must be a list");
    }
}
