//! Column readers of RBAC batches: groups (list or "a,b" text), targets (JSON texts converted
//! once per distinct text or dictionary value, or indices into `targets=`), dictionary helpers.

use std::sync::Arc;

use ahash::AHashMap;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use meshauthz_core::rbac::batch::Slot;
use meshauthz_core::rbac::{document, json, Target};
use pyo3::prelude::*;

use crate::batch::{IntCol, StrCol};

// ---- groups ------------------------------------------------------------------------------------

/// A row's groups: inline up to 8, then spilled (one allocation for the rare larger set).
pub(super) struct Groups<'a> {
    inline: [&'a str; 8],
    n: usize,
    spill: Vec<&'a str>,
}

impl<'a> Groups<'a> {
    pub(super) fn new() -> Groups<'a> {
        Groups {
            inline: [""; 8],
            n: 0,
            spill: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, g: &'a str) {
        match self.inline.get_mut(self.n) {
            Some(slot) if self.spill.is_empty() => {
                *slot = g;
                self.n += 1;
            }
            _ => {
                if self.spill.is_empty() {
                    let first: Vec<&'a str> = self.inline.iter().take(self.n).copied().collect();
                    self.spill = first;
                }
                self.spill.push(g);
            }
        }
    }

    pub(super) fn as_slice(&self) -> &[&'a str] {
        if self.spill.is_empty() {
            self.inline.get(..self.n).unwrap_or_default()
        } else {
            &self.spill
        }
    }
}

/// "a,b" → `[a, b]` (the documented text form of the groups column; never split into characters).
pub(super) fn split_groups(s: Option<&str>) -> Groups<'_> {
    let mut out = Groups::new();
    if let Some(s) = s.map(str::trim).filter(|s| !s.is_empty()) {
        for g in s.split(',') {
            out.push(g.trim());
        }
    }
    out
}

/// Groups: list<string> (any list flavour) or a comma-separated string column.
pub(super) enum GroupsCol {
    Absent,
    Text(StrCol),
    List(ArrayRef, StrCol),
}

impl GroupsCol {
    pub(super) fn new(a: Option<&ArrayRef>) -> PyResult<GroupsCol> {
        let Some(a) = a else {
            return Ok(GroupsCol::Absent);
        };
        Ok(match a.data_type() {
            DataType::List(_) | DataType::LargeList(_) => {
                let values = match a.as_list_opt::<i32>() {
                    Some(l) => l.values().clone(),
                    None => a.as_list::<i64>().values().clone(),
                };
                GroupsCol::List(a.clone(), StrCol::new(Some(&values), "groups")?)
            }
            _ => GroupsCol::Text(StrCol::new(Some(a), "groups")?),
        })
    }

    /// Row `i`'s groups, borrowed from the column (R1.1 order kept).
    pub(super) fn get(&self, i: usize) -> Groups<'_> {
        match self {
            GroupsCol::Absent => Groups::new(),
            GroupsCol::Text(c) => split_groups(c.get(i)),
            GroupsCol::List(a, values) => {
                let mut out = Groups::new();
                if a.is_null(i) {
                    return out;
                }
                let range = match a.as_list_opt::<i32>() {
                    Some(l) => l.value_offsets().get(i..i + 2).and_then(|o| match *o {
                        [s, e] => Some((s as usize, e as usize)),
                        _ => None,
                    }),
                    None => {
                        a.as_list::<i64>()
                            .value_offsets()
                            .get(i..i + 2)
                            .and_then(|o| match *o {
                                [s, e] => Some((s as usize, e as usize)),
                                _ => None,
                            })
                    }
                };
                if let Some((s, e)) = range {
                    for j in s..e {
                        if let Some(g) = values.get(j) {
                            out.push(g);
                        }
                    }
                }
                out
            }
        }
    }
}

// ---- targets -----------------------------------------------------------------------------------

pub(super) const ABSENT: u32 = u32::MAX;
pub(super) const BAD: u32 = u32::MAX - 1;

/// Per row, an index into a table of converted targets (or `ABSENT` / `BAD`).
pub(super) struct Targets {
    ids: Vec<u32>,
    table: Vec<Arc<Target>>,
}

impl Targets {
    pub(super) fn slot(&self, i: usize) -> Slot<'_> {
        match self.ids.get(i).copied().unwrap_or(ABSENT) {
            ABSENT => Slot::Absent,
            BAD => Slot::Bad,
            id => self
                .table
                .get(id as usize)
                .map_or(Slot::Bad, |t| Slot::Target(t)),
        }
    }
}

pub(super) fn from_json(text: &str) -> Option<Arc<Target>> {
    let doc = json::parse(text).ok()?;
    document::target_from_document(&&doc).ok().map(Arc::new)
}

/// A `resource` / `old_resource` column: JSON texts (each distinct text converted once; a
/// dictionary column's values converted once each) or integer indices into `handles`.
pub(super) fn resolve(
    a: Option<&ArrayRef>,
    n: usize,
    handles: &[Option<Arc<Target>>],
    what: &str,
) -> PyResult<Targets> {
    let mut t = Targets {
        ids: Vec::with_capacity(n),
        table: Vec::new(),
    };
    let Some(a) = a.filter(|a| a.data_type() != &DataType::Null) else {
        t.ids.resize(n, ABSENT);
        return Ok(t);
    };
    if a.data_type().is_integer() {
        let c = IntCol::new(Some(a), what)?;
        t.table = handles.iter().flatten().cloned().collect();
        // handle position -> table position (None handles are bad targets)
        let mut pos = Vec::with_capacity(handles.len());
        let mut k = 0u32;
        for h in handles {
            pos.push(if h.is_some() {
                k += 1;
                k - 1
            } else {
                BAD
            });
        }
        for i in 0..n {
            t.ids.push(match c.get(i) {
                None => ABSENT,
                Some(r) => usize::try_from(r)
                    .ok()
                    .and_then(|r| pos.get(r).copied())
                    .unwrap_or(BAD),
            });
        }
        return Ok(t);
    }
    let col = StrCol::new(Some(a), what)?;
    let add = |table: &mut Vec<Arc<Target>>, text: &str| match from_json(text) {
        Some(x) => {
            table.push(x);
            (table.len() - 1) as u32
        }
        None => BAD,
    };
    if let (StrCol::Dict(arr, keys, values), DataType::Dictionary(_, _)) = (&col, a.data_type()) {
        let nvalues = arr.as_any_dictionary().values().len();
        let per_value: Vec<u32> = (0..nvalues)
            .map(|v| values.get(v).map_or(ABSENT, |s| add(&mut t.table, s)))
            .collect();
        for i in 0..n {
            t.ids.push(if arr.is_null(i) {
                ABSENT
            } else {
                keys.get(i)
                    .and_then(|k| per_value.get(*k).copied())
                    .unwrap_or(BAD)
            });
        }
        return Ok(t);
    }
    let mut seen: AHashMap<&str, u32> = AHashMap::default();
    for i in 0..n {
        t.ids.push(match col.get(i) {
            None => ABSENT,
            Some(s) => match seen.get(s) {
                Some(&id) => id,
                None => {
                    let id = add(&mut t.table, s);
                    seen.insert(s, id);
                    id
                }
            },
        });
    }
    Ok(t)
}

/// A dictionary column's key at row `i` (`None` for null or a plain column).
pub(super) fn dict_key(col: &StrCol, i: usize) -> Option<usize> {
    match col {
        StrCol::Dict(arr, keys, _) if !arr.is_null(i) => keys.get(i).copied(),
        _ => None,
    }
}

/// `f` of every value of a dictionary column (each distinct text converted once), or `None`.
pub(super) fn per_value<T>(col: &StrCol, f: impl Fn(&str) -> Option<T>) -> Option<Vec<Option<T>>> {
    match col {
        StrCol::Dict(arr, _, values) => {
            let n = arr.as_any_dictionary().values().len();
            Some((0..n).map(|v| values.get(v).and_then(&f)).collect())
        }
        _ => None,
    }
}

/// The value range of list row `i` (`None` for null).
pub(super) fn list_range(a: &ArrayRef, i: usize) -> Option<(usize, usize)> {
    if a.is_null(i) {
        return None;
    }
    let pair = |o: &[i64]| match *o {
        [s, e] => Some((s as usize, e as usize)),
        _ => None,
    };
    match a.as_list_opt::<i32>() {
        Some(l) => l.value_offsets().get(i..i + 2).and_then(|o| match *o {
            [s, e] => Some((s as usize, e as usize)),
            _ => None,
        }),
        None => a
            .as_list_opt::<i64>()
            .and_then(|l| l.value_offsets().get(i..i + 2).and_then(pair)),
    }
}
