//! Reading YAML resource documents natively: values plus the position of every path.
//!
//! The event parser is `saphyr-parser` (line / column marks); this module builds values the way
//! `python/meshauthz/yaml_source.py` (the reference) does from PyYAML's events, with the same
//! guarantees: a position for every path (mapping keys at their key, sequence items and the root at
//! their start), duplicate keys refused (Python key equality: `1`, `1.0` and `true` are one key),
//! merge keys (`<<`, explicit keys and earlier merges win) and anchors, nesting deeper than
//! [`MAX_DEPTH`], alias expansion beyond [`MAX_EXPANDED_NODES`] and scalars over
//! [`MAX_SCALAR_CHARS`] refused, and PyYAML's YAML 1.1 resolution of plain scalars ([`resolve`]).
//!
//! Anything outside the subset this module reproduces exactly is an [`Error`] with
//! [`Error::outside_subset`] set (a tag, a non-printable or YAML 1.1-only line-break character, a
//! directive): the caller then reads the text with the reference loader, which also words every
//! problem. Positions are 1-based (line, column in characters), as the reference reports them.

pub mod clean;
pub mod clean_dataplane;
pub mod dataplane_table;
pub mod interned;
pub mod mtp_table;
pub mod resolve;
pub mod table;

use std::borrow::Cow;
use std::collections::HashMap;

use ahash::AHashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

pub const MAX_DEPTH: usize = 100;
pub const MAX_EXPANDED_NODES: usize = 1_000_000;
pub const MAX_SCALAR_CHARS: usize = 1 << 20;

/// A 1-based (line, column) position.
pub type Mark = (u32, u32);

/// A resolved scalar (see [`resolve::plain`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    /// The text itself (quoted, block, or a plain scalar of no other type).
    Str,
    Date {
        year: u32,
        month: u32,
        day: u32,
    },
    Timestamp {
        year: u32,
        month: u32,
        day: u32,
        hour: u32,
        minute: u32,
        second: u32,
        nanos: u32,
        /// None: a naive time (no offset written); Some(0) for `Z`.
        offset_minutes: Option<i32>,
    },
    /// A number the reference constructor computes (past i64, sexagesimal floats).
    Deferred,
    /// The merge key `<<`.
    Merge,
    /// A plain scalar PyYAML resolves to a tag it cannot construct (`=`).
    Unsupported,
}

/// A value of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// The resolved scalar and its text (borrowed from the input where the parser could).
    Scalar(Scalar, Cow<'a, str>),
    Seq(Vec<Value<'a>>),
    /// Entries in insertion order (explicit keys first, then merged ones).
    Map(Vec<(Value<'a>, Value<'a>)>),
}

/// One element of a path: a sequence index or a (scalar) mapping key, compared as Python compares
/// dictionary keys (`true == 1 == 1.0`; a date never equals a datetime; aware times by instant).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    Null,
    Int(i64),
    FloatBits(u64),
    Str(String),
    Date(u32, u32, u32),
    /// Wall time in microseconds (naive datetimes).
    Naive(i64),
    /// UTC instant in microseconds (aware datetimes).
    Aware(i64),
    /// Never equal to anything else (NaN).
    Unique(usize),
}

/// One document of a stream.
#[derive(Debug)]
pub struct Document<'a> {
    /// 0-based index among the stream's documents (empty ones included).
    pub index: usize,
    pub value: Option<Value<'a>>,
    pub positions: HashMap<Vec<Key>, Mark>,
    /// The byte range of the text that holds this document alone (from the start of the line of
    /// its first token or `---`, to its end marker or the next document's `---`): [`reread`] of
    /// it gives the same value. None when the document does not start on a line of its own.
    pub span: Option<(usize, usize)>,
    /// The 1-based line the span starts on ([`reread_positions`]).
    pub line: u32,
}

impl Document<'_> {
    /// The position of `path`, or of its nearest ancestor that has one.
    pub fn mark(&self, path: &[Key]) -> Option<Mark> {
        nearest_mark(&self.positions, path)
    }
}

/// The position of `path` in a document's `positions`, or of its nearest ancestor that has one.
pub fn nearest_mark(positions: &HashMap<Vec<Key>, Mark>, path: &[Key]) -> Option<Mark> {
    (0..=path.len())
        .rev()
        .find_map(|n| positions.get(path.get(..n)?).copied())
}

impl Key {
    /// The key of a float, as Python compares them (`1.0 == 1`): an integral float is that
    /// `Int`, another its bits; None for NaN (equal to nothing).
    pub fn of_float(f: f64) -> Option<Key> {
        if f.is_nan() {
            None
        } else if f.fract() == 0.0 && f.abs() < 9.0e18 {
            Some(Key::Int(f as i64))
        } else {
            Some(Key::FloatBits(f.to_bits()))
        }
    }

    /// The key of a datetime of wall time `wall` ([`wall_micros`]): `Naive`, or with a UTC offset
    /// (µs) the instant, `Aware`.
    pub fn of_datetime(wall: i64, offset_micros: Option<i64>) -> Key {
        match offset_micros {
            None => Key::Naive(wall),
            Some(o) => Key::Aware(wall - o),
        }
    }
}

/// Microseconds from 1970-01-01 00:00 to a wall date and time (proleptic Gregorian calendar).
pub fn wall_micros(
    (year, month, day): (u32, u32, u32),
    hour: i64,
    minute: i64,
    second: i64,
    micros: i64,
) -> i64 {
    let days = days_from_civil(i64::from(year), month, day);
    (days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000 + micros
}

/// Why a text could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub message: String,
    pub document: usize,
    pub line: u32,
    pub column: u32,
    /// `yaml`, `duplicate-key`, `limit`, `binary`, `tag`.
    pub code: &'static str,
    /// The text uses YAML this module does not reproduce exactly: read it with the reference.
    pub outside_subset: bool,
    /// Characters read when the parser stopped (syntax errors).
    pub scanned: usize,
}

/// Days from 1970-01-01 to a date (proleptic Gregorian calendar).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn key_of(scalar: &Scalar, text: &str, unique: &mut usize) -> Key {
    match scalar {
        Scalar::Null => Key::Null,
        Scalar::Bool(b) => Key::Int(i64::from(*b)),
        Scalar::Int(i) => Key::Int(*i),
        Scalar::Float(f) => Key::of_float(*f).unwrap_or_else(|| {
            *unique += 1;
            Key::Unique(*unique)
        }),
        Scalar::Date { year, month, day } => Key::Date(*year, *month, *day),
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
            let wall = wall_micros(
                (*year, *month, *day),
                i64::from(*hour),
                i64::from(*minute),
                i64::from(*second),
                i64::from(*nanos / 1000),
            );
            Key::of_datetime(wall, offset_minutes.map(|o| i64::from(o) * 60_000_000))
        }
        Scalar::Str | Scalar::Deferred | Scalar::Merge | Scalar::Unsupported => {
            Key::Str(text.to_owned())
        }
    }
}

/// Characters PyYAML's reader accepts (`Reader.NON_PRINTABLE`'s complement), minus NEL / LS / PS
/// and the BOM, which YAML 1.1 treats differently from the YAML 1.2 parser used here.
fn in_subset(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='~')
        || (('\u{A0}'..='\u{D7FF}').contains(&c) && !matches!(c, '\u{2028}' | '\u{2029}'))
        || (('\u{E000}'..='\u{FFFD}').contains(&c) && c != '\u{FEFF}')
        || c >= '\u{10000}'
}

fn mark_of(span: &Span) -> Mark {
    (span.start.line() as u32, span.start.col() as u32 + 1)
}

/// Python key equality of two keys already in [`Key`] form, without one for the existing entries of
/// small mappings (scanned; large ones keep a set).
fn is_duplicate(parent: &mut Container<'_>, key: &Key) -> bool {
    let Value::Map(entries) = &parent.value else {
        return false;
    };
    if parent.explicit.is_none() && entries.len() >= 16 {
        let mut unique = usize::MAX / 2;
        parent.explicit = Some(
            entries
                .iter()
                .filter_map(|(k, _)| match k {
                    Value::Scalar(s, t) => Some((key_of(s, t, &mut unique), ())),
                    _ => None,
                })
                .collect(),
        );
    }
    if let Some(set) = &mut parent.explicit {
        return set.insert(key.clone(), ()).is_some();
    }
    entries.iter().any(|(k, _)| match (k, key) {
        (Value::Scalar(Scalar::Str, t), Key::Str(s)) => t == s,
        (Value::Scalar(Scalar::Str, _), _) | (_, Key::Str(_)) => false,
        (Value::Scalar(s, t), _) => {
            let mut unique = usize::MAX / 2;
            key_of(s, t, &mut unique) == *key
        }
        _ => false,
    })
}

struct Container<'a> {
    value: Value<'a>,
    path: Vec<Key>,
    is_map: bool,
    /// The key read and waiting for its value: (key value, its Python-equality key; None = `<<`).
    pending: Option<(Value<'a>, Option<Key>)>,
    /// Keys seen, for duplicate detection once a mapping is large (small ones are scanned).
    explicit: Option<AHashMap<Key, ()>>,
    merges: Vec<Value<'a>>,
    size: usize,
    anchor: usize,
}

struct Builder<'a> {
    /// Whether positions are recorded (see [`load_values`]).
    record: bool,
    document: usize,
    positions: HashMap<Vec<Key>, Mark>,
    anchors: AHashMap<usize, (Value<'a>, usize)>,
    expanded: usize,
    unique: usize,
}

impl<'a> Builder<'a> {
    fn fail(&self, message: impl Into<String>, mark: Mark, code: &'static str) -> Error {
        Error {
            message: message.into(),
            document: self.document,
            line: mark.0,
            column: mark.1,
            code,
            outside_subset: false,
            scanned: 0,
        }
    }

    fn child_path(parent: Option<&Container<'_>>) -> Vec<Key> {
        let Some(p) = parent else {
            return Vec::new();
        };
        let mut path = p.path.clone();
        if p.is_map {
            if let Some((_, Some(k))) = &p.pending {
                path.push(k.clone());
            }
        } else if let Value::Seq(items) = &p.value {
            path.push(Key::Int(items.len() as i64));
        }
        path
    }

    /// Attach a finished value to its parent (the reference's `_attach`).
    fn attach(
        &mut self,
        parent: &mut Container<'a>,
        value: Value<'a>,
        mark: Mark,
    ) -> Result<(), Error> {
        if !parent.is_map {
            if let Value::Seq(items) = &mut parent.value {
                items.push(value);
            }
            return Ok(());
        }
        match parent.pending.take() {
            None => {
                let Value::Scalar(scalar, text) = &value else {
                    return Err(self.fail("a mapping key must be a scalar", mark, "yaml"));
                };
                if *scalar == Scalar::Deferred {
                    // equality with other numbers needs Python's arbitrary precision
                    let mut e = self.fail("a big number as a mapping key", mark, "yaml");
                    e.outside_subset = true;
                    return Err(e);
                }
                if *scalar == Scalar::Merge {
                    parent.pending = Some((value, None));
                    return Ok(());
                }
                let key = key_of(scalar, text, &mut self.unique);
                if is_duplicate(parent, &key) {
                    return Err(self.fail(
                        format!("duplicate mapping key {text:?}"),
                        mark,
                        "duplicate-key",
                    ));
                }
                if self.record {
                    let mut path = parent.path.clone();
                    path.push(key.clone());
                    self.positions.insert(path, mark);
                }
                parent.pending = Some((value, Some(key)));
            }
            Some((_, None)) => {
                // merge: a mapping or a list of mappings
                let sources = match value {
                    Value::Seq(items) => items,
                    other => vec![other],
                };
                for src in sources {
                    if !matches!(src, Value::Map(_)) {
                        return Err(self.fail(
                            "a merge key (<<) needs a mapping or a list of mappings",
                            mark,
                            "yaml",
                        ));
                    }
                    parent.merges.push(src);
                }
            }
            Some((key_value, Some(_))) => {
                if let Value::Map(entries) = &mut parent.value {
                    entries.push((key_value, value));
                }
            }
        }
        Ok(())
    }

    /// A finished container: apply its merges (explicit keys win, earlier merges win).
    fn finish(&mut self, mut done: Container<'a>) -> (Value<'a>, usize, usize) {
        if done.is_map && !done.merges.is_empty() {
            if let Value::Map(entries) = &mut done.value {
                let mut present: AHashMap<Key, ()> = AHashMap::new();
                for (k, _) in entries.iter() {
                    if let Value::Scalar(s, t) = k {
                        present.insert(key_of(s, t, &mut self.unique), ());
                    }
                }
                for merged in std::mem::take(&mut done.merges) {
                    if let Value::Map(src) = merged {
                        for (k, v) in src {
                            let Value::Scalar(s, t) = &k else { continue };
                            if present.insert(key_of(s, t, &mut self.unique), ()).is_none() {
                                entries.push((k, v));
                            }
                        }
                    }
                }
            }
        }
        (done.value, done.size, done.anchor)
    }
}

/// Byte offsets of the parser's character indices, for indices met in increasing order (one pass
/// over the text; the identity for ASCII text).
struct ByteIndex<'a> {
    text: &'a str,
    ascii: bool,
    chars: usize,
    bytes: usize,
}

impl<'a> ByteIndex<'a> {
    fn new(text: &'a str) -> Self {
        ByteIndex {
            text,
            ascii: text.is_ascii(),
            chars: 0,
            bytes: 0,
        }
    }

    fn byte(&mut self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        if char_index < self.chars {
            self.chars = 0;
            self.bytes = 0;
        }
        let rest = self.text.get(self.bytes..).unwrap_or("");
        match rest.char_indices().nth(char_index - self.chars) {
            Some((b, _)) => {
                self.bytes += b;
                self.chars = char_index;
            }
            None => {
                self.bytes = self.text.len();
                self.chars = char_index;
            }
        }
        self.bytes
    }

    /// The start of the line holding byte `at`, when only spaces precede `at` on it.
    fn line_start(&self, at: usize) -> Option<usize> {
        let before = self.text.get(..at)?;
        let start = before.rfind('\n').map_or(0, |i| i + 1);
        before
            .get(start..)?
            .bytes()
            .all(|c| c == b' ')
            .then_some(start)
    }
}

/// An error about a span given to [`reread`] / [`reread_positions`] (never the case for a span this
/// module recorded).
fn span_error(message: &str) -> Error {
    Error {
        message: message.to_owned(),
        document: 0,
        line: 0,
        column: 0,
        code: "yaml",
        outside_subset: false,
        scanned: 0,
    }
}

/// The one document with a value in `text[span]`, read again (with positions or without).
fn one_document(text: &str, span: (usize, usize), positions: bool) -> Result<Document<'_>, Error> {
    let part = text
        .get(span.0..span.1)
        .ok_or_else(|| span_error("the document's span is not in the text"))?;
    let docs = if positions {
        load(part)?
    } else {
        load_values(part)?
    };
    let mut docs = docs.into_iter();
    match (docs.next(), docs.next()) {
        (Some(d @ Document { value: Some(_), .. }), None) => Ok(d),
        _ => Err(span_error(
            "the document's span does not hold exactly one document",
        )),
    }
}

/// The value of the one document in `text[span]` (a [`Document::span`] of `text`), read again
/// without positions: the value the stream's read gave it. An error when the span does not hold
/// exactly one document with a value (never the case for a span this module recorded).
pub fn reread(text: &str, span: (usize, usize)) -> Result<Value<'_>, Error> {
    one_document(text, span, false)?
        .value
        .ok_or_else(|| span_error("the document's span holds no value"))
}

/// The positions of the one document in `text[span]` (a [`Document::span`] of `text`, starting on
/// line `line`), read again: the positions the stream's read with positions gives it (the span
/// starts at a line start, so columns are the same and lines are shifted by `line - 1`).
pub fn reread_positions(
    text: &str,
    span: (usize, usize),
    line: u32,
) -> Result<HashMap<Vec<Key>, Mark>, Error> {
    Ok(one_document(text, span, true)?
        .positions
        .into_iter()
        .map(|(path, (l, c))| (path, (l.saturating_add(line.saturating_sub(1)), c)))
        .collect())
}

fn outside(message: &str, document: usize, mark: Mark) -> Error {
    Error {
        message: message.to_owned(),
        document,
        line: mark.0,
        column: mark.1,
        code: "yaml",
        outside_subset: true,
        scanned: 0,
    }
}

/// Read every document of a YAML stream (empty documents included, value None), with the
/// position of every path.
pub fn load(text: &str) -> Result<Vec<Document<'_>>, Error> {
    load_with(text, true)
}

/// As [`load`] without recording positions (`positions` stay empty): the fast path for callers
/// that ask for positions only when they report a problem (then [`load`] the same text once).
pub fn load_values(text: &str) -> Result<Vec<Document<'_>>, Error> {
    load_with(text, false)
}

fn load_with(text: &str, record: bool) -> Result<Vec<Document<'_>>, Error> {
    let mut docs = Vec::new();
    for_each_document(text, record, |d| {
        docs.push(d);
        Ok(())
    })?;
    Ok(docs)
}

/// Read a stream document by document, handing each to `sink` as soon as it is complete (so only
/// one document's values are alive at a time); `record`: with positions. Stops at the first error
/// (of the text, or returned by `sink`).
pub fn for_each_document<'a>(
    text: &'a str,
    record: bool,
    mut sink: impl FnMut(Document<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    match load_events(text, record, &mut sink) {
        Err(e) if e.code == "yaml" && e.message.contains("recursion limit") => {
            // The scanner looks ahead past level 101 of a flow collection and stops at its own
            // limit first: read the text up to that point, where our depth check speaks.
            let end = text
                .char_indices()
                .nth(e.scanned)
                .map_or(text.len(), |(i, _)| i);
            match load_events(&text[..end], record, &mut |_| Ok(())) {
                Err(limit) if limit.code == "limit" => Err(limit),
                _ => Err(e),
            }
        }
        other => other,
    }
}

fn load_events<'a>(
    text: &'a str,
    record: bool,
    sink: &mut dyn FnMut(Document<'a>) -> Result<(), Error>,
) -> Result<(), Error> {
    // YAML this module does not reproduce exactly goes to the reference loader.
    let mut line = 1u32;
    let mut line_start = true;
    let mut prev = '\n';
    let mut line_chars = 0usize;
    for c in text.chars() {
        line_chars += 1;
        if line_chars > MAX_SCALAR_CHARS {
            // a line longer than the scalar limit: the reference reports it without a second parse
            return Err(outside("a line over the scalar limit", 0, (line, 1)));
        }
        if c == '\t' {
            // tabs as separation: libyaml takes some the YAML 1.2 scanner refuses, and the reverse
            return Err(outside("a tab", 0, (line, 1)));
        }
        if !in_subset(c) {
            return Err(outside(
                "a character outside the native subset",
                0,
                (line, 1),
            ));
        }
        if prev == ':' && matches!(c, ',' | '[' | ']' | '{' | '}') {
            // YAML 1.2 reads `[a:]` / `{a:}` as a key; YAML 1.1 (libyaml) refuses it
            return Err(outside("`:` before a flow indicator", 0, (line, 1)));
        }
        prev = c;
        if c == '%' && line_start {
            return Err(outside("a directive", 0, (line, 1)));
        }
        line_start = c == '\n';
        if line_start {
            line += 1;
            line_chars = 0;
        }
    }
    let mut starts: usize = 0;
    let mut b = Builder {
        record,
        document: 0,
        positions: HashMap::new(),
        anchors: AHashMap::new(),
        expanded: 0,
        unique: 0,
    };
    let mut stack: Vec<Container<'_>> = Vec::new();
    let mut root: Option<Value<'_>> = None;
    let mut bytes = ByteIndex::new(text);
    let mut doc_start: Option<usize> = None;
    let mut doc_line = 1u32;
    for item in Parser::new_from_str(text) {
        let (event, span) = item.map_err(|e| Error {
            message: format!("invalid YAML: {}", e.info()),
            document: starts.saturating_sub(1),
            line: e.marker().line() as u32,
            column: e.marker().col() as u32 + 1,
            code: "yaml",
            outside_subset: false,
            scanned: e.marker().index(),
        })?;
        let mark = mark_of(&span);
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => {
                starts += 1;
                b.document = starts - 1;
                b.positions = HashMap::new();
                b.anchors.clear();
                b.expanded = 0;
                root = None;
                let at = bytes.byte(span.start.index());
                doc_start = bytes.line_start(at);
                doc_line = mark.0;
            }
            Event::DocumentEnd => {
                // the end marker, the next `---` or the stream's end
                let end = bytes.byte(span.start.index());
                sink(Document {
                    index: starts.saturating_sub(1),
                    value: root.take(),
                    positions: std::mem::take(&mut b.positions),
                    span: doc_start.take().filter(|s| *s <= end).map(|s| (s, end)),
                    line: doc_line,
                })?;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                let Some(done) = stack.pop() else {
                    continue;
                };
                let (value, size, anchor) = b.finish(done);
                if let Some(parent) = stack.last_mut() {
                    parent.size += size;
                }
                if anchor != 0 {
                    b.anchors.insert(anchor, (value.clone(), size));
                }
                place(&mut b, &mut stack, &mut root, value, mark)?;
            }
            Event::Alias(id) => {
                let Some((value, size)) = b.anchors.get(&id).cloned() else {
                    return Err(b.fail("unknown alias", mark, "yaml"));
                };
                b.expanded += size;
                if b.expanded > MAX_EXPANDED_NODES {
                    return Err(b.fail(
                        format!(
                            "alias expansion exceeds {MAX_EXPANDED_NODES} nodes (an alias bomb?)"
                        ),
                        mark,
                        "limit",
                    ));
                }
                if let Some(parent) = stack.last_mut() {
                    parent.size += size;
                }
                place(&mut b, &mut stack, &mut root, value, mark)?;
            }
            Event::Scalar(text, style, anchor, tag) => {
                if tag.is_some() {
                    return Err(outside("a tag", b.document, mark));
                }
                if text.len() > MAX_SCALAR_CHARS {
                    let chars = text.chars().count();
                    if chars > MAX_SCALAR_CHARS {
                        return Err(b.fail(
                            format!(
                                "scalar of {chars} characters exceeds the {MAX_SCALAR_CHARS} limit"
                            ),
                            mark,
                            "limit",
                        ));
                    }
                }
                let parent = stack.last();
                let is_key = parent.is_some_and(|p| p.is_map && p.pending.is_none());
                let positioned = parent.is_none_or(|p| !p.is_map);
                if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded) && positioned {
                    // libyaml marks a block scalar at its indicator, the YAML 1.2 parser at its text
                    return Err(outside("a block scalar item", b.document, mark));
                }
                if text.is_empty()
                    && style == ScalarStyle::Plain
                    && (is_key || (positioned && parent.is_some()))
                {
                    // an empty node's mark differs between the parsers (after `-` or after its blank)
                    return Err(outside("an empty sequence item or key", b.document, mark));
                }
                if !is_key && b.record {
                    b.positions
                        .entry(Builder::child_path(parent))
                        .or_insert(mark);
                }
                let scalar = if style == ScalarStyle::Plain {
                    resolve::plain(&text)
                } else {
                    Scalar::Str
                };
                if scalar == Scalar::Unsupported {
                    return Err(b.fail(
                        "unsupported YAML tag 'tag:yaml.org,2002:value'",
                        mark,
                        "yaml",
                    ));
                }
                let value = Value::Scalar(scalar, text);
                if anchor != 0 {
                    b.anchors.insert(anchor, (value.clone(), 1));
                }
                if let Some(parent) = stack.last_mut() {
                    parent.size += 1;
                }
                place(&mut b, &mut stack, &mut root, value, mark)?;
            }
            Event::MappingStart(anchor, ref tag) | Event::SequenceStart(anchor, ref tag) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if tag.is_some() {
                    return Err(outside("a tag", b.document, mark));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(b.fail(
                        format!("nesting deeper than {MAX_DEPTH} levels"),
                        mark,
                        "limit",
                    ));
                }
                let parent = stack.last();
                if parent.is_some_and(|p| p.is_map && p.pending.is_none()) {
                    return Err(b.fail("a mapping key must be a scalar", mark, "yaml"));
                }
                let path = if b.record {
                    let path = Builder::child_path(parent);
                    b.positions.entry(path.clone()).or_insert(mark);
                    path
                } else {
                    Vec::new()
                };
                stack.push(Container {
                    value: if is_map {
                        Value::Map(Vec::new())
                    } else {
                        Value::Seq(Vec::new())
                    },
                    path,
                    is_map,
                    pending: None,
                    explicit: None,
                    merges: Vec::new(),
                    size: 1,
                    anchor,
                });
            }
        }
    }
    Ok(())
}

fn place<'a>(
    b: &mut Builder<'a>,
    stack: &mut [Container<'a>],
    root: &mut Option<Value<'a>>,
    value: Value<'a>,
    mark: Mark,
) -> Result<(), Error> {
    match stack.last_mut() {
        Some(parent) => b.attach(parent, value, mark),
        None => {
            *root = Some(value);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every document with a value reads again, alone from its span, to the value the whole
    /// stream gave it.
    fn spans_reread(text: &str) -> usize {
        let docs = load(text).unwrap();
        let mut checked = 0;
        for d in &docs {
            let Some(value) = &d.value else { continue };
            let span = d
                .span
                .unwrap_or_else(|| panic!("no span for document {}", d.index));
            assert_eq!(&reread(text, span).unwrap(), value, "document {}", d.index);
            checked += 1;
        }
        checked
    }

    #[test]
    fn document_spans_reread_to_the_same_values() {
        let text = "# a comment\ntype: A\nname: a\nlist: [1, 2.5, x]\n---\n  type: B\n  n: &x {k: v}\n  m: *x\n  <<: {z: 1}\n...\n--- {type: C, \"q\": 'é'}\n---\n# only a comment\n---\nlast: é\ntime: 2024-01-01T00:00:00Z";
        assert_eq!(spans_reread(text), 5); // the comment-only document is a null
                                           // the last document ends at the stream's end (no trailing newline); non-ASCII text
        let docs = load(text).unwrap();
        let last = docs.last().unwrap().span.unwrap();
        assert_eq!(last.1, text.len());
        assert!(text[last.0..].starts_with("---\nlast"));
        // an implicit first document indented: its line start is taken
        assert_eq!(spans_reread("  a: 1\n  b: [x]\n---\nc: 2\n"), 2);
    }

    #[test]
    fn document_spans_reread_to_the_same_positions() {
        let text = "# c\na: [1, {b: 2}]\n---\n  x: &k {y: z}\n  w: *k\n...\n--- {q: 'é', r: [s]}\n---\n\nlast:\n  - é: 1\n    f: 2";
        let docs = load(text).unwrap();
        assert_eq!(docs.len(), 4);
        for d in &docs {
            let span = d.span.unwrap();
            assert_eq!(
                reread_positions(text, span, d.line).unwrap(),
                d.positions,
                "document {}",
                d.index
            );
        }
    }

    #[test]
    fn reread_refuses_a_span_of_no_single_document() {
        let text = "a: 1\n---\nb: 2\n";
        assert!(reread(text, (0, text.len())).is_err());
        assert!(reread(text, (0, 100)).is_err());
        assert!(reread(text, (2, 1)).is_err());
        assert_eq!(
            reread(text, (9, text.len())).unwrap(),
            load(text).unwrap()[1].value.clone().unwrap()
        );
    }

    #[test]
    fn tp_selectors_of_a_clean_traffic_permission() {
        let text = "type: TrafficPermission\nname: a\nmesh: default\nsources:\n  - match: {kuma.io/service: web, version: '*'}\ndestinations:\n  - match:\n      kuma.io/service: db\n  - match: {team: x}\n";
        let docs = load(text).unwrap();
        let v = docs[0].value.as_ref().unwrap();
        assert!(clean::clean_universal(v));
        let (s, d) = clean::tp_selectors(v).unwrap();
        assert_eq!(s, vec![vec![("kuma.io/service", "web"), ("version", "*")]]);
        assert_eq!(
            d,
            vec![vec![("kuma.io/service", "db")], vec![("team", "x")]]
        );
        let role = load("type: AccessRole\nname: r\n").unwrap();
        assert_eq!(clean::tp_selectors(role[0].value.as_ref().unwrap()), None);
    }
}
