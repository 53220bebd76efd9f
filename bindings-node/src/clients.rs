//! Options objects → the core's client-registry inputs.

use connectivly::{ClientUpdate, NewClient};
use napi_derive::napi;

/// What a host supplies to register a client.
#[napi(object)]
pub struct NewClientOptions {
    pub name: String,
    /// Exact redirect URIs (https, or http on a loopback host, or a private-use scheme).
    pub redirect_uris: Vec<String>,
    /// The host's id of the user who owns the app.
    pub owner: Option<String>,
    /// A public client (single-page or native app): no secret, PKCE required.
    pub public: Option<bool>,
    /// The host's own app: no consent page.
    pub first_party: Option<bool>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    /// Scopes this client may be granted (client_credentials needs at least one).
    pub allowed_scopes: Option<Vec<String>>,
    /// Refresh tokens even without `offline_access`.
    pub issue_refresh_tokens: Option<bool>,
    /// A resource server: `/oauth2/introspect` describes other clients' access tokens to it.
    pub introspection_allowed: Option<bool>,
}

impl From<NewClientOptions> for NewClient {
    fn from(o: NewClientOptions) -> NewClient {
        NewClient {
            name: o.name,
            owner: o.owner,
            redirect_uris: o.redirect_uris,
            public: o.public.unwrap_or(false),
            first_party: o.first_party.unwrap_or(false),
            logo_uri: o.logo_uri,
            client_uri: o.client_uri,
            allowed_scopes: o.allowed_scopes,
            issue_refresh_tokens: o.issue_refresh_tokens.unwrap_or(false),
            introspection_allowed: o.introspection_allowed.unwrap_or(false),
        }
    }
}

/// A partial update: absent fields stay as they are. `public` cannot change after creation.
#[napi(object)]
pub struct ClientUpdateOptions {
    pub name: Option<String>,
    pub owner: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub allowed_scopes: Option<Vec<String>>,
    pub issue_refresh_tokens: Option<bool>,
    pub introspection_allowed: Option<bool>,
}

/// The core update an optional options object asks for (none: change nothing).
pub fn client_update(o: Option<ClientUpdateOptions>) -> ClientUpdate {
    match o {
        None => ClientUpdate::default(),
        Some(o) => ClientUpdate {
            name: o.name,
            owner: o.owner,
            redirect_uris: o.redirect_uris,
            first_party: o.first_party,
            logo_uri: o.logo_uri,
            client_uri: o.client_uri,
            allowed_scopes: o.allowed_scopes,
            issue_refresh_tokens: o.issue_refresh_tokens,
            introspection_allowed: o.introspection_allowed,
        },
    }
}
