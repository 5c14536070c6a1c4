//! API Gateway events to the API's own paths: what the router matches on Lambda.
//!
//! An event's `path` (REST) or `rawPath` (HTTP API) carries whatever precedes the API's resource
//! paths: nothing on the execute-api domain, a base path on a custom domain (`/v1/...`), the
//! stage on an HTTP API's named stage. Stripping a stage name by guess breaks on base paths and
//! on a stage named like a route (`executions`), so the path is cut where API Gateway itself
//! says the matched resource (`/executions/{executionArn}`, `/{proxy+}`) begins.

use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// Characters that cannot stand raw in a URI path. `%` is not among them: REST events keep
/// the client's percent-encoding, and encoding `%` again would change what the client sent.
const NOT_IN_PATH: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A path parameter rebuilt into a path: its own `/` and `%` are data, not syntax.
const PARAMETER: &AsciiSet = &NOT_IN_PATH.add(b'%').add(b'/');

/// Rewrites the request's path to the part API Gateway matched against the API's resources,
/// keeping the query; requests that are not API Gateway events are returned unchanged.
pub fn to_api_path(mut request: lambda_http::Request) -> lambda_http::Request {
    let (template, stage) = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(context)) => {
            (context.resource_path.clone(), context.stage.clone())
        }
        Some(RequestContext::ApiGatewayV2(context)) => (
            // `GET /executions/{executionArn}`; `$default` names no path.
            context
                .route_key
                .as_deref()
                .and_then(|key| key.split_once(' '))
                .map(|(_, path)| path.to_owned()),
            context.stage.clone(),
        ),
        _ => return request,
    };
    let raw = request.raw_http_path();
    let parameters = request.path_parameters_ref();
    let parameter = |name: &str| parameters.and_then(|p| p.first(name));
    let path = match template {
        Some(template) => {
            relative_path(raw, &template, parameter).or_else(|| rebuilt_path(&template, parameter))
        }
        // An HTTP API's `$default` route: its raw path starts with the stage, unless that is
        // `$default` too.
        None => Some(without_stage(raw, stage.as_deref()).to_owned()),
    };
    let Some(path) = path else {
        return request;
    };
    let path: String = utf8_percent_encode(&path, NOT_IN_PATH).collect();
    let path_and_query = match request.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The trailing segments of `raw` that the resource `template` matched, when `raw` ends in the
/// template's shape: each literal segment in place, one segment per `{name}`, as many as the
/// value of a greedy `{name+}` holds.
fn relative_path<'a>(
    raw: &str,
    template: &str,
    parameter: impl Fn(&str) -> Option<&'a str>,
) -> Option<String> {
    let template: Vec<&str> = segments(template).collect();
    let mut widths = Vec::with_capacity(template.len());
    for segment in &template {
        widths.push(match greedy_name(segment) {
            Some(name) => segments(parameter(name)?).count(),
            None => 1,
        });
    }
    let path: Vec<&str> = raw.strip_prefix('/')?.split('/').collect();
    let start = path.len().checked_sub(widths.iter().sum())?;
    let suffix = &path[start..];
    let mut at = 0;
    for (segment, width) in template.iter().zip(widths) {
        let is_literal = !segment.starts_with('{');
        if is_literal && !same_segment(suffix[at], segment) {
            return None;
        }
        at += width;
    }
    Some(format!("/{}", suffix.join("/")))
}

/// The template with its parameters put back, for an event whose path does not end in the
/// template's shape.
fn rebuilt_path<'a>(template: &str, parameter: impl Fn(&str) -> Option<&'a str>) -> Option<String> {
    let mut path = String::new();
    for segment in segments(template) {
        path.push('/');
        if let Some(name) = greedy_name(segment) {
            path.extend(
                segments(parameter(name)?)
                    .flat_map(|s| std::iter::once("/").chain(utf8_percent_encode(s, PARAMETER)))
                    .skip(1),
            );
        } else if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            path.extend(utf8_percent_encode(parameter(name)?, PARAMETER));
        } else {
            path.push_str(segment);
        }
    }
    Some(if path.is_empty() { "/".into() } else { path })
}

fn without_stage<'a>(raw: &'a str, stage: Option<&str>) -> &'a str {
    match stage.filter(|s| !s.is_empty() && *s != "$default") {
        Some(stage) => raw
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(stage))
            .filter(|rest| rest.starts_with('/'))
            .unwrap_or(raw),
        None => raw,
    }
}

fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// `proxy` for `{proxy+}`.
fn greedy_name(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix("+}")
}

/// A literal resource segment, as the client may have percent-encoded it.
fn same_segment(raw: &str, literal: &str) -> bool {
    raw == literal || percent_encoding::percent_decode_str(raw).decode_utf8_lossy() == literal
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:execution:Orders:o-1";

    fn relative(raw: &str, template: &str, value: Option<&str>) -> Option<String> {
        relative_path(raw, template, |_| value)
    }

    #[test]
    fn a_path_without_a_prefix_is_kept() {
        let raw = format!("/executions/{ARN}");
        let got = relative(&raw, "/executions/{executionArn}", Some(ARN));
        assert_eq!(got.as_deref(), Some(raw.as_str()));
    }

    #[test]
    fn a_base_path_of_any_depth_is_cut_off() {
        let expected = format!("/executions/{ARN}");
        for prefix in ["/v1", "/prod", "/api/v2", "/executions"] {
            let got = relative(
                &format!("{prefix}{expected}"),
                "/executions/{executionArn}",
                Some(ARN),
            );
            assert_eq!(got.as_deref(), Some(expected.as_str()), "{prefix}");
        }
        let got = relative("/healthz/healthz", "/healthz", None);
        assert_eq!(got.as_deref(), Some("/healthz"));
    }

    #[test]
    fn percent_encoding_in_the_path_is_kept_as_sent() {
        let encoded = ARN.replace(':', "%3A");
        let got = relative(
            &format!("/v1/executions/{encoded}"),
            "/executions/{executionArn}",
            Some(ARN),
        );
        assert_eq!(got, Some(format!("/executions/{encoded}")));
    }

    #[test]
    fn a_greedy_proxy_takes_as_many_segments_as_its_value() {
        let got = relative("/v1/no/such/route", "/{proxy+}", Some("no/such/route"));
        assert_eq!(got.as_deref(), Some("/no/such/route"));
        let got = relative("/v1/executions/x/y", "/executions/{proxy+}", Some("x/y"));
        assert_eq!(got.as_deref(), Some("/executions/x/y"));
    }

    #[test]
    fn a_path_not_in_the_templates_shape_is_rebuilt_from_the_parameters() {
        assert_eq!(
            relative("/v1/other/x", "/executions/{executionArn}", Some("x")),
            None
        );
        assert_eq!(
            relative("/x", "/executions/{executionArn}", Some("x")),
            None
        );
        let rebuilt = rebuilt_path("/executions/{executionArn}", |_| Some("a/b%3A c"));
        assert_eq!(rebuilt.as_deref(), Some("/executions/a%2Fb%253A%20c"));
        let rebuilt = rebuilt_path("/{proxy+}", |_| Some("no/such"));
        assert_eq!(rebuilt.as_deref(), Some("/no/such"));
        assert_eq!(rebuilt_path("/executions/{executionArn}", |_| None), None);
    }

    #[test]
    fn only_a_named_stage_is_cut_from_a_default_route() {
        assert_eq!(without_stage("/prod/healthz", Some("prod")), "/healthz");
        assert_eq!(without_stage("/healthz", Some("$default")), "/healthz");
        assert_eq!(
            without_stage("/production/x", Some("prod")),
            "/production/x"
        );
    }
}
