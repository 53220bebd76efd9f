//! `HostApi` (the operations an embedded `Provider` and a `RemoteProvider` share, written once over the
//! core's `HostApi` trait) and `Provider`: the provider embedded in this process.

use std::sync::{Arc, Mutex};

use connectivly::settings::Shape;
use connectivly::{Config, ErrorKind};
use napi::bindgen_prelude::{Either, PromiseRaw};
use napi::{Env, Result};
use napi_derive::napi;

use crate::clients::{ClientUpdateOptions, NewClientOptions};
use crate::errors;
use crate::runtime::{now_or_promise, promise, promise_now_or_later};
use crate::types::{
    ApproveOptions, AuthSession, Client, CreatedClient, DenyOptions, Grant, HttpRequest, HttpResponse, Introspection,
    KeyInfo, Protected, TokenInfo,
};

struct State {
    api: Option<Arc<dyn connectivly::HostApi>>,
    local: Option<connectivly::Provider>,
}

/// The shared host operations over one `Arc<dyn connectivly::HostApi>`: each converts its arguments,
/// calls the core on the runtime and converts the result. Both JavaScript classes delegate here
/// ([`host_api_methods!`]).
pub struct HostApi {
    state: Mutex<State>,
}

fn closed() -> connectivly::Error {
    connectivly::Error::new(ErrorKind::Closed, "the provider is closed")
}

fn request(
    method: &str,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> connectivly::Request {
    connectivly::Request { method: method.to_ascii_uppercase(), path, query, headers, body, remote_addr: None }
}

impl HostApi {
    pub fn new(api: Arc<dyn connectivly::HostApi>, local: Option<connectivly::Provider>) -> HostApi {
        HostApi { state: Mutex::new(State { api: Some(api), local }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn api(&self) -> connectivly::Result<Arc<dyn connectivly::HostApi>> {
        self.lock().api.clone().ok_or_else(closed)
    }

    pub fn local(&self) -> connectivly::Result<connectivly::Provider> {
        self.lock().local.clone().ok_or_else(closed)
    }

    /// The Promise of a read: tried on this thread first when the provider is embedded (its stores
    /// answer reads without waiting, see [`promise_now_or_later`]); a `RemoteProvider` always goes
    /// through the runtime, since its reads are HTTP requests.
    fn read<'env, T, V, F, C>(&self, env: &'env Env, fut: F, convert: C) -> Result<PromiseRaw<'env, V>>
    where
        T: Send + 'static,
        V: napi::bindgen_prelude::ToNapiValue,
        F: std::future::Future<Output = connectivly::Result<T>> + Send + 'static,
        C: FnOnce(T) -> V + 'static,
    {
        if self.lock().local.is_some() { promise_now_or_later(env, fut, convert) } else { promise(env, fut, convert) }
    }

    pub fn auth_session<'env>(&self, env: &'env Env, session_id: String) -> Result<PromiseRaw<'env, AuthSession>> {
        let api = self.api();
        self.read(env, async move { api?.auth_session(&session_id).await }, AuthSession::from)
    }

    pub fn approve<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        approval: ApproveOptions,
    ) -> Result<PromiseRaw<'env, String>> {
        let approval = approval.into_core()?;
        let api = self.api();
        promise(env, async move { api?.approve(&session_id, approval).await }, |url| url)
    }

    pub fn deny<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        denial: Option<DenyOptions>,
    ) -> Result<PromiseRaw<'env, String>> {
        let denial = crate::types::denial(denial);
        let api = self.api();
        promise(env, async move { api?.deny(&session_id, denial).await }, |url| url)
    }

    pub fn verify_access_token<'env>(
        &self,
        env: &'env Env,
        token: String,
        scopes: Option<Vec<String>>,
    ) -> Result<Either<String, PromiseRaw<'env, String>>> {
        let api = self.api();
        let scopes = scopes.unwrap_or_default();
        let fut = async move {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            api?.verify_access_token(&token, &scopes).await
        };
        let convert = |info| TokenInfo::from(info).into_json();
        if self.lock().local.is_some() {
            now_or_promise(env, fut, convert)
        } else {
            promise(env, fut, convert).map(Either::B)
        }
    }

    pub fn introspect<'env>(&self, env: &'env Env, token: String) -> Result<PromiseRaw<'env, Introspection>> {
        let api = self.api();
        self.read(env, async move { api?.introspect(&token).await }, Introspection::from)
    }

    pub fn protect<'env>(
        &self,
        env: &'env Env,
        method: String,
        headers: Vec<(String, String)>,
        body: Option<&[u8]>,
        scopes: Option<Vec<String>>,
    ) -> Result<PromiseRaw<'env, Protected>> {
        let api = self.api();
        let req = request(&method, "/".into(), String::new(), headers, body.map(<[u8]>::to_vec).unwrap_or_default());
        let scopes = scopes.unwrap_or_default();
        self.read(
            env,
            async move {
                let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
                Ok(api?.protect(&req, &scopes).await)
            },
            |r| match r {
                Ok(info) => Protected::A(TokenInfo::from(info).into_json()),
                Err(resp) => Protected::B(resp.into()),
            },
        )
    }

    pub fn create_client<'env>(
        &self,
        env: &'env Env,
        new: NewClientOptions,
    ) -> Result<PromiseRaw<'env, CreatedClient>> {
        let api = self.api();
        let new = connectivly::NewClient::from(new);
        promise(env, async move { api?.create_client(new).await }, CreatedClient::from)
    }

    pub fn list_clients<'env>(&self, env: &'env Env, owner: Option<String>) -> Result<PromiseRaw<'env, Vec<Client>>> {
        let api = self.api();
        promise(env, async move { api?.list_clients(owner.as_deref()).await }, |v| {
            v.into_iter().map(Client::from).collect()
        })
    }

    pub fn get_client<'env>(&self, env: &'env Env, client_id: String) -> Result<PromiseRaw<'env, Client>> {
        let api = self.api();
        promise(env, async move { api?.get_client(&client_id).await }, Client::from)
    }

    pub fn update_client<'env>(
        &self,
        env: &'env Env,
        client_id: String,
        update: Option<ClientUpdateOptions>,
    ) -> Result<PromiseRaw<'env, Client>> {
        let api = self.api();
        let update = crate::clients::client_update(update);
        promise(env, async move { api?.update_client(&client_id, update).await }, Client::from)
    }

    pub fn rotate_client_secret<'env>(
        &self,
        env: &'env Env,
        client_id: String,
    ) -> Result<PromiseRaw<'env, CreatedClient>> {
        let api = self.api();
        promise(env, async move { api?.rotate_client_secret(&client_id).await }, CreatedClient::from)
    }

    pub fn delete_client<'env>(&self, env: &'env Env, client_id: String) -> Result<PromiseRaw<'env, ()>> {
        let api = self.api();
        promise(env, async move { api?.delete_client(&client_id).await }, |()| ())
    }

    pub fn revoke<'env>(&self, env: &'env Env, token: String) -> Result<PromiseRaw<'env, ()>> {
        let api = self.api();
        promise(env, async move { api?.revoke(&token).await }, |()| ())
    }

    pub fn revoke_user<'env>(&self, env: &'env Env, user: String) -> Result<PromiseRaw<'env, i64>> {
        let api = self.api();
        promise(env, async move { api?.revoke_user(&user).await }, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }

    pub fn revoke_client<'env>(&self, env: &'env Env, client_id: String) -> Result<PromiseRaw<'env, ()>> {
        let api = self.api();
        promise(env, async move { api?.revoke_client(&client_id).await }, |()| ())
    }

    pub fn list_grants<'env>(&self, env: &'env Env, user: String) -> Result<PromiseRaw<'env, Vec<Grant>>> {
        let api = self.api();
        promise(env, async move { api?.list_grants(&user).await }, |v| v.into_iter().map(Grant::from).collect())
    }

    pub fn revoke_grant<'env>(&self, env: &'env Env, user: String, client_id: String) -> Result<PromiseRaw<'env, ()>> {
        let api = self.api();
        promise(env, async move { api?.revoke_grant(&user, &client_id).await }, |()| ())
    }

    pub fn rotate_keys<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Vec<KeyInfo>>> {
        let api = self.api();
        promise(env, async move { api?.rotate_keys().await }, |v| v.into_iter().map(KeyInfo::from).collect())
    }

    /// Drops the core handle; an embedded provider's store is closed on the runtime.
    pub fn close<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, ()>> {
        let local = {
            let mut st = self.lock();
            st.api = None;
            st.local.take()
        };
        promise(
            env,
            async move {
                if let Some(p) = local {
                    p.close().await;
                }
                Ok(())
            },
            |()| (),
        )
    }
}

/// Generates the JavaScript methods of [`HostApi`] on a class that holds one in its `host` field, so
/// `Provider` and `RemoteProvider` expose the same operations under the same names.
macro_rules! host_api_methods {
    ($class:ident) => {
        #[napi_derive::napi]
        impl $class {
            /// What the host needs to decide: the app, the requested scopes, prompt, max_age, login_hint.
            #[napi]
            pub fn auth_session<'env>(
                &self,
                env: &'env napi::Env,
                session_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::AuthSession>> {
                self.host.auth_session(env, session_id)
            }

            /// Approves the session for `user`; resolves to the URL to redirect the browser to.
            #[napi]
            pub fn approve<'env>(
                &self,
                env: &'env napi::Env,
                session_id: String,
                approval: $crate::types::ApproveOptions,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
                self.host.approve(env, session_id, approval)
            }

            /// Refuses the session; resolves to the URL that brings `error` (default `access_denied`) to
            /// the client.
            #[napi]
            pub fn deny<'env>(
                &self,
                env: &'env napi::Env,
                session_id: String,
                denial: Option<$crate::types::DenyOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, String>> {
                self.host.deny(env, session_id, denial)
            }

            /// Verifies an access token (signature, expiry, issuer, audience, revocation) and that it
            /// carries every one of `scopes`. The `TokenInfo` comes as JSON text (the wrapper parses it:
            /// see `TokenInfo::into_json`), at once when the answer needs no waiting (an embedded
            /// provider on SQLite or memory), else through a Promise.
            #[napi]
            pub fn verify_access_token<'env>(
                &self,
                env: &'env napi::Env,
                token: String,
                scopes: Option<Vec<String>>,
            ) -> napi::Result<napi::bindgen_prelude::Either<String, napi::bindgen_prelude::PromiseRaw<'env, String>>>
            {
                self.host.verify_access_token(env, token, scopes)
            }

            /// RFC 7662 introspection: `active` plus the token's claims, or only `active: false`.
            #[napi]
            pub fn introspect<'env>(
                &self,
                env: &'env napi::Env,
                token: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::Introspection>> {
                self.host.introspect(env, token)
            }

            /// Guards a resource request: resolves to the token info (JSON text, as `verifyAccessToken`),
            /// or to the 401/403 response to send.
            #[napi(ts_return_type = "Promise<string | HttpResponse>")]
            pub fn protect<'env>(
                &self,
                env: &'env napi::Env,
                method: String,
                headers: Vec<(String, String)>,
                body: Option<napi::bindgen_prelude::Buffer>,
                scopes: Option<Vec<String>>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::Protected>> {
                self.host.protect(env, method, headers, body.as_deref(), scopes)
            }

            /// Registers a client; the secret (confidential clients) is in the result and nowhere else.
            #[napi]
            pub fn create_client<'env>(
                &self,
                env: &'env napi::Env,
                client: $crate::clients::NewClientOptions,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::CreatedClient>> {
                self.host.create_client(env, client)
            }

            /// The registered clients, optionally only those of one owner.
            #[napi]
            pub fn list_clients<'env>(
                &self,
                env: &'env napi::Env,
                owner: Option<String>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, Vec<$crate::types::Client>>> {
                self.host.list_clients(env, owner)
            }

            #[napi]
            pub fn get_client<'env>(
                &self,
                env: &'env napi::Env,
                client_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::Client>> {
                self.host.get_client(env, client_id)
            }

            /// Changes the given fields; absent ones stay as they are.
            #[napi]
            pub fn update_client<'env>(
                &self,
                env: &'env napi::Env,
                client_id: String,
                update: Option<$crate::clients::ClientUpdateOptions>,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::Client>> {
                self.host.update_client(env, client_id, update)
            }

            /// Issues a new secret; the old one stops working at once.
            #[napi]
            pub fn rotate_client_secret<'env>(
                &self,
                env: &'env napi::Env,
                client_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, $crate::types::CreatedClient>> {
                self.host.rotate_client_secret(env, client_id)
            }

            /// Deletes a client and revokes everything issued to it.
            #[napi]
            pub fn delete_client<'env>(
                &self,
                env: &'env napi::Env,
                client_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                self.host.delete_client(env, client_id)
            }

            /// Revokes a token: an access token by itself, a refresh token with its whole family.
            #[napi]
            pub fn revoke<'env>(
                &self,
                env: &'env napi::Env,
                token: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                self.host.revoke(env, token)
            }

            /// Revokes every token of a user, with every client; resolves to how many sign-ins died.
            #[napi]
            pub fn revoke_user<'env>(
                &self,
                env: &'env napi::Env,
                user: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, i64>> {
                self.host.revoke_user(env, user)
            }

            /// Revokes every token issued to a client.
            #[napi]
            pub fn revoke_client<'env>(
                &self,
                env: &'env napi::Env,
                client_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                self.host.revoke_client(env, client_id)
            }

            /// The clients a user has remembered consent for.
            #[napi]
            pub fn list_grants<'env>(
                &self,
                env: &'env napi::Env,
                user: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, Vec<$crate::types::Grant>>> {
                self.host.list_grants(env, user)
            }

            /// Forgets a user's consent for a client and revokes its tokens for that user.
            #[napi]
            pub fn revoke_grant<'env>(
                &self,
                env: &'env napi::Env,
                user: String,
                client_id: String,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                self.host.revoke_grant(env, user, client_id)
            }

            /// Replaces the active signing keys; resolves to the new ones.
            #[napi]
            pub fn rotate_keys<'env>(
                &self,
                env: &'env napi::Env,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, Vec<$crate::types::KeyInfo>>> {
                self.host.rotate_keys(env)
            }

            /// Releases the provider; later calls reject with code `closed`. Closing twice is fine.
            #[napi]
            pub fn close<'env>(
                &self,
                env: &'env napi::Env,
            ) -> napi::Result<napi::bindgen_prelude::PromiseRaw<'env, ()>> {
                self.host.close(env)
            }
        }
    };
}
pub(crate) use host_api_methods;

/// An OAuth 2.1 / OpenID Connect provider embedded in this process.
#[napi]
pub struct Provider {
    host: HostApi,
    issuer: String,
}

host_api_methods!(Provider);

/// The options object read through the core's settings table: unknown names are refused with the
/// nearest known one, and every error names the option in camelCase.
fn config(env: &Env, options: &serde_json::Value) -> Result<Config> {
    let Some(map) = options.as_object() else {
        return Err(errors::invalid_arg("options must be an object"));
    };
    Config::from_settings(Shape::Node, map.iter().map(|(k, v)| (k.as_str(), v)))
        .map_err(|e| if e.is_argument_error() { errors::invalid_arg(e.message()) } else { errors::to_js(env, e) })
}

#[napi]
impl Provider {
    /// Opens the store named by `options.database` (running migrations) and loads or creates the signing
    /// keys.
    #[napi(ts_args_type = "options: ProviderOptions")]
    pub fn open(env: &Env, options: serde_json::Value) -> Result<PromiseRaw<'_, Provider>> {
        let cfg = config(env, &options)?;
        promise(env, async move { connectivly::Provider::open(cfg).await.map_err(|e| e.for_shape(Shape::Node)) }, |p| {
            Provider { issuer: p.issuer().to_string(), host: HostApi::new(Arc::new(p.clone()), Some(p)) }
        })
    }

    /// The issuer URL (the base of every endpoint and the `iss` of every token).
    #[napi(getter)]
    pub fn issuer(&self) -> String {
        self.issuer.clone()
    }

    /// Serves one OAuth request; `path` is relative to the issuer (e.g. `/oauth2/token`).
    #[napi]
    pub fn handle<'env>(&self, env: &'env Env, request: HttpRequest) -> Result<PromiseRaw<'env, HttpResponse>> {
        let p = self.host.local();
        let mut req = self::request(
            &request.method,
            request.path,
            request.query.unwrap_or_default(),
            request.headers.unwrap_or_default(),
            request.body.map(|b| b.to_vec()).unwrap_or_default(),
        );
        req.remote_addr = request.remote_addr;
        promise(env, async move { Ok(p?.handle(req).await) }, HttpResponse::from)
    }

    /// The discovery document (OpenID Connect Discovery / RFC 8414).
    #[napi(ts_return_type = "Record<string, unknown>")]
    pub fn discovery(&self, env: &Env) -> Result<serde_json::Value> {
        self.host.local().map(|p| p.discovery()).map_err(|e| errors::to_js(env, e))
    }

    /// Creates the stored host-API key if none exists; resolves to it (shown once) or to `null`.
    #[napi]
    pub fn ensure_api_key<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, Option<String>>> {
        let p = self.host.local();
        promise(env, async move { p?.ensure_api_key().await }, |k| k)
    }

    /// The published signing keys.
    #[napi]
    pub fn signing_keys(&self, env: &Env) -> Result<Vec<KeyInfo>> {
        let p = self.host.local().map_err(|e| errors::to_js(env, e))?;
        Ok(p.signing_keys().into_iter().map(KeyInfo::from).collect())
    }

    /// Replaces the stored host-API key; resolves to the new one (shown once).
    #[napi]
    pub fn rotate_api_key<'env>(&self, env: &'env Env) -> Result<PromiseRaw<'env, String>> {
        let p = self.host.local();
        promise(env, async move { p?.rotate_api_key().await }, |k| k)
    }
}
