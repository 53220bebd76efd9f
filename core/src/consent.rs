//! The built-in consent page. It opens only with both halves of a secret split between two
//! parties: the ticket in the URL that `approve` returned to the host (so the host's logged-in user
//! is the one consenting), and the binding cookie of the browser that started the flow at
//! `/authorize` (so the code goes where the client's state and PKCE verifier are). Every submission
//! carries a CSRF token derived from the cookie.

use crate::error::{Error, ErrorKind, Result};
use crate::flow::binding_values;
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
        let form = match req.method.as_str() {
            "GET" | "HEAD" => None,
            "POST" => {
                if !req.content_type_is("application/x-www-form-urlencoded") {
                    return Err(Error::invalid_request("the consent form must be form-encoded"));
                }
                Some(Params::parse(&req.body)?)
            }
            _ => return Err(Error::new(ErrorKind::MethodNotAllowed, "use GET or POST")),
        };
        let query = Params::parse(req.query.as_bytes())?;
        // The page's form posts the ticket back as a field; a POST to the URL as given works too.
        let ticket = match &form {
            Some(f) => f.get("ticket")?.or(query.get("ticket")?),
            None => query.get("ticket")?,
        }
        .unwrap_or("");
        self.check_ticket(ticket, &session, addr)?;
        let binding = match self.check_binding(req, &session) {
            Ok(b) => b,
            Err(e) => {
                // The right ticket in the wrong browser: the host approved a sign-in that another
                // browser started (a link passed to the user). End it, so that it cannot be finished
                // anywhere, even if the ticket leaks later.
                let client = self.session_client(&session).await?;
                if let Err(end) = self
                    .finish_denied(
                        session,
                        &client,
                        SessionStatus::Approved,
                        id,
                        "access_denied",
                        "the sign-in was started in another browser",
                    )
                    .await
                {
                    tracing::warn!(error = %end, "could not end a sign-in opened in another browser");
                }
                tracing::warn!("consent ticket presented by a browser that did not start the sign-in; session ended");
                return Err(e);
            }
        };
        let csrf = secrets::hmac_b64(binding.as_bytes(), format!("consent:{}", session.id_hash).as_bytes());
        match form {
            None => self.render_consent(&session, id, ticket, &csrf).await,
            Some(form) => {
                let presented = form.get("csrf")?.unwrap_or("");
                if !secrets::constant_time_eq(presented.as_bytes(), csrf.as_bytes()) {
                    return Err(Error::new(ErrorKind::AccessDenied, "the form is stale or was not sent by this page"));
                }
                let remember = session.remember || form.get("remember")? == Some("yes");
                let decision = form.get("decision")?;
                if !matches!(decision, Some("allow" | "deny")) {
                    return Err(Error::invalid_request("decision must be allow or deny"));
                }
                // Read now: the client may have been deleted or lost this redirect URI meanwhile.
                let client = self.session_client(&session).await?;
                let location = match decision {
                    Some("allow") => {
                        self.complete(SessionRecord { remember, ..session }, &client, SessionStatus::Approved, id)
                            .await?
                    }
                    _ => {
                        self.finish_denied(
                            session,
                            &client,
                            SessionStatus::Approved,
                            id,
                            "access_denied",
                            "the user denied the request",
                        )
                        .await?
                    }
                };
                Ok(Response::redirect(&location))
            }
        }
    }

    /// The ticket from the URL `approve` returned, compared in constant time with its stored hash.
    /// A wrong one counts against the address like an unknown session id.
    fn check_ticket(&self, ticket: &str, session: &SessionRecord, addr: Option<&str>) -> Result<()> {
        let ok = secrets::has_shape(ticket, secrets::prefix::CONSENT_TICKET)
            && session.consent_hash.as_deref().is_some_and(|h| secrets::verify_secret(ticket, h));
        if !ok {
            self.record_failure(None, addr);
            return Err(Error::new(
                ErrorKind::AccessDenied,
                "this consent link is incomplete: the app must send you to the exact address it was given",
            ));
        }
        Ok(())
    }

    /// The binding value (of those the browser's cookie carries) that this session was started with.
    fn check_binding<'r>(&self, req: &'r Request, session: &SessionRecord) -> Result<&'r str> {
        binding_values(req, self.config().binding_cookie_name())
            .find(|v| secrets::verify_secret(v, &session.binding_hash))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::AccessDenied,
                    "open the app in this browser and sign in again: the request was started in another browser",
                )
            })
    }

    async fn render_consent(&self, session: &SessionRecord, id: &str, ticket: &str, csrf: &str) -> Result<Response> {
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
            ticket,
            csrf,
        }))
    }
}
