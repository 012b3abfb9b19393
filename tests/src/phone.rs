//! A telephony provider's side of the webhooks, for tests and benchmarks:
//! signed Twilio form posts (as Twilio signs them) and their TwiML
//! answers read back into parts, and signed generic JSON webhooks.

use anyhow::Context;
use regex::Regex;
use serde_json::Value;
use voxbook_gateway::telephony::signature;

/// The Twilio auth token test gateways are configured with.
pub const TWILIO_TOKEN: &str = "test-twilio-auth-token";

/// A TwiML answer, read back.
#[derive(Debug, Clone, Default)]
pub struct TwimlAnswer {
    pub xml: String,
    /// Every `<Say>` text, in order (unescaped).
    pub says: Vec<String>,
    /// The `<Gather>` action URL, when the call listens next.
    pub gather_action: Option<String>,
    pub dial: Option<String>,
    pub hangup: bool,
    pub stream_url: Option<String>,
}

impl TwimlAnswer {
    pub fn parse(xml: &str) -> anyhow::Result<TwimlAnswer> {
        anyhow::ensure!(xml.contains("<Response>") || xml.contains("<Response/>"), "not TwiML: {xml}");
        let unescape = |s: &str| {
            s.replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&apos;", "'")
                .replace("&amp;", "&")
        };
        let say = Regex::new(r"<Say[^>]*>([^<]*)</Say>")?;
        let action = Regex::new(r#"<Gather[^>]*\baction="([^"]*)""#)?;
        let dial = Regex::new(r"<Dial[^>]*>([^<]*)</Dial>")?;
        let stream = Regex::new(r#"<Stream[^>]*\burl="([^"]*)""#)?;
        Ok(TwimlAnswer {
            xml: xml.to_string(),
            says: say.captures_iter(xml).map(|c| unescape(&c[1])).collect(),
            gather_action: action.captures(xml).map(|c| unescape(&c[1])),
            dial: dial.captures(xml).map(|c| unescape(&c[1])),
            hangup: xml.contains("<Hangup"),
            stream_url: stream.captures(xml).map(|c| unescape(&c[1])),
        })
    }

    /// Everything said, joined.
    pub fn said(&self) -> String {
        self.says.join(" ")
    }
}

/// Posts a Twilio webhook to `base` + `path` (path and query), signed
/// with `token` over the URL and the form parameters, as Twilio does.
/// `signature` overrides the header (None: sign correctly).
pub async fn post_twilio(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    params: &[(&str, &str)],
    signature: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let url = format!("{base}{path}");
    let owned: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let signed = signature::twilio_signature(TWILIO_TOKEN, &url, &owned);
    let body = form_body(params);
    let mut request = client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
    match signature {
        Some("") => {}
        Some(s) => request = request.header("X-Twilio-Signature", s),
        None => request = request.header("X-Twilio-Signature", signed),
    }
    let response = request.send().await.context("webhook post")?;
    Ok((response.status().as_u16(), response.text().await?))
}

fn form_body(params: &[(&str, &str)]) -> String {
    let mut body = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        body.append_pair(k, v);
    }
    body.finish()
}

/// Posts a generic JSON webhook for `provider`, signed with `secret` at
/// unix time `timestamp`.
pub async fn post_generic(
    client: &reqwest::Client,
    base: &str,
    provider: &str,
    secret: &str,
    timestamp: i64,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let raw = serde_json::to_vec(body)?;
    let signed = signature::generic_signature(secret, timestamp, &raw);
    let response = client
        .post(format!("{base}/v1/telephony/webhooks/{provider}"))
        .header("content-type", "application/json")
        .header("X-Voxbook-Timestamp", timestamp.to_string())
        .header("X-Voxbook-Signature", signed)
        .body(raw)
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}
