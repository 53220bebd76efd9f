//! The host-facing operations that an embedded [`Provider`] and a [`RemoteProvider`] share, as one
//! trait, so bindings wrap both with the same code and the same names.

use async_trait::async_trait;

use crate::clients::{Client, ClientUpdate, CreatedClient, NewClient};
use crate::error::Result;
use crate::flow::{Approval, AuthSession, Denial};
use crate::grants::Grant;
use crate::http::{Request, Response};
use crate::provider::{KeyInfo, Provider};
use crate::remote::RemoteProvider;
use crate::tokens::{Introspection, TokenInfo};

#[async_trait]
pub trait HostApi: Send + Sync + std::fmt::Debug {
    async fn auth_session(&self, id: &str) -> Result<AuthSession>;
    async fn approve(&self, id: &str, approval: Approval) -> Result<String>;
    async fn deny(&self, id: &str, denial: Denial) -> Result<String>;
    async fn verify_access_token(&self, token: &str, required_scopes: &[&str]) -> Result<TokenInfo>;
    async fn introspect(&self, token: &str) -> Result<Introspection>;
    async fn protect(&self, req: &Request, scopes: &[&str]) -> std::result::Result<TokenInfo, Response>;
    async fn create_client(&self, new: NewClient) -> Result<CreatedClient>;
    async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<Client>>;
    async fn get_client(&self, client_id: &str) -> Result<Client>;
    async fn update_client(&self, client_id: &str, update: ClientUpdate) -> Result<Client>;
    async fn rotate_client_secret(&self, client_id: &str) -> Result<CreatedClient>;
    async fn delete_client(&self, client_id: &str) -> Result<()>;
    async fn revoke(&self, token: &str) -> Result<()>;
    async fn revoke_user(&self, user: &str) -> Result<u64>;
    async fn revoke_client(&self, client_id: &str) -> Result<()>;
    async fn list_grants(&self, user: &str) -> Result<Vec<Grant>>;
    async fn revoke_grant(&self, user: &str, client_id: &str) -> Result<()>;
    async fn rotate_keys(&self) -> Result<Vec<KeyInfo>>;
}

macro_rules! delegate_host_api {
    ($ty:ty) => {
        #[async_trait]
        impl HostApi for $ty {
            async fn auth_session(&self, id: &str) -> Result<AuthSession> {
                <$ty>::auth_session(self, id).await
            }
            async fn approve(&self, id: &str, approval: Approval) -> Result<String> {
                <$ty>::approve(self, id, approval).await
            }
            async fn deny(&self, id: &str, denial: Denial) -> Result<String> {
                <$ty>::deny(self, id, denial).await
            }
            async fn verify_access_token(&self, token: &str, required_scopes: &[&str]) -> Result<TokenInfo> {
                <$ty>::verify_access_token(self, token, required_scopes).await
            }
            async fn introspect(&self, token: &str) -> Result<Introspection> {
                <$ty>::introspect(self, token).await
            }
            async fn protect(&self, req: &Request, scopes: &[&str]) -> std::result::Result<TokenInfo, Response> {
                <$ty>::protect(self, req, scopes).await
            }
            async fn create_client(&self, new: NewClient) -> Result<CreatedClient> {
                <$ty>::create_client(self, new).await
            }
            async fn list_clients(&self, owner: Option<&str>) -> Result<Vec<Client>> {
                <$ty>::list_clients(self, owner).await
            }
            async fn get_client(&self, client_id: &str) -> Result<Client> {
                <$ty>::get_client(self, client_id).await
            }
            async fn update_client(&self, client_id: &str, update: ClientUpdate) -> Result<Client> {
                <$ty>::update_client(self, client_id, update).await
            }
            async fn rotate_client_secret(&self, client_id: &str) -> Result<CreatedClient> {
                <$ty>::rotate_client_secret(self, client_id).await
            }
            async fn delete_client(&self, client_id: &str) -> Result<()> {
                <$ty>::delete_client(self, client_id).await
            }
            async fn revoke(&self, token: &str) -> Result<()> {
                <$ty>::revoke(self, token).await
            }
            async fn revoke_user(&self, user: &str) -> Result<u64> {
                <$ty>::revoke_user(self, user).await
            }
            async fn revoke_client(&self, client_id: &str) -> Result<()> {
                <$ty>::revoke_client(self, client_id).await
            }
            async fn list_grants(&self, user: &str) -> Result<Vec<Grant>> {
                <$ty>::list_grants(self, user).await
            }
            async fn revoke_grant(&self, user: &str, client_id: &str) -> Result<()> {
                <$ty>::revoke_grant(self, user, client_id).await
            }
            async fn rotate_keys(&self) -> Result<Vec<KeyInfo>> {
                <$ty>::rotate_keys(self).await
            }
        }
    };
}

delegate_host_api!(Provider);
delegate_host_api!(RemoteProvider);
