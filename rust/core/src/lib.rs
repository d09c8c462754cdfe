//! meshauthz-core: the Kuma / Kong Mesh authorization semantics in plain Rust.
//!
//! No Python here: the `meshauthz-py` crate translates to and from Python objects.
//! Rule numbers (T2.2, R5.6, M6.2, ...) refer to the specs in `shared/spec/`.

pub mod bundle;
pub mod bundle_rows;
pub mod mtp;
pub mod rbac;
pub mod selector;
pub mod traffic;
pub mod yaml;
