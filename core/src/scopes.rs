//! Scopes: the built-in OIDC ones, host-defined ones, and which claims each one releases.

use crate::error::{Error, Result};

/// A scope the provider knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: String,
    /// Shown on the consent page and in the auth-session info.
    pub description: String,
    /// User claims (as supplied by the host at approval) that this scope releases.
    pub claims: Vec<String>,
}

impl ScopeDef {
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        ScopeDef { name: name.into(), description: description.into(), claims: Vec::new() }
    }
    pub fn with_claims(mut self, claims: &[&str]) -> Self {
        self.claims = claims.iter().map(|c| c.to_string()).collect();
        self
    }
}

pub const PROFILE_CLAIMS: &[&str] = &[
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
];
pub const EMAIL_CLAIMS: &[&str] = &["email", "email_verified"];

/// Claims that the provider sets itself and a host can never override.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "acr",
    "amr",
    "sid",
    "client_id",
    "scope",
    "cnf",
    "typ",
];

pub fn builtin() -> Vec<ScopeDef> {
    vec![
        ScopeDef::new("openid", "Confirm your identity"),
        ScopeDef::new("profile", "See your name and basic profile information").with_claims(PROFILE_CLAIMS),
        ScopeDef::new("email", "See your email address").with_claims(EMAIL_CLAIMS),
        ScopeDef::new("offline_access", "Stay signed in to the app when you are not using it"),
    ]
}

/// Validates a scope token's characters (RFC 6749 §3.3).
pub fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

/// Parses a space-delimited scope string into unique, known scope names (order kept).
pub fn parse(scope: Option<&str>, known: &[ScopeDef]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let Some(scope) = scope else { return Ok(out) };
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !valid_token(s) {
            return Err(Error::invalid_scope("the scope parameter has invalid characters"));
        }
        if !known.iter().any(|d| d.name == s) {
            return Err(Error::invalid_scope(format!("unknown scope {s:?}")));
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    Ok(out)
}

pub fn join(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn split(s: &str) -> Vec<String> {
    s.split(' ').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// The subset of `claims` that `granted` scopes release (reserved claims are never released).
pub fn release_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    granted: &[String],
    known: &[ScopeDef],
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for def in known.iter().filter(|d| granted.contains(&d.name)) {
        for c in &def.claims {
            if RESERVED_CLAIMS.contains(&c.as_str()) {
                continue;
            }
            if let Some(v) = claims.get(c) {
                out.insert(c.clone(), v.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_rejects_unknown_and_dedups() {
        let known = builtin();
        assert_eq!(parse(Some("openid  email openid"), &known).unwrap(), vec!["openid", "email"]);
        assert_eq!(parse(Some("openid admin"), &known).unwrap_err().kind(), crate::ErrorKind::InvalidScope);
        assert_eq!(parse(Some("open\"id"), &known).unwrap_err().kind(), crate::ErrorKind::InvalidScope);
        assert!(parse(None, &known).unwrap().is_empty());
    }

    #[test]
    fn claims_follow_scopes() {
        let known = builtin();
        let claims = json!({"name": "Ann", "email": "a@x", "sub": "evil", "shoe_size": 9});
        let claims = claims.as_object().unwrap();
        let only_profile = release_claims(claims, &["openid".into(), "profile".into()], &known);
        assert_eq!(only_profile.get("name"), Some(&json!("Ann")));
        assert!(only_profile.get("email").is_none());
        assert!(only_profile.get("sub").is_none());
        assert!(only_profile.get("shoe_size").is_none());
    }
}
