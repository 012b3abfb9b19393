//! Webhook signatures: proof that a telephony request was sent by the
//! provider and not forged by whoever found the webhook's URL. These are
//! pure functions (no HTTP types, the clock passed in) so the rules can be
//! tested exactly and shared by the HTTP edge, test clients and benches.
//!
//! Two schemes:
//!
//! - Twilio's `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the
//!   account's auth token, over the full URL Twilio requested followed by
//!   every form parameter sorted by name (then value), each as name then
//!   value with no separator. JSON bodies are not in the signed string:
//!   Twilio appends `bodySHA256=<hex SHA-256 of the body>` to the URL it
//!   signs, so the body is checked against that query parameter. Like
//!   Twilio's own helper libraries, a URL is accepted as signed with or
//!   without its port, because Twilio is not consistent about including
//!   the default port (`:443`, `:80`) in what it signs.
//! - A generic scheme for other providers' JSON webhooks:
//!   `X-Voxbook-Timestamp: <unix seconds>` and
//!   `X-Voxbook-Signature: v1=<lowercase hex HMAC-SHA256(secret, "{timestamp}.{body}")>`.
//!   Signing the timestamp with the body lets a replayed request be
//!   refused once it falls outside the tolerance window.
//!
//! Every check takes a list of secrets so a secret can be rotated without
//! downtime: the new one is added, the provider switched over, the old one
//! removed. Signatures are compared in constant time (through
//! [`Mac::verify_slice`]) so response timing does not leak how much of a
//! forged signature was right.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::digest::block_api::EagerHash;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Why a webhook request was refused. The messages name what is wrong
/// with the request, never a secret or the expected signature, so they
/// can be logged and returned to the caller as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no signature")]
    Missing,
    #[error("the request's signature is malformed")]
    Malformed,
    #[error("the request's signature does not match")]
    Mismatch,
    #[error("the signed URL carries no bodySHA256 parameter for the request body")]
    MissingBodyHash,
    #[error("the request body does not match the bodySHA256 of the signed URL")]
    BodyHashMismatch,
    #[error("the request's timestamp is outside the accepted window")]
    Stale,
    #[error("no signing secret is configured for this provider")]
    NoSecretConfigured,
}

/// The query parameter in which Twilio signs a JSON body's hash.
const BODY_HASH_PARAM: &str = "bodySHA256";
/// The version tag of the generic scheme's signature; a later scheme gets
/// a new tag so both can be accepted while senders move over.
const GENERIC_VERSION: &str = "v1";

/// HMAC keyed with `key` over the concatenation of `parts`.
///
/// `Hmac::new_from_slice` is infallible for HMAC but typed as fallible;
/// rather than unwrap it, the key is brought to the hash's block size
/// here exactly as RFC 2104 prescribes (hashed if longer, zero-padded),
/// which lets the infallible block-sized constructor be used. HMAC pads
/// a block-sized key with nothing more, so the result is the same MAC.
fn keyed<D>(key: &[u8], parts: &[&[u8]]) -> Hmac<D>
where
    D: EagerHash + Digest,
{
    let mut block = hmac::digest::Key::<Hmac<D>>::default();
    if key.len() > block.len() {
        let hashed = D::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <Hmac<D> as KeyInit>::new(&block);
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The string Twilio signs for a form request: the URL, then every
/// parameter as name and value, sorted by name and then by value (a
/// repeated name contributes each of its values).
fn twilio_payload(url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Byte order of UTF-8 is code point order, which is how Twilio's
    // reference library (Python's `sorted`) orders names and values.
    sorted.sort();
    let mut payload = String::with_capacity(url.len() + params.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>());
    payload.push_str(url);
    for (name, value) in sorted {
        payload.push_str(name);
        payload.push_str(value);
    }
    payload
}

/// The `X-Twilio-Signature` Twilio sends for a form POST of `params` to
/// `url` (the full URL with its query), signed with auth token `token`.
pub fn twilio_signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    let mac = keyed::<Sha1>(token.as_bytes(), &[twilio_payload(url, params).as_bytes()]);
    BASE64.encode(mac.finalize().into_bytes())
}

/// Checks the `X-Twilio-Signature` (`header`) of a form POST of `params`
/// to `url`, the full URL as Twilio requested it, query included.
/// Valid when it was signed with any of `tokens`.
pub fn verify_twilio_form(
    tokens: &[String],
    url: &str,
    params: &[(String, String)],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let tag = twilio_tag(tokens, header)?;
    if twilio_signed(tokens, url, params, &tag) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

/// Checks a Twilio request with a JSON body: `header` must sign `url`
/// alone (no parameters) with any of `tokens`, and the URL's
/// `bodySHA256` must be the SHA-256 of `body`. Without the body check a
/// captured signature could be replayed with any body.
pub fn verify_twilio_json(
    tokens: &[String],
    url: &str,
    body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let tag = twilio_tag(tokens, header)?;
    let claimed = body_hash_param(url).ok_or(SignatureError::MissingBodyHash)?;
    // The signature is checked first: a forged request learns nothing
    // about the body check, and a genuine one with a bad body (mangled by
    // a proxy) is told so precisely.
    if !twilio_signed(tokens, url, &[], &tag) {
        return Err(SignatureError::Mismatch);
    }
    // The hash is no secret (anyone holding the body can compute it), so
    // a plain comparison leaks nothing.
    match decode_hex(&claimed) {
        Some(claimed) if claimed.as_slice() == Sha256::digest(body).as_slice() => Ok(()),
        _ => Err(SignatureError::BodyHashMismatch),
    }
}

/// The decoded signature of a Twilio request, once there is something to
/// check it against.
fn twilio_tag(tokens: &[String], header: Option<&str>) -> Result<Vec<u8>, SignatureError> {
    if tokens.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let header = present(header).ok_or(SignatureError::Missing)?;
    BASE64.decode(header).map_err(|_| SignatureError::Malformed)
}

/// Whether `tag` signs `url` and `params` with any token, under either of
/// the URL's port variants. Every combination is computed, without
/// stopping at the first match, so the time taken does not tell which
/// token (the old or the new one) is in use.
fn twilio_signed(tokens: &[String], url: &str, params: &[(String, String)], tag: &[u8]) -> bool {
    let mut valid = false;
    for candidate in url_variants(url) {
        let payload = twilio_payload(&candidate, params);
        for token in tokens {
            valid |= keyed::<Sha1>(token.as_bytes(), &[payload.as_bytes()]).verify_slice(tag).is_ok();
        }
    }
    valid
}

/// The URL without any port and with one (the scheme's default added when
/// it has none). Twilio signs the URL as configured, but has been seen to
/// add or drop the default port; its helper libraries accept both forms,
/// and so does this.
fn url_variants(url: &str) -> Vec<String> {
    let Some(authority) = authority_span(url) else {
        return vec![url.to_string()];
    };
    let host_port = &url[authority.clone()];
    // Userinfo may contain ':' too; the port follows the host, after the
    // last '@'.
    let host_start = host_port.rfind('@').map_or(0, |at| at + 1);
    let host = &host_port[host_start..];
    // An IPv6 literal is bracketed; only a ':' after the ']' starts a port.
    let port_colon = match host.rfind(']') {
        Some(close) => host[close..].find(':').map(|i| close + i),
        None => host.rfind(':'),
    };
    let splice = |replacement: &str, from: usize| {
        let from = authority.start + host_start + from;
        format!("{}{}{}", &url[..from], replacement, &url[authority.end..])
    };
    match port_colon {
        Some(colon) => vec![splice("", colon), url.to_string()],
        None => {
            let default_port = if url[..authority.start].eq_ignore_ascii_case("https://") { ":443" } else { ":80" };
            vec![url.to_string(), splice(default_port, host.len())]
        }
    }
}

/// The byte range of `url`'s authority (userinfo, host and port): from
/// after `scheme://` to the first `/`, `?` or `#`.
fn authority_span(url: &str) -> Option<std::ops::Range<usize>> {
    let start = url.find("://")? + 3;
    let len = url[start..].find(['/', '?', '#']).unwrap_or(url.len() - start);
    Some(start..start + len)
}

/// The first `bodySHA256` query parameter of `url`, decoded.
fn body_hash_param(url: &str) -> Option<String> {
    let without_fragment = url.split('#').next().unwrap_or(url);
    let (_, query) = without_fragment.split_once('?')?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == BODY_HASH_PARAM)
        .map(|(_, value)| value.into_owned())
}

/// The `X-Voxbook-Signature` header value for `body` sent at unix time
/// `timestamp`, signed with `secret`: `v1=` and the lowercase hex
/// HMAC-SHA256 of `"{timestamp}.{body}"`.
pub fn generic_signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mac = generic_mac(secret, timestamp, body);
    format!("{GENERIC_VERSION}={}", encode_hex(&mac.finalize().into_bytes()))
}

fn generic_mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    keyed::<Sha256>(secret.as_bytes(), &[timestamp.to_string().as_bytes(), b".", body])
}

/// Checks a generic webhook: its `X-Voxbook-Timestamp` (`timestamp`) and
/// `X-Voxbook-Signature` (`signature`) headers over the raw `body`. Valid
/// when signed with any of `secrets` and sent within `tolerance_secs` of
/// `now` (either way: a clock ahead is as suspect as one behind).
///
/// The signature header may list several comma-separated entries (a
/// sender rotating its secret can sign with both); entries of another
/// version are ignored, and one `v1` entry that matches is enough.
pub fn verify_generic(
    secrets: &[String],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecretConfigured);
    }
    let (Some(timestamp), Some(signature)) = (present(timestamp), present(signature)) else {
        return Err(SignatureError::Missing);
    };
    // Digits only (an optional leading '-' aside): `i64::from_str` would
    // also take a '+', which no sender writes and the signed string would
    // not contain.
    let digits = timestamp.strip_prefix('-').unwrap_or(timestamp);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SignatureError::Malformed);
    }
    let sent: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let tags = signature
        .split(',')
        .filter_map(|entry| entry.trim().split_once('='))
        .filter(|(version, _)| *version == GENERIC_VERSION)
        .map(|(_, hex)| decode_hex(hex).ok_or(SignatureError::Malformed))
        .collect::<Result<Vec<_>, _>>()?;
    if tags.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let mut valid = false;
    for secret in secrets {
        let mac = generic_mac(secret, sent, body);
        for tag in &tags {
            valid |= mac.clone().verify_slice(tag).is_ok();
        }
    }
    if !valid {
        return Err(SignatureError::Mismatch);
    }
    // The window is checked after the signature, so "stale" is only ever
    // said of a genuine request (pointing at clock skew or a replay), never
    // of a forgery.
    if sent.abs_diff(now) > tolerance_secs.max(0).unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// A header's value, trimmed; None when absent or blank (some proxies
/// forward an empty header rather than none).
fn present(header: Option<&str>) -> Option<&str> {
    header.map(str::trim).filter(|h| !h.is_empty())
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Hex (either case) to bytes; None when not an even run of hex digits.
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digits = hex.as_bytes();
    if digits.is_empty() || !digits.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |d: u8| char::from(d).to_digit(16).and_then(|n| u8::try_from(n).ok());
    digits.chunks_exact(2).map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Twilio's published request-validation vector, from the test suite of
    // its Python helper library (twilio/twilio-python,
    // tests/unit/test_request_validator.py) and the helper libraries'
    // validation docs.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
    const EXPECTED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

    fn owned(params: &[(&str, &str)]) -> Vec<(String, String)> {
        params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn published_params() -> Vec<(String, String)> {
        // Deliberately not in sorted order: sorting is the validator's job.
        owned(&[
            ("To", "+18005551212"),
            ("CallSid", "CA1234567890ABCDE"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("Caller", "+14158675309"),
        ])
    }

    fn tokens(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn the_published_twilio_vector_is_reproduced_and_accepted() {
        assert_eq!(twilio_signature(TOKEN, URL, &published_params()), EXPECTED);
        assert_eq!(verify_twilio_form(&tokens(&[TOKEN]), URL, &published_params(), Some(EXPECTED)), Ok(()));
        // Surrounding whitespace (a proxy's folding) does not matter.
        let padded = format!(" {EXPECTED} ");
        assert_eq!(verify_twilio_form(&tokens(&[TOKEN]), URL, &published_params(), Some(&padded)), Ok(()));
    }

    #[test]
    fn a_repeated_name_contributes_every_value_in_order() {
        // From the same test suite: values of a repeated name are sorted.
        let params = owned(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")]);
        assert_eq!(twilio_signature(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
        // And each value counts: dropping the duplicate changes the result.
        let fewer = owned(&[("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "1234")]);
        assert_ne!(twilio_signature(TOKEN, URL, &fewer), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn the_signed_string_is_the_url_then_sorted_names_and_values() {
        let params = owned(&[("b", "2"), ("a", "1"), ("a", "0")]);
        assert_eq!(twilio_payload("https://x.test/p?q=1", &params), "https://x.test/p?q=1a0a1b2");
        assert_eq!(twilio_payload("https://x.test/", &[]), "https://x.test/");
    }

    #[test]
    fn forged_tampered_and_misaddressed_twilio_requests_are_refused() {
        let valid = tokens(&[TOKEN]);
        let params = published_params();
        // A well-formed signature that is not the right one.
        let forged = BASE64.encode([7u8; 20]);
        assert_eq!(verify_twilio_form(&valid, URL, &params, Some(&forged)), Err(SignatureError::Mismatch));
        // A tampered parameter.
        let mut tampered = params.clone();
        tampered[2].1 = "9999".into();
        assert_eq!(verify_twilio_form(&valid, URL, &tampered, Some(EXPECTED)), Err(SignatureError::Mismatch));
        // An added parameter.
        let mut added = params.clone();
        added.push(("Extra".into(), String::new()));
        assert_eq!(verify_twilio_form(&valid, URL, &added, Some(EXPECTED)), Err(SignatureError::Mismatch));
        // A different URL (path, query or scheme).
        for other in [
            "https://mycompany.com/other.php?foo=1&bar=2",
            "https://mycompany.com/myapp.php?foo=1&bar=3",
            "http://mycompany.com/myapp.php?foo=1&bar=2",
            "https://evil.example/myapp.php?foo=1&bar=2",
        ] {
            assert_eq!(verify_twilio_form(&valid, other, &params, Some(EXPECTED)), Err(SignatureError::Mismatch));
        }
        // The wrong token.
        assert_eq!(
            verify_twilio_form(&tokens(&["54321"]), URL, &params, Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn absent_malformed_and_unconfigured_twilio_signatures_are_told_apart() {
        let valid = tokens(&[TOKEN]);
        let params = published_params();
        assert_eq!(verify_twilio_form(&valid, URL, &params, None), Err(SignatureError::Missing));
        assert_eq!(verify_twilio_form(&valid, URL, &params, Some("  ")), Err(SignatureError::Missing));
        assert_eq!(verify_twilio_form(&valid, URL, &params, Some("not base64!")), Err(SignatureError::Malformed));
        // Valid base64 of the wrong length cannot match.
        assert_eq!(
            verify_twilio_form(&valid, URL, &params, Some("bm90IGEgc2lnbmF0dXJl")),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify_twilio_form(&[], URL, &params, Some(EXPECTED)), Err(SignatureError::NoSecretConfigured));
    }

    #[test]
    fn any_configured_token_is_accepted_while_rotating() {
        let params = published_params();
        let rotating = tokens(&["new-token", TOKEN]);
        assert_eq!(verify_twilio_form(&rotating, URL, &params, Some(EXPECTED)), Ok(()));
        let signed_with_new = twilio_signature("new-token", URL, &params);
        assert_eq!(verify_twilio_form(&rotating, URL, &params, Some(&signed_with_new)), Ok(()));
        // Once the old token is dropped, its signatures stop working.
        assert_eq!(
            verify_twilio_form(&tokens(&["new-token"]), URL, &params, Some(EXPECTED)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn urls_are_accepted_with_or_without_their_port() {
        // Vectors from the same test suite: each signature was made over
        // one form of the URL and is checked against another.
        let valid = tokens(&[TOKEN]);
        let params = published_params();
        // Twilio signed https://mycompany.com:443/..., we see no port.
        assert_eq!(verify_twilio_form(&valid, URL, &params, Some("kvajT1Ptam85bY51eRf/AJRuM3w=")), Ok(()));
        // Twilio signed http://mycompany.com:80/..., we see no port.
        let http = URL.replace("https", "http");
        assert_eq!(verify_twilio_form(&valid, &http, &params, Some("0ZXoZLH/DfblKGATFgpif+LLRf4=")), Ok(()));
        // We see a port, Twilio signed the URL without it.
        let with_port = URL.replace(".com", ".com:1234");
        assert_eq!(verify_twilio_form(&valid, &with_port, &params, Some(EXPECTED)), Ok(()));
        // We see a port, and Twilio signed the URL with that port.
        let http_port = with_port.replace("https", "http");
        assert_eq!(verify_twilio_form(&valid, &http_port, &params, Some("Zmvh+3yNM1Phv2jhDCwEM3q5ebU=")), Ok(()));
        // The port variants never stretch to another host or path.
        let other = "https://mycompany.com:443/other.php?foo=1&bar=2";
        assert_eq!(verify_twilio_form(&valid, other, &params, Some(EXPECTED)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn port_variants_are_spliced_into_the_authority_only() {
        assert_eq!(url_variants("https://a.test/p?x=1"), ["https://a.test/p?x=1", "https://a.test:443/p?x=1"]);
        assert_eq!(url_variants("http://a.test?x=1"), ["http://a.test?x=1", "http://a.test:80?x=1"]);
        assert_eq!(url_variants("HTTPS://a.test"), ["HTTPS://a.test", "HTTPS://a.test:443"]);
        assert_eq!(url_variants("https://a.test:8443/p"), ["https://a.test/p", "https://a.test:8443/p"]);
        // Userinfo and IPv6 literals hold colons that are not a port.
        assert_eq!(url_variants("https://u:pw@a.test/p"), ["https://u:pw@a.test/p", "https://u:pw@a.test:443/p"]);
        assert_eq!(url_variants("http://[::1]:8080/p"), ["http://[::1]/p", "http://[::1]:8080/p"]);
        assert_eq!(url_variants("http://[::1]/p"), ["http://[::1]/p", "http://[::1]:80/p"]);
        // A colon in the path or query is not the authority's.
        assert_eq!(
            url_variants("https://a.test/p:1?t=1:2"),
            ["https://a.test/p:1?t=1:2", "https://a.test:443/p:1?t=1:2"]
        );
        // Not an absolute URL: checked as it is.
        assert_eq!(url_variants("/relative"), ["/relative"]);
    }

    // The JSON-body vector from twilio-python's test suite.
    const BODY: &str = "{\"property\": \"value\", \"boolean\": true}";
    const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    const BODY_SIGNATURE: &str = "a9nBmqA0ju/hNViExpshrM61xv4=";

    fn body_url() -> String {
        format!("{URL}&bodySHA256={BODY_HASH}")
    }

    #[test]
    fn a_json_body_is_checked_against_the_signed_body_hash() {
        let valid = tokens(&[TOKEN]);
        assert_eq!(encode_hex(&Sha256::digest(BODY.as_bytes())), BODY_HASH);
        assert_eq!(twilio_signature(TOKEN, &body_url(), &[]), BODY_SIGNATURE);
        assert_eq!(verify_twilio_json(&valid, &body_url(), BODY.as_bytes(), Some(BODY_SIGNATURE)), Ok(()));
        // With a port variant, as for form requests.
        let ported = body_url().replace(".com", ".com:443");
        assert_eq!(verify_twilio_json(&valid, &ported, BODY.as_bytes(), Some(BODY_SIGNATURE)), Ok(()));
        // The hash may arrive in upper case or percent-encoded.
        let upper = format!("{URL}&bodySHA256={}", BODY_HASH.to_uppercase());
        let signed = twilio_signature(TOKEN, &upper, &[]);
        assert_eq!(verify_twilio_json(&valid, &upper, BODY.as_bytes(), Some(&signed)), Ok(()));
    }

    #[test]
    fn a_tampered_json_body_or_a_missing_hash_is_refused() {
        let valid = tokens(&[TOKEN]);
        let tampered = BODY.replace("true", "false");
        assert_eq!(
            verify_twilio_json(&valid, &body_url(), tampered.as_bytes(), Some(BODY_SIGNATURE)),
            Err(SignatureError::BodyHashMismatch)
        );
        // A URL signed without the hash: the body is unprotected.
        let signed = twilio_signature(TOKEN, URL, &[]);
        assert_eq!(
            verify_twilio_json(&valid, URL, BODY.as_bytes(), Some(&signed)),
            Err(SignatureError::MissingBodyHash)
        );
        // A hash changed to match a tampered body breaks the signature.
        let rehashed = format!("{URL}&bodySHA256={}", encode_hex(&Sha256::digest(tampered.as_bytes())));
        assert_eq!(
            verify_twilio_json(&valid, &rehashed, tampered.as_bytes(), Some(BODY_SIGNATURE)),
            Err(SignatureError::Mismatch)
        );
        // A hash that is not hex, signed as such, still does not pass.
        let junk = format!("{URL}&bodySHA256=zz");
        let signed = twilio_signature(TOKEN, &junk, &[]);
        assert_eq!(
            verify_twilio_json(&valid, &junk, BODY.as_bytes(), Some(&signed)),
            Err(SignatureError::BodyHashMismatch)
        );
        assert_eq!(verify_twilio_json(&valid, &body_url(), BODY.as_bytes(), None), Err(SignatureError::Missing));
        assert_eq!(
            verify_twilio_json(&[], &body_url(), BODY.as_bytes(), Some(BODY_SIGNATURE)),
            Err(SignatureError::NoSecretConfigured)
        );
    }

    #[test]
    fn the_body_hash_is_read_from_the_query_only() {
        assert_eq!(body_hash_param("https://a.test/p?x=1&bodySHA256=ab%63").as_deref(), Some("abc"));
        assert_eq!(body_hash_param("https://a.test/p?bodySHA256=1&bodySHA256=2").as_deref(), Some("1"));
        assert_eq!(body_hash_param("https://a.test/p#?bodySHA256=1"), None);
        assert_eq!(body_hash_param("https://a.test/bodySHA256=1"), None);
    }

    #[test]
    fn hmac_matches_rfc_vectors_for_short_and_long_keys() {
        // The key is padded or hashed to a block here rather than by the
        // hmac crate; RFC 4231 cases 2 (short key) and 6 (a key longer than
        // the block, which must be hashed) and RFC 2202 case 6 prove it
        // gives the same MAC.
        let mac = keyed::<Sha256>(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            encode_hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let long_key = [0xaau8; 131];
        let mac = keyed::<Sha256>(&long_key, &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(
            encode_hex(&mac.finalize().into_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let long_key = [0xaau8; 80];
        let mac = keyed::<Sha1>(&long_key, &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(encode_hex(&mac.finalize().into_bytes()), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
        // Exactly one block: neither padded nor hashed.
        let block_key = [0x0bu8; 64];
        let ours = keyed::<Sha256>(&block_key, &[b"m"]).finalize().into_bytes();
        let theirs = {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&block_key).unwrap();
            mac.update(b"m");
            mac.finalize().into_bytes()
        };
        assert_eq!(ours, theirs);
    }

    const SECRET: &str = "whsec-test";
    const NOW: i64 = 1_700_000_000;

    fn generic(
        secrets: &[&str],
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        verify_generic(&tokens(secrets), Some(timestamp), Some(signature), body, now, 300)
    }

    #[test]
    fn the_generic_signature_is_hmac_sha256_of_timestamp_and_body() {
        let signature = generic_signature(SECRET, NOW, b"{\"a\":1}");
        // Computed independently (Python's hmac module) over
        // b'1700000000.{"a":1}' with key b'whsec-test'.
        assert_eq!(signature, "v1=fed7a1a6c799a6367d73724d76bc70c16678908a32a879cd1ded6565ac05cece");
        assert_eq!(generic(&[SECRET], &NOW.to_string(), &signature, b"{\"a\":1}", NOW), Ok(()));
    }

    #[test]
    fn generic_webhooks_are_refused_outside_the_window() {
        let body = b"{}";
        let at = |t: i64| generic_signature(SECRET, t, body);
        // Inside the window, at both edges.
        assert_eq!(generic(&[SECRET], &(NOW - 300).to_string(), &at(NOW - 300), body, NOW), Ok(()));
        assert_eq!(generic(&[SECRET], &(NOW + 300).to_string(), &at(NOW + 300), body, NOW), Ok(()));
        // Too old (a replay) and too far ahead.
        assert_eq!(generic(&[SECRET], &(NOW - 301).to_string(), &at(NOW - 301), body, NOW), Err(SignatureError::Stale));
        assert_eq!(generic(&[SECRET], &(NOW + 301).to_string(), &at(NOW + 301), body, NOW), Err(SignatureError::Stale));
        // Extreme values neither overflow nor pass.
        assert_eq!(
            generic(&[SECRET], &i64::MIN.to_string(), &at(i64::MIN), body, i64::MAX),
            Err(SignatureError::Stale)
        );
        // A negative tolerance accepts only the exact second.
        let exact = verify_generic(&tokens(&[SECRET]), Some(&NOW.to_string()), Some(&at(NOW)), body, NOW + 1, -5);
        assert_eq!(exact, Err(SignatureError::Stale));
    }

    #[test]
    fn generic_webhooks_with_a_wrong_secret_body_or_timestamp_are_refused() {
        let body = b"{\"call_id\":\"c1\"}";
        let signed = generic_signature(SECRET, NOW, body);
        let ts = NOW.to_string();
        assert_eq!(generic(&["other"], &ts, &signed, body, NOW), Err(SignatureError::Mismatch));
        assert_eq!(generic(&[SECRET], &ts, &signed, b"{\"call_id\":\"c2\"}", NOW), Err(SignatureError::Mismatch));
        // The timestamp is signed: moving it forward breaks the signature
        // rather than refreshing a replay.
        assert_eq!(generic(&[SECRET], &(NOW + 1).to_string(), &signed, body, NOW), Err(SignatureError::Mismatch));
        // A forged signature that is stale is reported as a mismatch.
        let old = generic_signature("other", NOW - 1000, body);
        assert_eq!(generic(&[SECRET], &(NOW - 1000).to_string(), &old, body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn malformed_or_missing_generic_headers_are_refused() {
        let body = b"{}";
        let signed = generic_signature(SECRET, NOW, body);
        let ts = NOW.to_string();
        let hex = signed.trim_start_matches("v1=");
        for bad in [hex, "v1=", "v1=xyz", "v1=abc", "v2=abcd", "sha256=abcd", "garbage"] {
            assert_eq!(generic(&[SECRET], &ts, bad, body, NOW), Err(SignatureError::Malformed), "{bad}");
        }
        for bad in ["soon", "+1700000000", "1700000000.5", "-", "1e9"] {
            assert_eq!(generic(&[SECRET], bad, &signed, body, NOW), Err(SignatureError::Malformed), "{bad}");
        }
        let secrets = tokens(&[SECRET]);
        assert_eq!(verify_generic(&secrets, None, Some(&signed), body, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(verify_generic(&secrets, Some(&ts), None, body, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(verify_generic(&secrets, Some(""), Some(&signed), body, NOW, 300), Err(SignatureError::Missing));
        assert_eq!(
            verify_generic(&[], Some(&ts), Some(&signed), body, NOW, 300),
            Err(SignatureError::NoSecretConfigured)
        );
    }

    #[test]
    fn generic_secrets_rotate_on_either_side() {
        let body = b"{}";
        let ts = NOW.to_string();
        // We accept the old and the new secret...
        let old = generic_signature("old", NOW, body);
        let new = generic_signature("new", NOW, body);
        assert_eq!(generic(&["new", "old"], &ts, &old, body, NOW), Ok(()));
        assert_eq!(generic(&["new", "old"], &ts, &new, body, NOW), Ok(()));
        // ...and a sender may sign with both; unknown versions are skipped.
        let both = format!("{old}, {new}, v0=ignored");
        assert_eq!(generic(&["new"], &ts, &both, body, NOW), Ok(()));
        assert_eq!(generic(&["newest"], &ts, &both, body, NOW), Err(SignatureError::Mismatch));
    }

    #[test]
    fn errors_never_echo_what_they_check() {
        let secret = "s3cr3t-value";
        let signed = generic_signature(secret, NOW, b"x");
        let errors = [
            verify_generic(&tokens(&[secret]), Some("1"), Some(&signed), b"x", NOW, 300),
            verify_twilio_form(&tokens(&[secret]), URL, &[], Some(EXPECTED)),
        ];
        for error in errors {
            let message = error.err().map(|e| e.to_string()).unwrap_or_default();
            assert!(!message.is_empty());
            assert!(
                !message.contains(secret) && !message.contains(&signed) && !message.contains(EXPECTED),
                "{message}"
            );
        }
    }

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(encode_hex(&[0x00, 0x9f, 0xff]), "009fff");
        assert_eq!(decode_hex("009fFF"), Some(vec![0x00, 0x9f, 0xff]));
        for junk in ["", "0", "0g", "+1", "é0"] {
            assert_eq!(decode_hex(junk), None, "{junk}");
        }
    }
}
