//! [`Node`] over JSON text (batch `resource` / `old_resource` / `token_request` columns).
//! serde_json stops at 128 levels of nesting with an error: a deeply nested row is an `error:*`
//! row, never a crash (issue #12 item 9).

use serde_json::Value;

use super::document::{Node, Shape};
use super::error::InputError;

/// Parse JSON text into a document.
pub fn parse(text: &str) -> Result<Value, InputError> {
    serde_json::from_str(text).map_err(|e| InputError::Json(e.to_string()))
}

impl Node for &Value {
    fn shape(&self) -> Shape {
        match self {
            Value::Null => Shape::Null,
            Value::Bool(_) => Shape::Bool,
            Value::Number(n) if n.is_f64() => Shape::Float,
            Value::Number(_) => Shape::Int,
            Value::String(_) => Shape::Str,
            Value::Array(_) => Shape::List,
            Value::Object(_) => Shape::Map,
        }
    }

    fn text(&self) -> Result<String, InputError> {
        match self {
            Value::String(s) => Ok(s.clone()),
            _ => Err(InputError::Host("not a string".into())),
        }
    }

    fn get(&self, key: &'static str) -> Result<Option<Self>, InputError> {
        Ok(match self {
            Value::Object(m) => m.get(key).filter(|v| !v.is_null()),
            _ => None,
        })
    }

    fn items(&self) -> Result<Vec<Self>, InputError> {
        Ok(match self {
            Value::Array(a) => a.iter().collect(),
            _ => Vec::new(),
        })
    }

    fn entries(&self) -> Result<Vec<(String, Self)>, InputError> {
        Ok(match self {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::document::target_from_document;
    use crate::rbac::target::{Element, Family};

    fn target(text: &str) -> Result<crate::rbac::Target, InputError> {
        let v = parse(text)?;
        target_from_document(&&v)
    }

    #[test]
    fn r4_1_universal_and_r4_2_kubernetes() {
        let t = target(
            r#"{"type":"MeshTimeout","mesh":"demo","name":"t","spec":{"targetRef":{"kind":"MeshService","name":"web"},"to":[{"targetRef":{"kind":"Mesh"}}]}}"#,
        )
        .unwrap();
        assert_eq!(
            (t.family, t.mesh.as_deref()),
            (Family::TargetRef, Some("demo"))
        );
        assert_eq!(t.elements.len(), 1);
        assert!(matches!(t.elements[0], Element::To(_)));
        let k = target(
            r#"{"apiVersion":"kuma.io/v1alpha1","kind":"MeshTimeout","metadata":{"name":"t","namespace":"kuma-system","labels":{"kuma.io/mesh":"m2"}},"spec":{}}"#,
        )
        .unwrap();
        assert_eq!(
            (k.name.as_str(), k.mesh.as_deref()),
            ("t.kuma-system", Some("m2"))
        );
        // A legacy kind keeps its fields at the top level (Universal) or in `spec` (Kubernetes).
        let tp = target(r#"{"type":"TrafficPermission","mesh":"m","name":"tp","sources":[{"match":{"a":"b"}}]}"#).unwrap();
        assert_eq!(tp.elements.len(), 1);
        let s = target(r#"{"apiVersion":"v1","kind":"Secret","type":"system.kuma.io/global-secret","metadata":{"name":"x"}}"#).unwrap();
        assert_eq!(s.type_name, "GlobalSecret");
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(matches!(target("{"), Err(InputError::Json(_))));
        assert!(matches!(
            target(r#"{"type":"Nope"}"#),
            Err(InputError::UnknownKind { .. })
        ));
        assert!(matches!(
            target(r#"{"type":"Secret","name":"s"}"#),
            Err(InputError::MissingMesh { .. })
        ));
        // Strict strings: a number is not a tag value.
        assert!(matches!(
            target(
                r#"{"type":"TrafficPermission","mesh":"m","name":"tp","sources":[{"match":{"v":1}}]}"#
            ),
            Err(InputError::Type { .. })
        ));
        // Depth: serde_json's recursion limit is an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(target(&deep), Err(InputError::Json(_))));
        let deep_field = format!(
            r#"{{"type":"Mesh","name":"m","x":{}1{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        assert!(target(&deep_field).is_err());
    }
}
