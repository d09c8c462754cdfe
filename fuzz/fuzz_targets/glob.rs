//! R5.8 glob (issue #12 item 10): agrees with a naive dynamic-programming matcher on every input,
//! and its work stays linear (`steps <= 4 * (pattern + value)`, the bound rust/core's test uses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshauthz_core::rbac::glob::{glob, glob_counted};

/// Reference: `*` = any run of bytes, anchored, O(p * v) table (independent of the core's KMP).
fn naive(p: &[u8], v: &[u8]) -> bool {
    let mut row = vec![false; v.len() + 1];
    row[0] = true;
    for &c in p {
        let mut next = vec![false; v.len() + 1];
        if c == b'*' {
            let mut any = false;
            for j in 0..=v.len() {
                any |= row[j];
                next[j] = any;
            }
        } else {
            for j in 0..v.len() {
                next[j + 1] = row[j] && v[j] == c;
            }
        }
        row = next;
    }
    row[v.len()]
}

fuzz_target!(|data: &[u8]| {
    // First byte: where the pattern ends; a small alphabet makes matches likely.
    let Some((&split, rest)) = data.split_first() else { return };
    let cut = (split as usize).min(rest.len());
    let map = |b: &u8| match b % 5 {
        0 => b'*',
        1 => b'a',
        2 => b'b',
        3 => b'c',
        _ => *b,
    };
    let p: Vec<u8> = rest[..cut].iter().map(map).collect();
    let v: Vec<u8> = rest[cut..].iter().map(map).filter(|&b| b != b'*').collect();
    let mut steps = 0u64;
    let got = glob_counted(&p, &v, &mut steps);
    assert_eq!(got, naive(&p, &v), "pattern {p:?} value {v:?}");
    assert!(steps <= 4 * (p.len() + v.len()) as u64 + 4, "{steps} steps for {p:?} / {v:?}");
    // The &str entry point agrees on text.
    if let (Ok(ps), Ok(vs)) = (std::str::from_utf8(&p), std::str::from_utf8(&v)) {
        assert_eq!(glob(ps, vs), got);
    }
});
