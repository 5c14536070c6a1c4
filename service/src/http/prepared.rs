//! Prepared answers: a stopped result's answer built once (body, validators, headers and, on
//! demand, each compressed form) so that serving it again clones reference-counted bytes and
//! header values, and nothing is parsed, hashed or compressed per request.
//!
//! Encodings and validators (RFC 9110 §8.8.3): a strong `ETag` names one representation, so
//! - compressing here (the local server), each encoding has its own strong tag: `"H"` and
//!   `"H-gzip"`, and `If-None-Match` is compared with the tag of the encoding chosen;
//! - behind API Gateway, which compresses with gzip or deflate above its
//!   `MinimumCompressionSize` after the answer leaves us, the tag is weak (`W/"H"`, "the same
//!   content in any encoding") whenever the gateway may compress it.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;

use super::headers::CACHE_STATUS;
use crate::domain::ExecutionArn;

/// Answers up to this size are never compressed: the bytes saved would not pay for the work.
/// The stack sets API Gateway's `MinimumCompressionSize` to the same figure.
pub const COMPRESS_ABOVE: usize = 1024;

/// Who compresses answers. gzip only, as API Gateway (which adds deflate): a brotli encoder
/// would be an eighth of the function's binary (see BENCHMARKS.md), and every client that
/// accepts br accepts gzip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// This process, for clients that ask (`Accept-Encoding: gzip`): the local server.
    Here,
    /// API Gateway, in front of the Lambda function: answers leave here uncompressed.
    Gateway,
}

/// An encoding of a result's document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

#[derive(Debug)]
struct Variant {
    body: Bytes,
    etag: HeaderValue,
}

/// One result's answer, ready to send.
#[derive(Debug)]
pub struct Prepared {
    identity: Variant,
    gzip: OnceLock<Variant>,
    /// `W/"H"`: what the tag is when API Gateway may compress the answer.
    weak: HeaderValue,
    hash: u128,
    cache_control: HeaderValue,
}

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const VARY: HeaderValue = HeaderValue::from_static("accept-encoding");

impl Prepared {
    pub fn new(document: Bytes, cache_control: HeaderValue) -> Self {
        let hash = xxhash_rust::xxh3::xxh3_128(&document);
        Self {
            identity: Variant {
                etag: tag(hash, ""),
                body: document,
            },
            gzip: OnceLock::new(),
            weak: HeaderValue::from_str(&format!("W/\"{hash:032x}\""))
                .unwrap_or(HeaderValue::from_static("W/\"0\"")),
            hash,
            cache_control,
        }
    }

    /// What memory it holds: the document and, at most, its compressed form beside it.
    pub fn weight(&self) -> usize {
        self.identity.body.len() * 2
    }

    /// The answer to a request with these headers: `200` with the document in the encoding the
    /// client prefers, or `304` when `If-None-Match` names what it would get.
    pub fn respond(
        &self,
        request: &HeaderMap,
        cache_status: HeaderValue,
        compression: Compression,
    ) -> Response {
        let compressible = self.identity.body.len() > COMPRESS_ABOVE;
        let (variant, encoding, etag) = match (compressible, compression) {
            (false, _) => (&self.identity, Encoding::Identity, &self.identity.etag),
            (true, Compression::Gateway) => {
                let etag = if gateway_may_compress(request) {
                    &self.weak
                } else {
                    &self.identity.etag
                };
                (&self.identity, Encoding::Identity, etag)
            }
            (true, Compression::Here) => {
                let encoding = negotiate(request);
                let variant = self.variant(encoding);
                (variant, encoding, &variant.etag)
            }
        };
        let fresh = super::headers::none_match(request, etag);
        let mut response = if fresh {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(Body::from(variant.body.clone()));
            response.headers_mut().insert(header::CONTENT_TYPE, JSON);
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, etag.clone());
        headers.insert(header::CACHE_CONTROL, self.cache_control.clone());
        headers.insert(CACHE_STATUS, cache_status);
        if compressible {
            headers.insert(header::VARY, VARY);
        }
        if encoding == Encoding::Gzip && !fresh {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        response
    }

    /// The document in `encoding`, compressed the first time it is asked for.
    fn variant(&self, encoding: Encoding) -> &Variant {
        let document = &self.identity.body;
        match encoding {
            Encoding::Identity => &self.identity,
            Encoding::Gzip => self.gzip.get_or_init(|| Variant {
                body: gzip(document),
                etag: tag(self.hash, "-gzip"),
            }),
        }
    }
}

fn tag(hash: u128, suffix: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{hash:032x}{suffix}\""))
        .unwrap_or(HeaderValue::from_static("\"0\""))
}

fn gzip(document: &[u8]) -> Bytes {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(document.len() / 4),
        flate2::Compression::default(),
    );
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(document);
    encoder.finish().unwrap_or_default().into()
}

/// The `q` each coding gets in `Accept-Encoding` (RFC 9110 §12.5.3), `*` standing for those
/// not named: `[gzip, deflate, *]`; `None` when the header is absent.
fn qualities(request: &HeaderMap) -> Option<[f32; 3]> {
    let mut named = [None::<f32>; 3];
    let mut any = false;
    for value in request.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        any = true;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
                .map_or(1.0, |q| q.trim().parse::<f32>().unwrap_or(0.0));
            let slot = ["gzip", "deflate", "*"]
                .iter()
                .position(|c| coding.eq_ignore_ascii_case(c));
            if let Some(slot) = slot {
                named[slot] = Some(q);
            }
        }
    }
    any.then(|| {
        let star = named[2].unwrap_or(0.0);
        [named[0].unwrap_or(star), named[1].unwrap_or(star), star]
    })
}

/// The encoding to send: gzip when the client accepts it, identity otherwise.
pub fn negotiate(request: &HeaderMap) -> Encoding {
    match qualities(request) {
        Some([gzip, ..]) if gzip > 0.0 => Encoding::Gzip,
        _ => Encoding::Identity,
    }
}

/// Whether API Gateway may compress the answer to this request: it compresses with gzip or
/// deflate, so whenever the client accepts either.
fn gateway_may_compress(request: &HeaderMap) -> bool {
    qualities(request).is_some_and(|[gzip, deflate, _]| gzip > 0.0 || deflate > 0.0)
}

/// Prepared answers of final results, by execution ARN, bounded by the bytes they hold. Only
/// results that passed the allow-list enter (the list is fixed for the life of the process),
/// so a hit needs neither parsing nor the list.
#[derive(Debug, Clone)]
pub struct PreparedCache {
    /// `None` when the memory cache is off (`MEMORY_CACHE_MB=0`).
    cache: Option<moka::sync::Cache<Arc<str>, Arc<Prepared>>>,
}

impl PreparedCache {
    /// Holds at most `max_bytes` (the documents' bytes are shared with the results' memory
    /// cache, not copied).
    pub fn new(max_bytes: u64) -> Self {
        let cache = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|arn: &Arc<str>, answer: &Arc<Prepared>| {
                    u32::try_from(arn.len() + answer.weight() + 256).unwrap_or(u32::MAX)
                })
                .build()
        });
        Self { cache }
    }

    /// The prepared answer of `arn`, given exactly as it was parsed.
    pub fn get(&self, arn: &str) -> Option<Arc<Prepared>> {
        self.cache.as_ref()?.get(arn)
    }

    pub fn insert(&self, arn: &ExecutionArn, answer: Arc<Prepared>) {
        if let Some(cache) = &self.cache {
            cache.insert(Arc::from(arn.as_str()), answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn gzip_is_sent_whenever_the_client_accepts_it() {
        let pick = |v: &'static str| negotiate(&headers(&[("accept-encoding", v)]));
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(pick("gzip, deflate, br"), Encoding::Gzip);
        assert_eq!(pick("gzip"), Encoding::Gzip);
        assert_eq!(pick("br;q=1, GZIP;q=0.5"), Encoding::Gzip);
        assert_eq!(pick("br, gzip;q=0"), Encoding::Identity);
        assert_eq!(pick("br"), Encoding::Identity);
        assert_eq!(pick("*"), Encoding::Gzip);
        assert_eq!(pick("*;q=0.1, gzip;q=0"), Encoding::Identity);
        assert_eq!(pick("identity"), Encoding::Identity);
        assert_eq!(pick("deflate"), Encoding::Identity);
    }

    #[test]
    fn the_gateway_may_compress_whenever_gzip_or_deflate_is_accepted() {
        let may = |v: &'static str| gateway_may_compress(&headers(&[("accept-encoding", v)]));
        assert!(!gateway_may_compress(&HeaderMap::new()));
        assert!(may("deflate"));
        assert!(may("br, gzip"));
        assert!(!may("br"));
        assert!(!may("identity, gzip;q=0"));
    }

    #[test]
    fn the_gzip_form_has_its_own_strong_tag_and_round_trips() {
        let document = Bytes::from(format!("{{\"output\":\"{}\"}}", "x".repeat(4000)));
        let prepared = Prepared::new(document.clone(), HeaderValue::from_static("no-cache"));
        let gz = prepared.variant(Encoding::Gzip);
        assert_ne!(prepared.identity.etag, gz.etag);
        assert!(gz.body.len() < document.len() / 10);
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&gz.body[..]),
            &mut unzipped,
        )
        .expect("gzip");
        assert_eq!(unzipped, document);
    }
}
