//! A bundle's resources section read natively (issue #13, "bundles that activate" re-validated):
//! the fast path of a bundle loaded without a verified signature.
//!
//! [`scan`] reads the inflated resources section (`{"resources": [row, ...]}`, the rows
//! `python/meshauthz/bundle.py` `_row` writes) with `serde_json` in one pass (JSON numbers stay
//! numbers: the text is never read as YAML) and, for every row:
//!
//! - checks it exactly as the reference decoder (`bundle.py` `_fields`) does: a 12-element list, a
//!   string kind and name, mesh / namespace / file null or strings, labels and body objects, form
//!   0 or 1, a non-negative index, times `[seconds, nanos, offset]` in the ranges `_decode_time`
//!   accepts and whose wall time is within years 1..9999;
//! - gives its key columns (kind, name, mesh) and the byte span of its text (for the lazy
//!   `LazyResource` rows, parsed again on first access);
//! - decides whether the loader's checks (`loader.check_resource`) could report anything: a row
//!   is *vouched for* when it is a Universal-form row whose Universal document (envelope + body,
//!   rebuilt here as a [`Value`] with the same scalars Python's `json.loads` gives) is clean by
//!   [`clean_universal`], the core's one conservative verdict for hot kinds (no fork of it here);
//! - builds the compile inputs ([`PolicyInput`]) of every vouched TrafficPermission.
//!
//! Fail closed, and never decide differently from the reference: anything this module does not
//! reproduce exactly (a row defect, a duplicate object key — `json.loads` keeps the last —, a
//! number or string form `serde_json` and `json.loads` read differently, deep nesting) is a
//! [`NotFast`]: the caller then reads the section with the reference decoder, which raises the
//! `BundleError` naming the row (or accepts what Python accepts). So a row this module accepts is
//! one the reference accepts with the same values, and a row it vouches for is one the reference's
//! checks pass without a problem or a warning; every other row is re-validated by those checks.
//! Decoding is bounded by the section (already inflated with a bound) and by `serde_json`'s
//! recursion limit (128 levels). From [`PARALLEL_ROWS`] rows on, two threads read one half each
//! (every row is read on its own; the halves are joined in row order, so the result is the
//! one-thread scan's).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::bundle::TrafficInputs;
use crate::traffic::PolicyInput;
use crate::yaml::clean::{clean_universal, tp_selectors, ENVELOPE};
use crate::yaml::{Scalar, Value};

/// The section is not read on the fast path (the reference decoder reads and words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFast(pub String);

impl fmt::Display for NotFast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not on the native bundle path: {}", self.0)
    }
}

impl std::error::Error for NotFast {}

/// One row's key columns, span and verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowKey<'a> {
    /// Index into [`Scan::kinds`].
    pub kind: u32,
    pub name: Cow<'a, str>,
    pub mesh: Option<Cow<'a, str>>,
    /// Byte offsets of the row's JSON text in the section.
    pub start: usize,
    pub end: usize,
    /// The loader's checks pass without a problem or warning (see the module documentation).
    pub vouched: bool,
}

/// The rows of a resources section.
#[derive(Debug, Default)]
pub struct Scan<'a> {
    /// The distinct kind names, in order of first appearance.
    pub kinds: Vec<Cow<'a, str>>,
    pub rows: Vec<RowKey<'a>>,
    /// (row, compile input) of every vouched TrafficPermission row, in row order.
    pub policies: Vec<(usize, PolicyInput)>,
}

impl Scan<'_> {
    /// Two rows have one store key (type, mesh or "", name).
    pub fn has_duplicate_keys(&self) -> bool {
        let mut seen = ahash::AHashSet::with_capacity(self.rows.len());
        !self
            .rows
            .iter()
            .all(|r| seen.insert((r.kind, r.mesh.as_deref().unwrap_or(""), r.name.as_ref())))
    }
}

// ---- JSON -> yaml::Value (the Python values `json.loads` gives) -----------------------------------

struct Node<'a>(Value<'a>);

fn scalar<'a>(s: Scalar) -> Node<'a> {
    Node(Value::Scalar(s, Cow::Borrowed("")))
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Node<'de>, E> {
        Ok(scalar(Scalar::Bool(b)))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Node<'de>, E> {
        Ok(scalar(Scalar::Int(i)))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Node<'de>, E> {
        // past i64: an int Python holds exactly and no check here accepts as anything
        Ok(scalar(
            i64::try_from(u).map_or(Scalar::Deferred, Scalar::Int),
        ))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Node<'de>, E> {
        Ok(scalar(Scalar::Float(f)))
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Node<'de>, E> {
        Ok(Node(Value::Scalar(Scalar::Str, Cow::Borrowed(s))))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Node<'de>, E> {
        Ok(Node(Value::Scalar(Scalar::Str, Cow::Owned(s.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Node<'de>, E> {
        Ok(Node(Value::Scalar(Scalar::Str, Cow::Owned(s))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(scalar(Scalar::Null))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(scalar(Scalar::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Node(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Node(Value::Seq(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        let mut entries: Vec<(Value<'de>, Value<'de>)> = Vec::new();
        while let Some(Node(k)) = map.next_key()? {
            let Node(v) = map.next_value()?;
            entries.push((k, v));
        }
        if has_duplicate_key(&entries) {
            // json.loads keeps the last value, the clean verdict reads the first: never guess
            return Err(de::Error::custom("duplicate object key"));
        }
        Ok(Node(Value::Map(entries)))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

fn key_text<'a>(k: &'a Value<'_>) -> &'a str {
    match k {
        Value::Scalar(_, t) => t,
        _ => "",
    }
}

fn has_duplicate_key(entries: &[(Value<'_>, Value<'_>)]) -> bool {
    if entries.len() <= 8 {
        return entries.iter().enumerate().any(|(i, (k, _))| {
            entries
                .iter()
                .skip(i + 1)
                .any(|(o, _)| key_text(o) == key_text(k))
        });
    }
    let mut keys: Vec<&str> = entries.iter().map(|(k, _)| key_text(k)).collect();
    keys.sort_unstable();
    keys.windows(2).any(|w| w.first() == w.last())
}

// ---- the section: {"resources": [raw row, ...]} (other keys ignored, as the reference does) ----

struct Section<'a>(Vec<&'a RawValue>);

struct SectionVisitor;

impl<'de> Visitor<'de> for SectionVisitor {
    type Value = Section<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object with a resource list")
    }

    // Only an object (a derived struct would also take a JSON array; the reference does not).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Section<'de>, A::Error> {
        let mut rows: Option<Vec<&'de RawValue>> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "resources" {
                if rows.is_some() {
                    return Err(de::Error::custom("duplicate resources key"));
                }
                rows = Some(map.next_value_seed(RowList)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        rows.map(Section)
            .ok_or_else(|| de::Error::custom("no resource list"))
    }
}

/// A JSON array of raw rows (only an array: the reference requires a list).
struct RowList;

impl<'de> DeserializeSeed<'de> for RowList {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowList {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            out.push(raw);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Section<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(SectionVisitor)
    }
}

// ---- rows -----------------------------------------------------------------------------------------

/// Go's zero time (a row without a creation time): 0001-01-01T00:00:00Z.
pub const GO_ZERO: (i64, u32) = (-62_135_596_800, 0);
/// The last second of year 9999 (UTC wall time), the largest `datetime` holds.
const MAX_WALL: i128 = 253_402_300_799;

fn bad<T>(row: usize, what: &str) -> Result<T, NotFast> {
    Err(NotFast(format!("row {row}: {what}")))
}

/// A JSON string, borrowed from the section when it has no escape.
struct Str<'a>(Cow<'a, str>);

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Str<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Borrowed(s)))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(s.to_owned())))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Str<'de>, E> {
        Ok(Str(Cow::Owned(s)))
    }
}

impl<'de> Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(StrVisitor)
    }
}

/// A time as written: `[seconds, nanoseconds, offset]`, three JSON integers in i64.
type TimeRow = Option<(i64, i64, i64)>;

/// A row as `_row` writes it, with JSON's own types: `serde_json` refuses another type in any
/// column (a float or `true` where an integer goes, a number where a string goes), a list of
/// another length, and integers past the column's range, as errors.
struct RowFields<'a> {
    kind: Cow<'a, str>,
    name: Cow<'a, str>,
    mesh: Option<Cow<'a, str>>,
    labels: Value<'a>,
    created: TimeRow,
    modified: TimeRow,
    form: u8,
    namespace: Option<Cow<'a, str>>,
    body: Value<'a>,
}

struct RowVisitor;

fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(seq: &mut A) -> Result<T, A::Error> {
    seq.next_element()?
        .ok_or_else(|| de::Error::custom("a row is not a 12-element list"))
}

impl<'de> Visitor<'de> for RowVisitor {
    type Value = RowFields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a 12-element list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RowFields<'de>, A::Error> {
        let Str(kind) = next(&mut seq)?;
        let Str(name) = next(&mut seq)?;
        let mesh: Option<Str<'de>> = next(&mut seq)?;
        let Node(labels) = next(&mut seq)?;
        let created = next(&mut seq)?;
        let modified = next(&mut seq)?;
        let form = next(&mut seq)?;
        let namespace: Option<Str<'de>> = next(&mut seq)?;
        let _display: Str<'de> = next(&mut seq)?;
        let _file: Option<Str<'de>> = next(&mut seq)?; // document order only: not read here
        let _index: u64 = next(&mut seq)?;
        let Node(body) = next(&mut seq)?;
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("a row is not a 12-element list"));
        }
        Ok(RowFields {
            kind,
            name,
            mesh: mesh.map(|Str(m)| m),
            labels,
            created,
            modified,
            form,
            namespace: namespace.map(|Str(n)| n),
            body,
        })
    }
}

impl<'de> Deserialize<'de> for RowFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(RowVisitor)
    }
}

/// `_decode_time`: `[seconds in i64, nanoseconds 0..10^9, offset in (-86400, 86400)]` whose wall
/// time (seconds + offset) `datetime` can hold. None for anything else.
fn time(t: (i64, i64, i64)) -> Option<(i64, u32)> {
    let (s, n, o) = t;
    let wall = i128::from(s) + i128::from(o);
    ((-86_399..=86_399).contains(&o) && (i128::from(GO_ZERO.0)..=MAX_WALL).contains(&wall))
        .then_some(())
        .and_then(|()| u32::try_from(n).ok())
        .filter(|n| *n < 1_000_000_000)
        .map(|n| (s, n))
}

/// The hot kinds whose resources live in a mesh (`validate_meta` requires one).
fn mesh_scoped_hot(kind: &str) -> bool {
    matches!(
        kind,
        "TrafficPermission" | "MeshTrafficPermission" | "Dataplane"
    )
}

struct Parsed<'a> {
    kind: Cow<'a, str>,
    name: Cow<'a, str>,
    mesh: Option<Cow<'a, str>>,
    created: Option<(i64, u32)>,
    /// The row's Universal document, when the row is in the Universal form.
    universal: Option<Value<'a>>,
}

/// One row's fields, checked as the reference's `_fields` does.
fn parse_row<'a>(raw: &'a RawValue, i: usize) -> Result<Parsed<'a>, NotFast> {
    let row: RowFields<'a> = serde_json::from_str(raw.get()).or_else(|e| bad(i, &e.to_string()))?;
    let (Value::Map(_), Value::Map(entries)) = (&row.labels, row.body) else {
        return bad(i, "labels or body not an object");
    };
    let created = match row.created.map(time) {
        None => None,
        Some(Some(t)) => Some(t),
        Some(None) => return bad(i, "creation time"),
    };
    if row.form > 1 || row.modified.is_some_and(|t| time(t).is_none()) {
        return bad(i, "form or modification time");
    }
    let (kind, name, mesh) = (row.kind, row.name, row.mesh);
    let universal = (row.form == 0 && row.namespace.is_none())
        .then(|| {
            let clash = entries.iter().any(|(k, _)| ENVELOPE.contains(&key_text(k)));
            let mut doc = Vec::with_capacity(entries.len() + 4);
            doc.push((str_value("type"), Value::Scalar(Scalar::Str, kind.clone())));
            doc.push((str_value("name"), Value::Scalar(Scalar::Str, name.clone())));
            if let Some(m) = &mesh {
                doc.push((str_value("mesh"), Value::Scalar(Scalar::Str, m.clone())));
            }
            doc.push((str_value("labels"), row.labels));
            doc.extend(entries);
            (!clash).then_some(Value::Map(doc))
        })
        .flatten();
    Ok(Parsed {
        kind,
        name,
        mesh,
        created,
        universal,
    })
}

fn str_value(s: &'static str) -> Value<'static> {
    Value::Scalar(Scalar::Str, Cow::Borrowed(s))
}

/// The compile input's selectors: each tag map's pairs owned and sorted (as the bindings file
/// Python's dicts).
fn owned(side: Vec<Vec<(&str, &str)>>) -> Vec<Vec<(String, String)>> {
    side.into_iter()
        .map(|tags| {
            let mut pairs: Vec<(String, String)> = tags
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            pairs.sort_unstable();
            pairs
        })
        .collect()
}

/// One row read: its kind name, key columns, span, verdict and compile input.
struct Read<'a> {
    kind: Cow<'a, str>,
    key: RowKey<'a>,
    policy: Option<PolicyInput>,
}

/// Row `i` (`raw`, inside `section`).
fn read_row<'a>(section: &[u8], raw: &'a RawValue, i: usize) -> Result<Read<'a>, NotFast> {
    let text = raw.get();
    let start = (text.as_ptr() as usize)
        .checked_sub(section.as_ptr() as usize)
        .filter(|s| s.saturating_add(text.len()) <= section.len())
        .ok_or_else(|| NotFast(format!("row {i}: span")))?;
    let p = parse_row(raw, i)?;
    let hot_mesh_ok = p.mesh.is_some() || !mesh_scoped_hot(&p.kind);
    let vouched = hot_mesh_ok && p.universal.as_ref().is_some_and(clean_universal);
    let mut policy = None;
    if vouched && p.kind == "TrafficPermission" {
        let (Some((sources, destinations)), Some(mesh)) =
            (p.universal.as_ref().and_then(tp_selectors), p.mesh.as_ref())
        else {
            return bad(i, "a clean TrafficPermission without selectors");
        };
        policy = Some(PolicyInput {
            mesh: mesh.to_string(),
            name: p.name.to_string(),
            created: p.created.unwrap_or(GO_ZERO),
            sources: owned(sources),
            destinations: owned(destinations),
        });
    }
    Ok(Read {
        kind: p.kind,
        key: RowKey {
            kind: 0,
            name: p.name,
            mesh: p.mesh,
            start,
            end: start + text.len(),
            vouched,
        },
        policy,
    })
}

/// Rows `first..` of `raws`, read in order.
fn read_rows<'a>(
    section: &[u8],
    raws: &[&'a RawValue],
    first: usize,
) -> Result<Vec<Read<'a>>, NotFast> {
    (raws.iter().enumerate())
        .map(|(i, raw)| read_row(section, raw, first + i))
        .collect()
}

/// Sections of at least this many rows are read by two threads (each row is read on its own:
/// the halves' results are joined in row order, so the scan is the same).
pub const PARALLEL_ROWS: usize = 2048;

/// See the module documentation.
pub fn scan(section: &[u8]) -> Result<Scan<'_>, NotFast> {
    let Section(raws) =
        serde_json::from_slice(section).map_err(|e| NotFast(format!("JSON: {e}")))?;
    let two = raws.len() >= PARALLEL_ROWS
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let read = if two {
        let (a, b) = raws.split_at(raws.len() / 2);
        let (ra, rb) = std::thread::scope(|s| {
            let second = s.spawn(|| read_rows(section, b, a.len()));
            let first = read_rows(section, a, 0);
            (first, second.join())
        });
        let rb = rb.map_err(|_| NotFast("a reader thread stopped".into()))?;
        let mut ra = ra?;
        ra.extend(rb?);
        ra
    } else {
        read_rows(section, &raws, 0)?
    };
    let mut out = Scan {
        kinds: Vec::new(),
        rows: Vec::with_capacity(read.len()),
        policies: Vec::new(),
    };
    for (i, r) in read.into_iter().enumerate() {
        let kind = match out.kinds.iter().position(|k| *k == r.kind) {
            Some(k) => k,
            None => {
                out.kinds.push(r.kind);
                out.kinds.len() - 1
            }
        };
        if let Some(p) = r.policy {
            out.policies.push((i, p));
        }
        out.rows.push(RowKey {
            kind: kind as u32,
            ..r.key
        });
    }
    Ok(out)
}

/// The traffic inputs of a whole bundle: `inputs` (the rows the reference compile extracted: every
/// Mesh, Dataplane, ExternalService and MeshTrafficPermission, and the TrafficPermissions not
/// vouched for) with the vouched TrafficPermissions' `native` inputs, the policies in the store's
/// order (mesh, then name), as the Python compile lists them.
pub fn traffic_inputs(native: Vec<PolicyInput>, mut inputs: TrafficInputs) -> TrafficInputs {
    inputs.policies.extend(native);
    inputs.policies.sort_by(|a, b| {
        (a.mesh.as_str(), a.name.as_str()).cmp(&(b.mesh.as_str(), b.name.as_str()))
    });
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(rows: &[&str]) -> String {
        format!(
            r#"{{"meshauthz":"0.1.0","resources":[{}]}}"#,
            rows.join(",")
        )
    }

    const TP: &str = r#"["TrafficPermission","tp-1","default",{},[1704067200,5,0],null,0,null,"tp-1","a.yaml",0,{"sources":[{"match":{"kuma.io/service":"web","version":"*"}}],"destinations":[{"match":{"kuma.io/service":"db"}}]}]"#;

    #[test]
    fn a_clean_traffic_permission_is_vouched_and_compiled() {
        let text = section(&[TP]);
        let s = scan(text.as_bytes()).unwrap();
        assert_eq!(s.kinds, vec!["TrafficPermission"]);
        let row = &s.rows[0];
        assert!(row.vouched);
        assert_eq!(
            (row.name.as_ref(), row.mesh.as_deref()),
            ("tp-1", Some("default"))
        );
        assert_eq!(&text[row.start..row.end], TP);
        let (i, p) = &s.policies[0];
        assert_eq!(*i, 0);
        assert_eq!(p.created, (1_704_067_200, 5));
        assert_eq!(
            p.sources,
            vec![vec![
                ("kuma.io/service".to_string(), "web".to_string()),
                ("version".to_string(), "*".to_string())
            ]]
        );
    }

    #[test]
    fn rows_the_checks_would_report_are_not_vouched() {
        let cases = [
            // a bad tag value (T5.6), an unknown field, a number where a string goes, no mesh,
            // an empty source list, a Kubernetes-form row, a namespace, a body key of the envelope
            TP.replace(r#""db""#, r#""d b""#),
            TP.replace(r#""destinations""#, r#""extra":1,"destinations""#),
            TP.replace(r#""db""#, "1"),
            TP.replace(r#""default""#, "null"),
            TP.replace(r#"{"match":{"kuma.io/service":"web","version":"*"}}"#, ""),
            TP.replace(r#",0,null,"tp-1""#, r#",1,null,"tp-1""#),
            TP.replace(r#",0,null,"tp-1""#, r#",0,"ns","tp-1""#),
            TP.replace(r#"{"sources""#, r#"{"name":"x","sources""#),
            TP.replace("tp-1", "TP_1"),
        ];
        for case in &cases {
            let text = section(&[case]);
            let s = scan(text.as_bytes()).unwrap_or_else(|e| panic!("{case}: {e}"));
            assert!(!s.rows[0].vouched, "{case}");
            assert!(s.policies.is_empty(), "{case}");
        }
        // an MTP row without a mesh: the loader's meta check reports it
        let mtp = r#"["MeshTrafficPermission","m",null,{},null,null,0,null,"m",null,0,{"spec":{"targetRef":{"kind":"Mesh"},"from":[{"targetRef":{"kind":"Mesh"},"default":{"action":"Allow"}}]}}]"#;
        let text = section(&[mtp]);
        assert!(!scan(text.as_bytes()).unwrap().rows[0].vouched);
        let with_mesh = mtp.replace(r#""m",null"#, r#""m","default""#);
        assert!(scan(section(&[&with_mesh]).as_bytes()).unwrap().rows[0].vouched);
    }

    #[test]
    fn every_row_defect_leaves_the_fast_path() {
        let cases = [
            TP.replace(r#"["TrafficPermission","#, r#"[1,"#),
            TP.replace(r#",0,null,"tp-1""#, r#",2,null,"tp-1""#),
            TP.replace(r#",0,null,"tp-1""#, r#",true,null,"tp-1""#),
            TP.replace(r#",0,null,"tp-1""#, r#",0.0,null,"tp-1""#),
            TP.replace(r#""a.yaml",0"#, r#""a.yaml",-1"#),
            TP.replace(r#""a.yaml",0"#, r#""a.yaml",1.5"#),
            TP.replace("[1704067200,5,0]", "[1704067200,5]"),
            TP.replace("[1704067200,5,0]", "[1704067200,1000000000,0]"),
            TP.replace("[1704067200,5,0]", "[1704067200,5,86400]"),
            TP.replace("[1704067200,5,0]", "[1e3,5,0]"),
            TP.replace("[1704067200,5,0]", "[253402300800,0,0]"),
            TP.replace("[1704067200,5,0]", "[-62135596801,0,0]"),
            TP.replace("[1704067200,5,0]", "[253402300799,0,1]"),
            TP.replace(r#",{},"#, r#",[],"#),
            TP.replace(r#""version":"*""#, r#""version":"*","version":"1""#),
            TP.replace(r#""tp-1","a.yaml""#, r#"null,"a.yaml""#),
            TP.replace(r#""tp-1","default""#, r#""tp-1",7"#),
            format!("{TP},1"),
            TP.replace("[1704067200,5,0]", "[NaN,5,0]"),
            TP.replace(r#""web""#, r#""\ud800""#),
        ];
        for case in &cases {
            assert!(scan(section(&[case]).as_bytes()).is_err(), "{case}");
        }
        for text in [
            "[]",
            r#"{"resources":{}}"#,
            r#"{"resources":[],"resources":[]}"#,
            r#"{"other":1}"#,
            "\u{feff}{\"resources\":[]}",
            r#"{"resources":[]} x"#,
        ] {
            assert!(scan(text.as_bytes()).is_err(), "{text}");
        }
        // boundaries the reference accepts
        for ok in [
            TP.replace("[1704067200,5,0]", "[253402300799,999999999,0]"),
            TP.replace("[1704067200,5,0]", "[-62135596800,0,0]"),
            TP.replace("[1704067200,5,0]", "[253402300800,0,-1]"),
            TP.replace(r#""a.yaml",0"#, r#""a.yaml",18446744073709551615"#),
        ] {
            assert!(scan(section(&[&ok]).as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn escaped_strings_and_ignored_keys_read_as_python_reads_them() {
        let tp = TP.replace(
            r#""kuma.io/service":"db""#,
            r#""kuma.io/service":"d\u0062""#,
        );
        let text = format!(r#"{{"x":[1,{{"y":null}}],"resources":[{tp}]}}"#);
        let s = scan(text.as_bytes()).unwrap();
        assert!(s.rows[0].vouched);
        assert_eq!(s.policies[0].1.destinations[0][0].1, "db");
    }

    #[test]
    fn two_reader_threads_give_the_one_thread_scan() {
        // more rows than PARALLEL_ROWS: every third row not vouched for, kinds first seen late
        let rows: Vec<String> = (0..PARALLEL_ROWS + 901)
            .map(|i| match i % 3 {
                0 => TP.replace("tp-1", &format!("tp-{i}")),
                1 => TP.replace("tp-1", &format!("TP_{i}")),
                _ if i > PARALLEL_ROWS => TP
                    .replace("tp-1", &format!("r-{i}"))
                    .replace("TrafficPermission", "Mesh"),
                _ => TP
                    .replace("tp-1", &format!("x-{i}"))
                    .replace(r#""db""#, "1"),
            })
            .collect();
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let text = section(&refs);
        let s = scan(text.as_bytes()).unwrap();
        let Section(raws) = serde_json::from_str(&text).unwrap();
        let one = read_rows(text.as_bytes(), &raws, 0).unwrap();
        assert_eq!(s.rows.len(), one.len());
        for (i, (got, want)) in s.rows.iter().zip(&one).enumerate() {
            assert_eq!(s.kinds[got.kind as usize], want.kind, "row {i}");
            assert_eq!(
                (&got.name, &got.mesh, got.start, got.end, got.vouched),
                (
                    &want.key.name,
                    &want.key.mesh,
                    want.key.start,
                    want.key.end,
                    want.key.vouched
                ),
                "row {i}"
            );
            assert_eq!(&text[got.start..got.end], refs[i]);
        }
        let want: Vec<_> = (one.iter().enumerate())
            .filter_map(|(i, r)| r.policy.clone().map(|p| (i, p)))
            .collect();
        assert_eq!(s.policies, want);
        assert_eq!(s.kinds, vec!["TrafficPermission", "Mesh"]);
        assert!(s.rows.iter().filter(|r| r.vouched).count() > PARALLEL_ROWS / 3);
        // a defect in either half leaves the fast path
        for at in [5, PARALLEL_ROWS + 5] {
            let mut bad_rows = refs.clone();
            bad_rows[at] = "[1]";
            assert!(scan(section(&bad_rows).as_bytes()).is_err(), "{at}");
        }
    }

    #[test]
    fn policies_merge_in_store_order() {
        let p = |mesh: &str, name: &str| PolicyInput {
            mesh: mesh.into(),
            name: name.into(),
            ..PolicyInput::default()
        };
        let inputs = TrafficInputs {
            policies: vec![p("b", "a"), p("", "z")],
            ..TrafficInputs::default()
        };
        let merged = traffic_inputs(vec![p("a", "z"), p("b", "0")], inputs);
        let keys: Vec<_> = merged
            .policies
            .iter()
            .map(|p| (p.mesh.as_str(), p.name.as_str()))
            .collect();
        assert_eq!(keys, vec![("", "z"), ("a", "z"), ("b", "0"), ("b", "a")]);
    }
}
