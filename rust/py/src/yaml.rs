//! Bindings for the native YAML reader (`meshauthz_core::yaml`): one crossing per stream, values
//! converted to plain Python objects, positions kept native and looked up on demand.

use std::collections::HashMap;

use ahash::AHashMap;
use std::sync::{Arc, OnceLock};

use meshauthz_core::yaml::dataplane_table::{DataplaneTable, OwnedInbound};
use meshauthz_core::yaml::mtp_table::{MtpParts, MtpTable};
use meshauthz_core::yaml::table::SelectorTable;
use meshauthz_core::yaml::{self, Key, Mark, Scalar, Value};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyFloat, PyList, PyString, PyTuple};

type Positions = HashMap<Vec<Key>, Mark>;

/// A stream read without positions: its text, and every document's positions once one is asked
/// for (read again, once, with positions on).
struct Stream {
    text: String,
    positions: OnceLock<Vec<Positions>>,
    /// Set once the stream is read: what deferred documents are read again from.
    deferred: OnceLock<Deferred>,
}

/// The documents whose value Python did not get whole (see `yaml_load`'s `defer`).
struct Deferred {
    /// Per slot: the byte span to read the document again from, and its first line (None: not
    /// deferred).
    spans: Vec<Option<(usize, usize, u32)>>,
    /// Per slot: a deferred TrafficPermission's selectors (the traffic compile's inputs).
    selectors: SelectorTable,
    /// Per slot: a deferred MeshTrafficPermission's compile inputs (top targetRef, `from` items).
    mtps: MtpTable,
    /// Per slot: a deferred Dataplane's inbounds (port, tags).
    dataplanes: DataplaneTable,
    /// Per slot, deferred or not: the span and first line its positions are read from alone
    /// (None: the document has no span of its own; the whole stream's positions answer).
    alone: Vec<Option<(usize, usize, u32)>>,
    /// Per slot, once any is asked for: a document's positions, read from its span alone (asking
    /// for one document's marks — a warning located in a large stream — neither re-reads nor
    /// keeps every document's).
    /// (None: not readable alone, never expected: the whole stream's positions answer.)
    positions: OnceLock<Box<[OnceLock<Option<Positions>>]>>,
}

/// One side of a TrafficPermission's selectors, as the traffic compile takes them: each
/// selector's (key, value) pairs sorted.
pub(crate) type OwnedSide = Vec<Vec<(String, String)>>;

impl Stream {
    fn positions(&self, py: Python<'_>) -> &[Positions] {
        self.positions.get_or_init(|| {
            py.detach(|| {
                yaml::load(&self.text)
                    .map(|docs| docs.into_iter().map(|d| d.positions).collect())
                    .unwrap_or_default()
            })
        })
    }
}

/// The positions of one document (path -> (line, column)), native until asked for.
#[pyclass(frozen, module = "meshauthz._core")]
pub struct YamlMarks {
    stream: Arc<Stream>,
    /// Position of the document in the stream's list of documents.
    slot: usize,
}

impl YamlMarks {
    fn get<'a>(&'a self, py: Python<'_>) -> Option<&'a Positions> {
        if let Some(d) = self.stream.deferred.get() {
            if let Some(Some((start, end, line))) = d.alone.get(self.slot) {
                let all = d.positions.get_or_init(|| {
                    std::iter::repeat_with(OnceLock::new)
                        .take(d.alone.len())
                        .collect()
                });
                let text = &self.stream.text;
                let alone = all.get(self.slot).and_then(|p| {
                    p.get_or_init(|| {
                        py.detach(|| yaml::reread_positions(text, (*start, *end), *line).ok())
                    })
                    .as_ref()
                });
                if alone.is_some() {
                    return alone;
                }
            }
        }
        self.stream.positions(py).get(self.slot)
    }

    /// A deferred TrafficPermission's sources (`destinations = false`) or destinations, read
    /// natively when the stream was (None: this document's were not kept).
    pub(crate) fn selectors(&self, destinations: bool) -> Option<OwnedSide> {
        let (s, d) = self.stream.deferred.get()?.selectors.get(self.slot)?;
        let side = if destinations { d } else { s };
        Some(
            side.into_iter()
                .map(|selector| {
                    let mut pairs: Vec<(String, String)> = selector
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect();
                    pairs.sort_unstable();
                    pairs
                })
                .collect(),
        )
    }
}

impl YamlMarks {
    /// A deferred MeshTrafficPermission's top targetRef and `from` items, read natively when the
    /// stream was (None: this document's were not kept).
    pub(crate) fn mtp_parts(&self) -> Option<MtpParts> {
        self.stream.deferred.get()?.mtps.get(self.slot)
    }

    /// A deferred Dataplane's inbounds (port, tags in the order written), read natively when the
    /// stream was (None: this document's were not kept).
    pub(crate) fn dataplane_inbounds(&self) -> Option<Vec<OwnedInbound>> {
        self.stream.deferred.get()?.dataplanes.get(self.slot)
    }
}

fn key_from_py(item: &Bound<'_, PyAny>) -> Option<Key> {
    if item.is_none() {
        return Some(Key::Null);
    }
    if let Ok(s) = item.cast::<PyString>() {
        return s.to_cow().ok().map(|s| Key::Str(s.into_owned()));
    }
    if let Ok(f) = item.cast::<PyFloat>() {
        return Key::of_float(f.value());
    }
    if let Ok(i) = item.extract::<i64>() {
        return Some(Key::Int(i)); // bools too (True == 1)
    }
    // dates and datetimes (abi3: by attribute)
    let year: u32 = item.getattr("year").ok()?.extract().ok()?;
    let month: u32 = item.getattr("month").ok()?.extract().ok()?;
    let day: u32 = item.getattr("day").ok()?.extract().ok()?;
    let Ok(hour) = item.getattr("hour") else {
        return Some(Key::Date(year, month, day));
    };
    let hour: i64 = hour.extract().ok()?;
    let minute: i64 = item.getattr("minute").ok()?.extract().ok()?;
    let second: i64 = item.getattr("second").ok()?.extract().ok()?;
    let micro: i64 = item.getattr("microsecond").ok()?.extract().ok()?;
    let wall = yaml::wall_micros((year, month, day), hour, minute, second, micro);
    let offset = item.call_method0("utcoffset").ok()?;
    if offset.is_none() {
        return Some(Key::of_datetime(wall, None));
    }
    let secs: f64 = offset.call_method0("total_seconds").ok()?.extract().ok()?;
    Some(Key::of_datetime(
        wall,
        Some((secs * 1_000_000.0).round() as i64),
    ))
}

fn key_to_py<'py>(py: Python<'py>, key: &Key) -> PyResult<Bound<'py, PyAny>> {
    Ok(match key {
        Key::Null => py.None().into_bound(py),
        Key::Int(i) => i.into_pyobject(py)?.into_any(),
        Key::FloatBits(b) => f64::from_bits(*b).into_pyobject(py)?.into_any(),
        Key::Str(s) => PyString::new(py, s).into_any(),
        Key::Date(y, m, d) => ("date", *y, *m, *d).into_pyobject(py)?.into_any(),
        Key::Naive(us) => ("naive", *us).into_pyobject(py)?.into_any(),
        Key::Aware(us) => ("aware", *us).into_pyobject(py)?.into_any(),
        Key::Unique(n) => ("unique", *n).into_pyobject(py)?.into_any(),
    })
}

#[pymethods]
impl YamlMarks {
    /// Position of `path`, or of its nearest ancestor that has one (as `Document.mark`).
    fn mark(&self, path: &Bound<'_, PyTuple>) -> Option<Mark> {
        let positions = self.get(path.py())?;
        let mut keys: Vec<Key> = Vec::with_capacity(path.len());
        for item in path.iter() {
            match key_from_py(&item) {
                Some(k) => keys.push(k),
                None => break, // not a key this document can have: the ancestors answer
            }
        }
        yaml::nearest_mark(positions, &keys)
    }

    /// Every (path, mark); dates / times in paths as ("date", y, m, d) / ("naive" | "aware", µs).
    fn items<'py>(&self, py: Python<'py>) -> PyResult<Vec<(Bound<'py, PyTuple>, Mark)>> {
        let Some(positions) = self.get(py) else {
            return Ok(Vec::new());
        };
        positions
            .iter()
            .map(|(path, mark)| {
                let items = path
                    .iter()
                    .map(|k| key_to_py(py, k))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok((PyTuple::new(py, items)?, *mark))
            })
            .collect()
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.get(py).map_or(0, HashMap::len)
    }

    /// The whole value of a deferred document, read again natively from its span of the stream's
    /// text (the value the stream's read gave it: same construction); None when the document was
    /// not deferred or cannot be read again (the caller raises: never a guessed value).
    fn value<'py>(
        &self,
        py: Python<'py>,
        make_timestamp: &Bound<'py, PyAny>,
        make_date: &Bound<'py, PyAny>,
        construct: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let Some(Some((start, end, _))) = self
            .stream
            .deferred
            .get()
            .and_then(|d| d.spans.get(self.slot))
        else {
            return Ok(None);
        };
        let Ok(value) = yaml::reread(&self.stream.text, (*start, *end)) else {
            return Ok(None);
        };
        let mut conv = Convert::new(py, make_timestamp, make_date, construct);
        conv.value(&value).map(Some)
    }

    /// Whether the document was deferred (its Python value built only when asked for).
    #[getter]
    fn deferred(&self) -> bool {
        self.stream
            .deferred
            .get()
            .and_then(|d| d.spans.get(self.slot))
            .is_some_and(Option::is_some)
    }
}

struct Convert<'a, 'py> {
    py: Python<'py>,
    make_timestamp: &'a Bound<'py, PyAny>,
    make_date: &'a Bound<'py, PyAny>,
    construct: &'a Bound<'py, PyAny>,
    /// Short strings (keys, tag values) and timestamps repeat across documents: one Python object
    /// each (less memory, fewer calls).
    strings: AHashMap<String, Py<PyAny>>,
    /// Resolved creationTimes: one tuple per distinct instant (resources applied together share
    /// their seconds), not one per document.
    created: AHashMap<Created, Py<PyAny>>,
}

impl<'a, 'py> Convert<'a, 'py> {
    fn new(
        py: Python<'py>,
        make_timestamp: &'a Bound<'py, PyAny>,
        make_date: &'a Bound<'py, PyAny>,
        construct: &'a Bound<'py, PyAny>,
    ) -> Self {
        Convert {
            py,
            make_timestamp,
            make_date,
            construct,
            strings: AHashMap::new(),
            created: AHashMap::new(),
        }
    }

    /// A deferred document's envelope: its top-level entries named in `clean::ENVELOPE`, the
    /// only fields the loader reads of a clean document (the body is read again when asked for).
    fn envelope(&mut self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        let dict = PyDict::new(self.py);
        if let Value::Map(entries) = v {
            for (k, v) in entries {
                if let Value::Scalar(Scalar::Str, key) = k {
                    if yaml::clean::ENVELOPE.contains(&key.as_ref()) {
                        let value = match v {
                            // a name is one document's own: not worth a cache entry (100,000
                            // entries freed after the read leave the allocator's heap in holes)
                            Value::Scalar(Scalar::Str, name) if key == "name" => {
                                PyString::new(self.py, name).into_any()
                            }
                            _ => self.value(v)?,
                        };
                        dict.set_item(self.value(k)?, value)?;
                    }
                }
            }
        }
        Ok(dict.into_any())
    }

    fn scalar(&mut self, s: &Scalar, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match s {
            Scalar::Null => py.None().into_bound(py),
            Scalar::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
            Scalar::Int(i) => i.into_pyobject(py)?.into_any(),
            Scalar::Float(f) => f.into_pyobject(py)?.into_any(),
            Scalar::Str | Scalar::Merge | Scalar::Unsupported => {
                if text.len() > 48 {
                    return Ok(PyString::new(py, text).into_any());
                }
                if let Some(k) = self.strings.get(text) {
                    return Ok(k.bind(py).clone());
                }
                let k = PyString::new(py, text).into_any();
                self.strings.insert(text.to_owned(), k.clone().unbind());
                k
            }
            Scalar::Date { year, month, day } => self.make_date.call1((*year, *month, *day))?,
            Scalar::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                nanos,
                offset_minutes,
            } => {
                // timestamps are immutable: one object per distinct text in a stream
                let cache_key = format!("\u{0}ts{text}");
                if let Some(t) = self.strings.get(&cache_key) {
                    return Ok(t.bind(py).clone());
                }
                let t = self.make_timestamp.call1((
                    *year,
                    *month,
                    *day,
                    *hour,
                    *minute,
                    *second,
                    *nanos,
                    *offset_minutes,
                ))?;
                self.strings.insert(cache_key, t.clone().unbind());
                t
            }
            Scalar::Deferred => self.construct.call1((text,))?,
        })
    }

    fn created(&mut self, created: Created) -> PyResult<Bound<'py, PyAny>> {
        if let Some(t) = self.created.get(&created) {
            return Ok(t.bind(self.py).clone());
        }
        let t = created.into_pyobject(self.py)?.into_any();
        self.created.insert(created, t.clone().unbind());
        Ok(t)
    }

    fn value(&mut self, v: &Value) -> PyResult<Bound<'py, PyAny>> {
        Ok(match v {
            Value::Scalar(s, text) => self.scalar(s, text)?,
            Value::Seq(items) => {
                // built at its exact size (appending over-allocates: 24 bytes per short list)
                let items = items
                    .iter()
                    .map(|item| self.value(item))
                    .collect::<PyResult<Vec<_>>>()?;
                PyList::new(self.py, items)?.into_any()
            }
            Value::Map(entries) => {
                let dict = PyDict::new(self.py);
                for (k, v) in entries {
                    dict.set_item(self.value(k)?, self.value(v)?)?;
                }
                dict.into_any()
            }
        })
    }
}

type Problem = (String, usize, u32, u32, &'static str, bool);

/// A clean document's creationTime: (year, month, day, hour, minute, second, nanoseconds, UTC
/// offset in minutes or None, seconds since the epoch).
type Created = (u32, u32, u32, u32, u32, u32, u32, Option<i32>, i64);
type Loaded<'py> = (
    usize,
    Bound<'py, PyAny>,
    YamlMarks,
    bool,
    Option<Bound<'py, PyAny>>,
    bool,
);

fn created_of(doc: &yaml::Document<'_>, clean: bool) -> Option<Created> {
    if !clean {
        return None;
    }
    match yaml::clean::creation_time(doc.value.as_ref()?)? {
        (
            Scalar::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                nanos,
                offset_minutes,
            },
            seconds,
        ) => Some((
            year,
            month,
            day,
            hour,
            minute,
            second,
            nanos,
            offset_minutes,
            seconds,
        )),
        _ => None,
    }
}

/// Read a YAML stream: ([(index, value, marks, clean, created, deferred)], None) — `clean`: a
/// Universal document of a hot kind that loads with no problem and no warning
/// (`meshauthz_core::yaml::clean`); `created`: its creationTime resolved (see `Created`);
/// `deferred` (only with `defer`, only clean TrafficPermissions, MeshTrafficPermissions and
/// Dataplanes): `value` holds the envelope alone (`clean::ENVELOPE`), the whole value is
/// `marks.value(...)`, read again from the text when asked for, and the compile inputs (a TP's
/// selectors, an MTP's targetRefs and actions, a Dataplane's inbounds) are kept natively for the
/// engines — or
/// (None, (message, document, line, column, code, outside_subset)) when the text has a problem or
/// uses YAML outside the native subset (the caller then reads it with the reference loader).
#[pyfunction]
#[pyo3(signature = (text, make_timestamp, make_date, construct, defer = false))]
fn yaml_load<'py>(
    py: Python<'py>,
    text: String,
    make_timestamp: &Bound<'py, PyAny>,
    make_date: &Bound<'py, PyAny>,
    construct: &Bound<'py, PyAny>,
    defer: bool,
) -> PyResult<(Option<Vec<Loaded<'py>>>, Option<Problem>)> {
    let stream = Arc::new(Stream {
        text,
        positions: OnceLock::new(),
        deferred: OnceLock::new(),
    });
    let mut conv = Convert::new(py, make_timestamp, make_date, construct);
    // sized once from the number of document markers (growing by doubling leaves the freed
    // halves behind as holes in the allocator's heap: resident memory after a large read)
    let estimate = stream.text.matches("\n---").count() + 1;
    let mut spans: Vec<Option<(usize, usize, u32)>> = Vec::with_capacity(estimate);
    let mut alone: Vec<Option<(usize, usize, u32)>> = Vec::with_capacity(estimate);
    let mut selectors = SelectorTable::default();
    let mut mtps = MtpTable::default();
    let mut dataplanes = DataplaneTable::default();
    let mut out = Vec::with_capacity(estimate);
    let mut failure: Option<PyErr> = None;
    // Each document is converted as soon as it is read: only one document's native values are
    // alive at a time (peak memory stays that of the Python objects).
    let stopped = || yaml::Error {
        message: "stopped".into(),
        document: 0,
        line: 0,
        column: 0,
        code: "yaml",
        outside_subset: true,
        scanned: 0,
    };
    let read: Result<(), yaml::Error>;
    {
        // Converts one read document (and its clean verdict) into Python objects; false = stop.
        let mut accept = |doc: yaml::Document<'_>, clean: bool| -> bool {
            // deferred: a clean TrafficPermission, MeshTrafficPermission or Dataplane that reads
            // again alone, its compile inputs kept natively (a TP's selectors; an MTP's targetRefs
            // and actions; a Dataplane's inbounds: the traffic and MTP engines compile from them).
            // The other clean kinds are read whole: their engine (the Authorizer) reads every
            // body, so deferring them would only parse each document twice.
            let mut deferred = false;
            let mut span = None;
            let mut kept = None;
            let mut mtp = None;
            let mut inbounds = None;
            if let (true, true, Some(v), Some(s)) = (defer, clean, &doc.value, doc.span) {
                kept = yaml::clean::tp_selectors(v);
                if kept.is_none() {
                    mtp = yaml::clean::mtp_inputs(v);
                }
                if kept.is_none() && mtp.is_none() {
                    inbounds = yaml::clean_dataplane::inbounds(v);
                }
                if kept.is_some() || mtp.is_some() || inbounds.is_some() {
                    deferred = true;
                    span = Some((s.0, s.1, doc.line));
                }
            }
            let pushed = selectors.push(kept.as_ref().map(|(s, d)| (s.as_slice(), d.as_slice())))
                & mtps.push(mtp.as_ref())
                & dataplanes.push(inbounds.as_deref());
            if !pushed {
                // a table is full: this one is read whole
                deferred = false;
                span = None;
            }
            spans.push(span);
            alone.push(doc.span.map(|(start, end)| (start, end, doc.line)));
            let value = match &doc.value {
                Some(v) if deferred => conv.envelope(v),
                Some(v) => conv.value(v),
                None => Ok(py.None().into_bound(py)),
            };
            let created = created_of(&doc, clean).map(|c| conv.created(c)).transpose();
            match value.and_then(|v| Ok((v, created?))) {
                Ok((value, created)) => {
                    let slot = out.len();
                    out.push((
                        doc.index,
                        value,
                        YamlMarks {
                            stream: Arc::clone(&stream),
                            slot,
                        },
                        clean,
                        created,
                        deferred,
                    ));
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        };
        // One thread reads and converts: a reader thread feeding this one through a queue was
        // measured slower (10,000 policies: 208 ms wall / 252 ms CPU against 122 ms on one
        // thread; cross-thread frees contend on the allocator and the two threads hand over
        // every batch).
        read = yaml::for_each_document(&stream.text, false, |doc| {
            let clean = doc.value.as_ref().is_some_and(|v| {
                yaml::clean::clean_universal(v) || yaml::clean::clean_kubernetes(v)
            });
            if accept(doc, clean) {
                Ok(())
            } else {
                Err(stopped())
            }
        });
    }
    if let Some(e) = failure {
        return Err(e);
    }
    selectors.seal();
    mtps.seal();
    dataplanes.seal();
    spans.shrink_to_fit();
    alone.shrink_to_fit();
    // set once, here: the handles created above see it from now on
    let _ = stream.deferred.set(Deferred {
        spans,
        selectors,
        mtps,
        dataplanes,
        alone,
        positions: OnceLock::new(),
    });
    if let Err(e) = read {
        return Ok((
            None,
            Some((
                e.message,
                e.document,
                e.line,
                e.column,
                e.code,
                e.outside_subset,
            )),
        ));
    }
    Ok((Some(out), None))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<YamlMarks>()?;
    m.add_function(wrap_pyfunction!(yaml_load, m)?)?;
    Ok(())
}
