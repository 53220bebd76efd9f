//! Redirect-URI registration rules and the query appending every redirect goes through.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if connectivly::clients::validate_redirect_uri(s).is_ok() {
        let out = connectivly::http::append_query(s, &[("code", s), ("state", "x\r\ny")]);
        // Whatever went in, no raw line break reaches a Location header.
        assert!(!out.contains('\r') && !out.contains('\n'));
    }
});
