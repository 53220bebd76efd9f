//! The built-in consent page. Only the browser that started the flow (binding cookie) can see or
//! submit it, and every submission carries a CSRF token derived from that cookie.

use crate::error::{Error, ErrorKind, Result};
use crate::flow::BINDING_COOKIE;
use crate::http::{Params, Request, Response};
use crate::pages::{self, Branding, ConsentView};
use crate::provider::Provider;
use crate::secrets;
use crate::store::{SessionRecord, SessionStatus};

impl Provider {
    /// `GET|POST /consent/{id}`.
    pub(crate) async fn consent_endpoint(&self, req: &Request, id: &str) -> Response {
        match self.consent(req, id).await {
            Ok(r) => r,
            Err(e) => {
                let (status, title) = match e.kind() {
                    ErrorKind::NotFound => (404, "This sign-in request does not exist"),
                    ErrorKind::Expired => (410, "This sign-in request has expired"),
                    ErrorKind::AlreadyUsed => (409, "This sign-in request is finished"),
                    ErrorKind::AccessDenied => (403, "This sign-in request belongs to another browser"),
                    ErrorKind::Storage => (503, "Try again in a moment"),
                    ErrorKind::MethodNotAllowed => (405, "Method not allowed"),
                    ErrorKind::RateLimited => (429, "Too many attempts"),
                    _ => (400, "This request is not valid"),
                };
                pages::error_page_branded(status, &Branding::of(self.config()), title, e.message())
            }
        }
    }

    async fn consent(&self, req: &Request, id: &str) -> Result<Response> {
        let addr = req.remote_addr.as_deref();
        self.check_rate(None, addr)?;
        let session = match self.load_session(id).await {
            Ok(s) => s,
            Err(e) => {
                if e.kind() == ErrorKind::NotFound {
                    // Probing for session ids: count it against the address.
                    self.record_failure(None, addr);
                }
                return Err(e);
            }
        };
        match session.status {
            SessionStatus::Approved => {}
            SessionStatus::Pending => {
                return Err(Error::invalid_request("the application has not approved this request yet"));
            }
            _ => {
                return Err(Error::new(ErrorKind::AlreadyUsed, "start signing in again from the app"));
            }
        }
        let binding = self.check_binding(req, &session)?;
        let csrf = secrets::hmac_b64(binding.as_bytes(), format!("consent:{}", session.id_hash).as_bytes());
        match req.method.as_str() {
            "GET" | "HEAD" => self.render_consent(&session, id, &csrf).await,
            "POST" => {
                if !req.content_type_is("application/x-www-form-urlencoded") {
                    return Err(Error::invalid_request("the consent form must be form-encoded"));
                }
                let form = Params::parse(&req.body)?;
                let presented = form.get("csrf")?.unwrap_or("");
                if !secrets::constant_time_eq(presented.as_bytes(), csrf.as_bytes()) {
                    return Err(Error::new(ErrorKind::AccessDenied, "the form is stale or was not sent by this page"));
                }
                let remember = session.remember || form.get("remember")? == Some("yes");
                let location = match form.get("decision")? {
                    Some("allow") => {
                        self.complete(SessionRecord { remember, ..session }, SessionStatus::Approved, id).await?
                    }
                    Some("deny") => {
                        self.finish_denied(
                            session,
                            SessionStatus::Approved,
                            id,
                            "access_denied",
                            "the user denied the request",
                        )
                        .await?
                    }
                    _ => return Err(Error::invalid_request("decision must be allow or deny")),
                };
                Ok(Response::redirect(&location))
            }
            _ => Err(Error::new(ErrorKind::MethodNotAllowed, "use GET or POST")),
        }
    }

    fn check_binding<'r>(&self, req: &'r Request, session: &SessionRecord) -> Result<&'r str> {
        let cookie = req.cookie(BINDING_COOKIE).unwrap_or("");
        if cookie.is_empty() || !secrets::verify_secret(cookie, &session.binding_hash) {
            return Err(Error::new(
                ErrorKind::AccessDenied,
                "open the app in this browser and sign in again: the request was started elsewhere",
            ));
        }
        Ok(cookie)
    }

    async fn render_consent(&self, session: &SessionRecord, id: &str, csrf: &str) -> Result<Response> {
        let client = self.client_record(&session.client_id).await?;
        let scopes: Vec<(String, String)> =
            self.scope_infos(&session.granted_scopes).into_iter().map(|s| (s.name, s.description)).collect();
        let action = self.consent_url(id);
        Ok(pages::consent_page(&ConsentView {
            brand: Branding::of(self.config()),
            app_name: &client.name,
            app_owner: client.owner.as_deref(),
            app_logo: client.logo_uri.as_deref(),
            app_uri: client.client_uri.as_deref(),
            user: session.subject.as_deref().unwrap_or(""),
            scopes: &scopes,
            action: &action,
            csrf,
        }))
    }
}
