//! A bundle's resources section read natively (`bundle_rows::scan`, the unverified path of issue
//! #13) over arbitrary bytes never panics; a section it accepts gives spans inside the section
//! that each hold one JSON row, a compile input for exactly the vouched TrafficPermission rows,
//! and inputs that compile and serialise (or fail) without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshauthz_core::bundle::{encode, TrafficInputs};
use meshauthz_core::bundle_rows::{scan, traffic_inputs};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = scan(data) else {
        return;
    };
    let mut vouched_tps = 0;
    for r in &s.rows {
        let row = data.get(r.start..r.end).expect("a row span inside the section");
        assert!(row.first() == Some(&b'[') && row.last() == Some(&b']'));
        let kind = s.kinds.get(r.kind as usize).expect("a kind id in range");
        if r.vouched && kind == "TrafficPermission" {
            vouched_tps += 1;
        }
    }
    assert_eq!(vouched_tps, s.policies.len());
    let _ = s.has_duplicate_keys();
    let native = s.policies.into_iter().map(|(_, p)| p).collect();
    let _ = encode(&[0; 32], traffic_inputs(native, TrafficInputs::default()));
});
