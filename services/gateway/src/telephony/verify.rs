//! Checking that a telephony request really comes from the provider: the
//! URL the provider signed, rebuilt as it saw it, and the signature
//! checks of [`super::signature`] mapped onto this edge's errors. A
//! request that fails is refused with 403 before anything is read from or
//! written to a session.

use axum::http::{HeaderMap, StatusCode, Uri};

use super::signature::{self, SignatureError};
use crate::config::TelephonyConfig;
use crate::error::ApiError;

pub const TWILIO_SIGNATURE: &str = "x-twilio-signature";
pub const GENERIC_TIMESTAMP: &str = "x-voxbook-timestamp";
pub const GENERIC_SIGNATURE: &str = "x-voxbook-signature";

/// The URL the provider requested, as it saw it: the configured public
/// base URL, or else the Host (or `X-Forwarded-Host`) and
/// `X-Forwarded-Proto` headers, plus the path and query as received.
pub fn provider_url(config: &TelephonyConfig, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if let Some(base) = &config.public_url {
        return format!("{base}{path}");
    }
    let header = |name: &str| {
        headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()).map(|v| v.trim().to_string())
    };
    let scheme = header("x-forwarded-proto").unwrap_or_else(|| "http".into());
    let host = header("x-forwarded-host").or_else(|| header("host")).unwrap_or_default();
    format!("{scheme}://{host}{path}")
}

fn refused(e: SignatureError) -> ApiError {
    tracing::warn!(reason = %e, "telephony request refused");
    ApiError::new(StatusCode::FORBIDDEN, "invalid_signature", e.to_string())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A Twilio form POST (or a WebSocket upgrade, with no parameters).
pub fn twilio_form(
    config: &TelephonyConfig,
    headers: &HeaderMap,
    uri: &Uri,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let url = provider_url(config, headers, uri);
    signature::verify_twilio_form(&config.twilio_auth_tokens, &url, params, header(headers, TWILIO_SIGNATURE))
        .map_err(refused)
}

/// A Twilio request with a JSON body: the URL (with its `bodySHA256`) is
/// signed, and the body must hash to it.
pub fn twilio_json(config: &TelephonyConfig, headers: &HeaderMap, uri: &Uri, body: &[u8]) -> Result<(), ApiError> {
    let url = provider_url(config, headers, uri);
    signature::verify_twilio_json(&config.twilio_auth_tokens, &url, body, header(headers, TWILIO_SIGNATURE))
        .map_err(refused)
}

/// A Media Streams WebSocket upgrade. Twilio signs the `wss://` URL it
/// connected to; the `https://` form of the same URL is accepted too, since
/// a proxy that terminates TLS reports the scheme as https.
pub fn twilio_upgrade(config: &TelephonyConfig, headers: &HeaderMap, uri: &Uri) -> Result<(), ApiError> {
    let url = provider_url(config, headers, uri);
    let ws_url = url.replacen("http", "ws", 1);
    let header = header(headers, TWILIO_SIGNATURE);
    signature::verify_twilio_form(&config.twilio_auth_tokens, &ws_url, &[], header)
        .or_else(|_| signature::verify_twilio_form(&config.twilio_auth_tokens, &url, &[], header))
        .map_err(refused)
}

/// A generic JSON webhook from `provider`, signed with that provider's
/// secrets over its timestamp and body.
pub fn generic(config: &TelephonyConfig, provider: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let secrets = config.webhook_secrets.get(provider).map(Vec::as_slice).unwrap_or(&[]);
    let now = chrono::Utc::now().timestamp();
    signature::verify_generic(
        secrets,
        header(headers, GENERIC_TIMESTAMP),
        header(headers, GENERIC_SIGNATURE),
        body,
        now,
        config.signature_tolerance_secs,
    )
    .map_err(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_url_is_rebuilt_as_the_provider_saw_it() {
        let uri: Uri = "/v1/telephony/twilio/gather?turn=2".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("host", "10.0.0.5:8080".parse().unwrap());
        let mut config = TelephonyConfig::default();
        assert_eq!(provider_url(&config, &headers, &uri), "http://10.0.0.5:8080/v1/telephony/twilio/gather?turn=2");
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        headers.insert("x-forwarded-host", "voice.example.com".parse().unwrap());
        assert_eq!(
            provider_url(&config, &headers, &uri),
            "https://voice.example.com/v1/telephony/twilio/gather?turn=2"
        );
        config.public_url = Some("https://calls.example.com".into());
        assert_eq!(
            provider_url(&config, &headers, &uri),
            "https://calls.example.com/v1/telephony/twilio/gather?turn=2"
        );
    }
}
