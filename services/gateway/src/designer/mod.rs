//! `GET /designer`: the conversation designer's page, one self-contained
//! HTML file (markup, CSS and vanilla JS, no build step, nothing fetched
//! from elsewhere) embedded in the binary. It edits the assistant YAML
//! through the admin API: load the running config, validate as you type
//! with each problem shown beside its line, publish, list and roll back
//! versions, and parse test utterances with the draft
//! (`POST /v1/admin/assistant/parse`) before anything is published.
//!
//! The page holds an admin token, so it is served with a strict Content
//! Security Policy: only its own inline script and style, named by their
//! SHA-256 (so an injected script or a stray `style` attribute does not
//! run), requests to this origin only, no framing, no forms posting
//! anywhere. It exists only when the admin API does (admin tokens
//! configured); without one it would be a page that can do nothing.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};

use crate::admin::Admin;

/// The page, as shipped.
pub const PAGE: &str = include_str!("page.html");

/// Where the page is served.
pub const PATH: &str = "/designer";

/// The Content-Security-Policy of [`PAGE`], computed once from the page
/// itself so that editing the script or the style cannot leave a stale
/// hash behind.
static CSP: LazyLock<String> = LazyLock::new(|| content_security_policy(PAGE));

/// The text between the first `<{tag}>` and the following `</{tag}>`: the
/// exact bytes a browser hashes for a CSP source expression.
fn inline_block<'a>(page: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = page.find(&open)? + open.len();
    let len = page[start..].find(&format!("</{tag}>"))?;
    Some(&page[start..start + len])
}

fn sha256_source(block: &str) -> String {
    format!("'sha256-{}'", BASE64.encode(Sha256::digest(block.as_bytes())))
}

/// A policy allowing only the page's own inline `<script>` and `<style>`,
/// and requests back to this origin (the admin API).
fn content_security_policy(page: &str) -> String {
    // A page without a block gets 'none' for it rather than a hash of
    // nothing: nothing inline runs.
    let source = |tag| inline_block(page, tag).map(sha256_source).unwrap_or_else(|| "'none'".into());
    format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src 'self' data:; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        source("script"),
        source("style"),
    )
}

async fn page() -> Response {
    let csp = HeaderValue::from_str(&CSP).unwrap_or_else(|e| {
        // Only a policy with a control character would fail, and the page is
        // ours; deny everything rather than serve it without one.
        tracing::error!(error = %e, "the designer page's CSP is not a valid header value");
        HeaderValue::from_static("default-src 'none'")
    });
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
            (header::CONTENT_SECURITY_POLICY, csp),
            // The page is small and changes with the binary; a stale cached
            // copy would talk to an API that has moved on.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
            (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
        ],
        PAGE,
    )
        .into_response()
}

/// `GET /designer`, when the admin API is on; otherwise nothing (404).
pub fn router<S: Clone + Send + Sync + 'static>(admin: &Admin) -> Router<S> {
    if !admin.enabled() {
        return Router::new();
    }
    Router::new().route(PATH, get(page))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn get_page() -> Response {
        Router::<()>::new()
            .route(PATH, get(page))
            .oneshot(Request::get(PATH).body(Body::empty()).expect("a request"))
            .await
            .expect("an answer")
    }

    #[tokio::test]
    async fn the_page_is_html_with_a_strict_policy_and_not_cached() {
        let response = get_page().await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().expect("an ASCII policy");
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        for directive in ["connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        assert_eq!(body, PAGE.as_bytes());
    }

    #[test]
    fn the_policy_names_the_pages_own_script_and_style() {
        let script = inline_block(PAGE, "script").expect("the page has a script");
        let style = inline_block(PAGE, "style").expect("the page has a style");
        assert!(script.contains("/v1/admin/assistant/validate"));
        assert!(CSP.contains(&format!("script-src {};", sha256_source(script))), "{}", *CSP);
        assert!(CSP.contains(&format!("style-src {};", sha256_source(style))), "{}", *CSP);
        // One block of each: a second one would be refused by the browser.
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert_eq!(PAGE.matches("<style").count(), 1);
        // No inline handlers or style attributes: the policy refuses them.
        assert!(!PAGE.contains(" onclick=") && !PAGE.contains(" style="));
        assert_eq!(content_security_policy("<p>no blocks</p>").matches("'none'").count(), 6);
    }

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        for external in ["http://", "https://", "//cdn", "src=\"", "href=\"http"] {
            assert!(!PAGE.contains(external), "the page refers to {external}");
        }
    }
}
