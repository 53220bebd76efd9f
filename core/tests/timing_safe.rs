//! Timing-safe comparisons, checked in the source: every path that compares a presented secret
//! calls the constant-time comparison, and no `==`/`!=` anywhere in the core's non-test code touches
//! a secret, a hash, a CSRF token, a PKCE verifier or a cookie. No timing is measured: the test
//! reads `core/src/**/*.rs` (comments and string literals removed, `#[cfg(test)]` modules skipped).
//!
//! A new comparison on such a value fails here: use `secrets::constant_time_eq` / `verify_secret`,
//! or, when the value is not secret, add the line to `NOT_SECRET` with the reason.

use std::path::{Path, PathBuf};

/// Every path where a presented secret meets its stored form: (file, function, the call it must
/// make, what is compared). The function's body must contain the call.
const SECRET_PATHS: &[(&str, &str, &str, &str)] = &[
    ("clients.rs", "authenticate_client", "secrets::verify_secret(", "a client secret"),
    ("provider.rs", "check_api_key", "secrets::verify_secret(", "the host-API key"),
    ("consent.rs", "consent", "secrets::constant_time_eq(", "the consent form's CSRF token"),
    ("consent.rs", "check_binding", "secrets::verify_secret(", "the browser-binding cookie"),
    ("consent.rs", "check_ticket", "secrets::verify_secret(", "the consent ticket"),
    ("registration.rs", "registration_endpoint", "secrets::constant_time_eq(", "the initial access token"),
    ("registration.rs", "registered_client", "secrets::verify_secret(", "a registration access token"),
    ("token_endpoint.rs", "redeem_code", "secrets::constant_time_eq(", "the PKCE code_verifier's S256 hash"),
    ("secrets.rs", "verify_secret", "constant_time_eq(", "a secret's hash (the helper itself)"),
    ("secrets.rs", "constant_time_eq", ".ct_eq(", "bytes, with `subtle` (the primitive itself)"),
];

/// Comparisons whose operands name a sensitive-looking identifier but hold nothing secret:
/// (file, the left operand ends with, the right operand starts with, why it is not secret).
const NOT_SECRET: &[(&str, &str, &str, &str)] = &[
    ("error.rs", "k.code()", "code", "an error code, public"),
    ("jwt.rs", "key.alg.as_str()", "header.alg", "a JWS algorithm name, public"),
    ("registration.rs", "token_endpoint_auth_method.as_deref()", "Some(", "an authentication method's name"),
    ("settings.rs", "s.key", "canonical", "a setting's name (`api_key`), not its value"),
    ("settings.rs", "camel(s.key)", "name", "a setting's name, not its value"),
];

/// Identifier parts (snake_case words) that mark a value as secret or derived from one.
const SENSITIVE: &[&str] = &[
    "secret",
    "hash",
    "csrf",
    "verifier",
    "challenge",
    "binding",
    "cookie",
    "ticket",
    "password",
    "digest",
    "hmac",
    "mac",
    "sig",
    "signature",
    "presented",
    "token",
    "code",
    "key",
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The source with comments and the contents of string and char literals blanked (newlines kept,
/// so line numbers stay right).
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |ch: char| if ch == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < c.len() {
        let next = c.get(i + 1).copied();
        if c[i] == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c[i] == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
        } else if c[i] == 'r' && (next == Some('"') || next == Some('#')) && !ident_char(c.get(i.wrapping_sub(1))) {
            // A raw string r"..." / r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while c.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if c.get(j) != Some(&'"') {
                out.push(c[i]);
                i += 1;
                continue;
            }
            out.push_str("r\"");
            j += 1;
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (0..hashes).all(|h| c.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                out.push(blank(c[j]));
                j += 1;
            }
            out.push('"');
            i = j;
        } else if c[i] == '"' {
            out.push('"');
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < c.len() {
                    out.push(blank(c[i]));
                    i += 1;
                }
            }
            out.push('"');
            i += 1;
        } else if c[i] == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): only literals are blanked.
            let close = if next == Some('\\') {
                (i + 2..c.len().min(i + 12)).find(|&j| c[j] == '\'')
            } else if c.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(end) => {
                    out.push('\'');
                    out.extend(std::iter::repeat_n(' ', end - i - 1));
                    out.push('\'');
                    i = end + 1;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Blanks every `#[cfg(test)]` item (the unit-test modules): their `assert_eq!`s compare freely.
fn without_tests(stripped: &str) -> String {
    let mut s: Vec<char> = stripped.chars().collect();
    let text: String = s.iter().collect();
    let mut from = 0;
    while let Some(pos) = text[from..].find("#[cfg(test)]").map(|p| p + from) {
        let start = text[..pos].chars().count();
        let Some(open) = (start..s.len()).find(|&j| s[j] == '{' || s[j] == ';') else { break };
        let mut end = open;
        if s[open] == '{' {
            let mut depth = 0;
            for (j, ch) in s.iter().enumerate().skip(open) {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        for ch in s.iter_mut().take(end + 1).skip(start) {
            if *ch != '\n' {
                *ch = ' ';
            }
        }
        from = pos + 1;
    }
    s.into_iter().collect()
}

fn sensitive_words(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for ident in line.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()) {
        for part in ident.split('_') {
            let part = part.to_ascii_lowercase();
            if SENSITIVE.contains(&part.as_str()) && !found.contains(&part) {
                found.push(part);
            }
        }
    }
    found
}

/// Every comparison in `src`: (byte offset, left operand, right operand) of each `==`, `!=`,
/// `.eq(…)` and `.ne(…)`. Operands end at what cannot be inside one at their nesting depth: a
/// separator, a brace, `&&`/`||`, a closure's `|`, an assignment or a match arm.
fn comparisons(src: &str) -> Vec<(usize, String, String)> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    for i in 0..b.len().saturating_sub(1) {
        let op = &b[i..i + 2];
        if (op == b"==" || op == b"!=") && b.get(i + 2) != Some(&b'=') && (i == 0 || !b"=!<>".contains(&b[i - 1])) {
            out.push((i, left_operand(b, i), right_operand(b, i + 2)));
        } else if (src[i..].starts_with(".eq(") || src[i..].starts_with(".ne(")) && i > 0 {
            out.push((i, left_operand(b, i), right_operand(b, i + 3)));
        }
    }
    out
}

fn left_operand(b: &[u8], end: usize) -> String {
    let mut depth = 0i32;
    let mut j = end;
    while j > 0 {
        let c = b[j - 1];
        match c {
            b')' | b']' => depth += 1,
            b'(' | b'[' if depth == 0 => break,
            b'(' | b'[' => depth -= 1,
            b'{' | b'}' | b',' | b';' if depth == 0 => break,
            b'|' | b'&' if depth == 0 && (c == b'|' || b.get(j.wrapping_sub(2)) == Some(&b'&')) => break,
            b'=' if depth == 0 => break,
            b'>' if depth == 0 && b.get(j.wrapping_sub(2)) == Some(&b'=') => break,
            _ => {}
        }
        j -= 1;
    }
    let words: Vec<String> = String::from_utf8_lossy(&b[j..end]).split_whitespace().map(str::to_string).collect();
    // A keyword before the operand (`if a == b`, `Some(h) if h == x`, `return a == b`) ends it.
    let keywords = ["if", "while", "return", "match", "let", "in", "else", "break"];
    let from = words.iter().rposition(|w| keywords.contains(&w.as_str())).map_or(0, |k| k + 1);
    words[from..].join(" ")
}

fn right_operand(b: &[u8], start: usize) -> String {
    let mut depth = 0i32;
    let mut j = start;
    while j < b.len() {
        let c = b[j];
        match c {
            b'(' | b'[' => depth += 1,
            b')' | b']' if depth == 0 => break,
            b')' | b']' => depth -= 1,
            b'{' | b'}' | b',' | b';' if depth == 0 => break,
            b'|' if depth == 0 => break,
            b'&' if depth == 0 && b.get(j + 1) == Some(&b'&') => break,
            b'=' if depth == 0 && b.get(j + 1) == Some(&b'>') => break,
            _ => {}
        }
        j += 1;
    }
    String::from_utf8_lossy(&b[start..j]).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The body of `fn name` in `src` (from its opening brace to the matching one).
fn fn_body<'a>(src: &'a str, name: &str) -> Option<&'a str> {
    let mut from = 0;
    while let Some(p) = src[from..].find(&format!("fn {name}")).map(|p| p + from) {
        let after = &src[p + 3 + name.len()..];
        if after.starts_with('(') || after.starts_with('<') {
            let open = p + src[p..].find('{')?;
            let mut depth = 0;
            for (j, ch) in src[open..].char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(&src[open..open + j + 1]);
                        }
                    }
                    _ => {}
                }
            }
            return None;
        }
        from = p + 1;
    }
    None
}

fn sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    rust_files(&src_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src_dir()).unwrap().to_string_lossy().replace('\\', "/");
            (rel, without_tests(&strip(&std::fs::read_to_string(&p).unwrap())))
        })
        .collect()
}

#[test]
fn every_secret_path_calls_the_constant_time_comparison() {
    let sources = sources();
    let mut missing = Vec::new();
    for (file, func, call, what) in SECRET_PATHS {
        let Some((_, src)) = sources.iter().find(|(f, _)| f == file) else {
            missing.push(format!("core/src/{file} is gone ({what})"));
            continue;
        };
        match fn_body(src, func) {
            None => missing.push(format!("no fn {func} in core/src/{file} ({what}): update SECRET_PATHS")),
            Some(body) if !body.contains(call) => {
                missing.push(format!("fn {func} in core/src/{file} compares {what} without {call}…)"))
            }
            Some(_) => {}
        }
    }
    // An unknown client id costs the same hash comparison as a wrong secret.
    let clients = &sources.iter().find(|(f, _)| f == "clients.rs").unwrap().1;
    let auth = fn_body(clients, "authenticate_client").unwrap_or("");
    if auth.matches("secrets::verify_secret(").count() < 2 {
        missing.push("authenticate_client: an unknown client id must cost a verify_secret too".into());
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn no_secret_is_compared_with_eq() {
    let mut found = Vec::new();
    for (file, src) in sources() {
        // Stores look a secret up by its hash (an index lookup, as in SQL): no comparison reveals the
        // secret, whose preimage is 256 random bits.
        if file.starts_with("store/") {
            continue;
        }
        for (at, left, right) in comparisons(&src) {
            let words = sensitive_words(&format!("{left} {right}"));
            if words.is_empty() {
                continue;
            }
            let allowed =
                NOT_SECRET.iter().any(|(f, l, r, _)| file.ends_with(f) && (left.ends_with(l) && right.starts_with(r)));
            if !allowed {
                let line = src[..at].matches('\n').count() + 1;
                found.push(format!("core/src/{file}:{line}: `{left}` vs `{right}` (names {})", words.join(", ")));
            }
        }
    }
    assert!(
        found.is_empty(),
        "comparisons with ==/!= on values that look secret; use secrets::constant_time_eq or \
         verify_secret, or list the operands in NOT_SECRET with why they are not secret:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_must() {
    // The stripping keeps code and removes comments and literals, so the scan is neither blind nor noisy.
    let s = strip("let a = \"x == secret\"; // hash == y\nif secret_hash == b'x' as u8 { r#\"csrf\"# }\nfn f<'a>() {}");
    assert!(!s.contains("x == secret") && !s.contains("hash == y") && !s.contains("csrf"), "{s}");
    assert!(s.contains("if secret_hash == ") && s.contains("fn f<'a>()"), "{s}");
    assert_eq!(sensitive_words("if presented_csrf == expected"), ["presented", "csrf"]);
    let ops = |s: &str| comparisons(s).into_iter().map(|(_, l, r)| (l, r)).collect::<Vec<_>>();
    let pair = |l: &str, r: &str| (l.to_string(), r.to_string());
    assert_eq!(ops("let id_token = if s.iter().any(|s| s == \"openid\") { a }"), [pair("s", "\"openid\"")]);
    assert_eq!(ops("if a.b(c) != d.e && x.eq(&y) || p <= q { }"), [pair("a.b(c)", "d.e"), pair("x", "(&y)")]);
    assert_eq!(ops("match v { Some(h) if h\n    == csrf => 1, _ => 2 }"), [pair("h", "csrf")]);
    assert!(ops("a => b; c <= d; e >= f; g = h").is_empty());
    let t = without_tests("fn a() { x == y }\n#[cfg(test)]\nmod tests { fn b() { secret == s } }\n");
    assert!(t.contains("x == y") && !t.contains("secret"), "{t}");
    assert_eq!(
        fn_body("fn other() {}\nfn check(a: u8) -> bool { if a { b } else { c } }", "check"),
        Some("{ if a { b } else { c } }")
    );
    // And the comparison itself behaves: equal, unequal, different lengths.
    use connectivly::secrets::{constant_time_eq, hash_secret, verify_secret};
    assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"abc", b"ab"));
    assert!(verify_secret("s", &hash_secret("s")) && !verify_secret("s", &hash_secret("t")));
}
