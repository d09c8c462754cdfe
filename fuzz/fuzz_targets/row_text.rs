//! Text cells of batch rows as the core reads them: `source_tags` (`k=v,k=v`) and the RBAC
//! `resource` / `token_request` JSON. Arbitrary bytes: never a panic, and what is accepted is
//! well-formed (keys non-empty and unique, every pair found in the input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshauthz_core::rbac::json;
use meshauthz_core::traffic::batch::parse_tags;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(tags) = parse_tags(text) {
        for (i, (k, v)) in tags.iter().enumerate() {
            assert!(!k.is_empty());
            assert_eq!(k.trim(), *k);
            assert_eq!(v.trim(), *v);
            assert!(!k.contains(',') && !k.contains('=') && !v.contains(','));
            assert!(tags.iter().take(i).all(|(j, _)| j != k), "repeated key accepted");
        }
    }
    let _ = json::parse(text);
});
