//! Keyword arguments → the core's client-registry inputs.

use connectivly::{ClientUpdate, NewClient};

#[allow(clippy::too_many_arguments)]
pub fn new_client(
    name: String,
    redirect_uris: Vec<String>,
    owner: Option<String>,
    public: bool,
    first_party: bool,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    allowed_scopes: Option<Vec<String>>,
    issue_refresh_tokens: bool,
    introspection_allowed: bool,
) -> NewClient {
    NewClient {
        name,
        owner,
        redirect_uris,
        public,
        first_party,
        logo_uri,
        client_uri,
        allowed_scopes,
        issue_refresh_tokens,
        introspection_allowed,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn client_update(
    name: Option<String>,
    owner: Option<String>,
    redirect_uris: Option<Vec<String>>,
    first_party: Option<bool>,
    logo_uri: Option<String>,
    client_uri: Option<String>,
    allowed_scopes: Option<Vec<String>>,
    issue_refresh_tokens: Option<bool>,
    introspection_allowed: Option<bool>,
) -> ClientUpdate {
    ClientUpdate {
        name,
        owner,
        redirect_uris,
        first_party,
        logo_uri,
        client_uri,
        allowed_scopes,
        issue_refresh_tokens,
        introspection_allowed,
    }
}
