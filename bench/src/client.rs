//! A lean HTTP/1.1 client: one keep-alive connection per worker, no pooling, no TLS. The load
//! generator shares the machine with the server, so every microsecond it spends is one the server
//! does not get; a general-purpose client (pool, redirects, decompression) would cost several times more.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::HeaderValue;
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::rt::TokioIo;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a request returned.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> Result<serde_json::Value, BoxError> {
        Ok(serde_json::from_slice(&self.body)?)
    }
}

pub struct Conn {
    addr: SocketAddr,
    host: HeaderValue,
    sender: SendRequest<Full<Bytes>>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn, BoxError> {
        let sender = handshake(addr).await?;
        Ok(Conn { addr, host: HeaderValue::from_str(&addr.to_string())?, sender })
    }

    /// Sends one request; reconnects once if the server closed the idle connection.
    pub async fn send(
        &mut self,
        method: Method,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<Reply, BoxError> {
        if self.sender.ready().await.is_err() {
            self.sender = handshake(self.addr).await?;
        }
        let mut req = hyper::Request::builder().method(method).uri(path_and_query);
        let h = req.headers_mut().ok_or("bad request")?;
        h.insert(hyper::header::HOST, self.host.clone());
        for (k, v) in headers {
            h.insert(hyper::header::HeaderName::from_bytes(k.as_bytes())?, HeaderValue::from_str(v)?);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                h.insert(hyper::header::CONTENT_TYPE, HeaderValue::from_str(content_type)?);
                Full::new(Bytes::from(bytes))
            }
            None => Full::new(Bytes::new()),
        };
        let resp = self.sender.send_request(req.body(body)?).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }
}

async fn handshake(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// `application/x-www-form-urlencoded` from pairs.
pub fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

/// `Authorization: Basic` for a client id and secret (RFC 6749 §2.3.1 form-encodes both first).
pub fn basic_auth(client_id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(client_id), enc(secret))))
}
