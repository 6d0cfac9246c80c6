//! Policy loading from arbitrary bytes: never panics; a policy that loads also validates.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let loaded = behalf_core::Policy::from_json_text(text);
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
            assert_eq!(loaded.is_ok(), behalf_core::validate(&value).is_empty());
        }
    }
});
