//! Form bodies and query strings: the authorize query and the token form go through this parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = connectivly::http::Params::parse(data) {
        for name in ["client_id", "redirect_uri", "scope", "state", "code", "grant_type", ""] {
            let _ = p.get(name);
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = connectivly::http::decode_path_segment(s);
        let _ = connectivly::http::redact_path(s);
    }
});
