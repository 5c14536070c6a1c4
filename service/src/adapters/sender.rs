//! The outbound webhook client (reqwest on rustls/ring): every address a host resolves to is
//! checked before connecting, and the connection uses only the checked addresses, so DNS
//! rebinding between registration and send gains nothing; no redirect is followed, no proxy used.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhooks::{address_allowed, retry_after, Outgoing, Sent, WebhookSender};

#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    allow_loopback: bool,
}

/// Resolves with the system resolver and keeps only the addresses an endpoint may have.
#[derive(Debug)]
struct CheckedResolver {
    allow_loopback: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refused = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match address_allowed(addr.ip(), allow_loopback) {
                    Ok(()) => true,
                    Err(why) => {
                        refused = Some(format!("{host} {why} ({})", addr.ip()));
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let why = refused.unwrap_or_else(|| format!("{host} did not resolve"));
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

impl HttpSender {
    pub fn new(allow_loopback: bool) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .dns_resolver(Arc::new(CheckedResolver { allow_loopback }))
            .build()?;
        Ok(Self {
            client,
            allow_loopback,
        })
    }
}

/// The error and its causes, on one line: what a delivery's `lastError` says.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[async_trait]
impl WebhookSender for HttpSender {
    async fn send(&self, request: Outgoing, timeout: Duration) -> Sent {
        // An address literal is never resolved, so it is checked here.
        if let Ok(url) = url::Url::parse(&request.url) {
            let literal = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = literal {
                if let Err(why) = address_allowed(ip, self.allow_loopback) {
                    return Sent::Failed(format!("refused: {ip} {why}"));
                }
            }
        }
        let mut post = self.client.post(&request.url).timeout(timeout);
        for (name, value) in request.headers {
            post = post.header(name, value);
        }
        match post.body(request.body).send().await {
            Ok(response) => {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| retry_after(v, SystemTime::now()));
                Sent::Answered {
                    status: response.status().as_u16(),
                    retry_after,
                }
            }
            Err(err) if err.is_timeout() => {
                Sent::Failed(format!("no answer within {} s", timeout.as_secs()))
            }
            Err(err) => Sent::Failed(describe(&err)),
        }
    }
}
