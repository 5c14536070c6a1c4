//! Webhook rules, the URL checks: which URLs an endpoint may have, and which addresses a
//! delivery may go to (checked again at send time, after the host is resolved).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::EndpointError;

/// An endpoint's URL: `https`, or `http` to a loopback address when that is allowed; no
/// credentials; an address literal must be one an endpoint may have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str, allow_loopback: bool) -> Result<Self, EndpointError> {
        let bad = |why: &str| EndpointError::Url(why.to_owned());
        if raw.len() > 2048 {
            return Err(bad("longer than 2048 characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| EndpointError::Url(e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not hold credentials"));
        }
        let host = url.host().ok_or_else(|| bad("has no host"))?;
        let literal: Option<IpAddr> = match host {
            url::Host::Ipv4(ip) => Some(ip.into()),
            url::Host::Ipv6(ip) => Some(ip.into()),
            url::Host::Domain(_) => None,
        };
        let loopback_name =
            matches!(host, url::Host::Domain(d) if d.eq_ignore_ascii_case("localhost"));
        let loopback = loopback_name || literal.is_some_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if allow_loopback && loopback => {}
            "http" => return Err(bad("must be https (http only to loopback, when allowed)")),
            _ => return Err(bad("must be an https URL")),
        }
        if let Some(ip) = literal {
            address_allowed(ip, allow_loopback).map_err(|why| EndpointError::Url(why.into()))?;
        } else if loopback_name && !allow_loopback {
            return Err(bad("points at loopback"));
        }
        Ok(Self(url.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a delivery may go to `ip`: never to loopback (unless allowed), private, link-local
/// (the instance metadata address), CGNAT, multicast, unspecified or IPv6 unique-local ranges.
pub fn address_allowed(ip: IpAddr, allow_loopback: bool) -> Result<(), &'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if ip.is_loopback() {
        return if allow_loopback {
            Ok(())
        } else {
            Err("resolves to a loopback address")
        };
    }
    let refused = match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || a == 0
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_multicast()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    };
    if refused {
        Err("resolves to a private, link-local, CGNAT or multicast address")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_without_credentials_or_refused_addresses() {
        assert!(WebhookUrl::parse("https://hooks.example.com/in", false).is_ok());
        for bad in [
            "http://hooks.example.com/in",
            "ftp://hooks.example.com",
            "https://user:pw@hooks.example.com/",
            "https://10.0.0.8/",
            "https://169.254.169.254/latest",
            "https://100.64.1.1/",
            "https://[fd00::1]/",
            "https://127.0.0.1/",
            "http://127.0.0.1:9000/",
        ] {
            assert!(WebhookUrl::parse(bad, false).is_err(), "{bad}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(WebhookUrl::parse("http://10.0.0.1/hook", true).is_err());
    }

    #[test]
    fn an_international_host_is_taken_in_its_ascii_form_only() {
        // The binary carries no Unicode tables (idna_adapter 1.0).
        assert!(WebhookUrl::parse("https://xn--bcher-kva.example/in", false).is_ok());
        assert!(WebhookUrl::parse("https://b\u{fc}cher.example/in", false).is_err());
    }
}
