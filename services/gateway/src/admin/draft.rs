//! Admin routes for the designer page (`/designer`): parse an utterance
//! with a draft config that is not stored anywhere, and read the YAML this
//! gateway runs even before any version was uploaded.
//!
//! `POST /v1/nlu/parse` answers with the running config, so a designer
//! could only see what an edit does after publishing it to every gateway.
//! `POST /v1/admin/assistant/parse` compiles the draft exactly as an
//! upload would (same validator, same gazetteer, same 422 with line and
//! column) and parses with it, storing and swapping nothing. It sits
//! behind the admin tokens, like validation, because a draft is an admin's
//! work in progress and compiling one is CPU work a client should not be
//! able to ask for.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use voxbook_dialogue::config::DEFAULT_ASSISTANT_YAML;
use voxbook_dialogue::conversation::MAX_TEXT_CHARS;
use voxbook_proto::api::ParseResponse;

use super::{Admin, AdminError, UPLOAD_NAME, store};
use crate::error::ApiError;
use crate::extract::ApiJson;

/// Header naming where `GET /v1/admin/assistant/running` found the YAML.
pub const SOURCE_HEADER: &str = "x-voxbook-config-source";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DraftParseRequest {
    /// The draft config, as it would be uploaded.
    yaml: String,
    text: String,
    /// Clock for relative dates (RFC 3339); the server's when absent.
    #[serde(default)]
    now: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct DraftParse {
    /// Of the draft parsed with, so a page can tell which edit an answer
    /// belongs to.
    sha256: String,
    #[serde(flatten)]
    parse: ParseResponse,
}

fn clock(now: Option<&str>) -> Result<DateTime<FixedOffset>, ApiError> {
    match now.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(Utc::now().fixed_offset()),
        Some(n) => DateTime::parse_from_rfc3339(n)
            .map_err(|e| ApiError::bad_request("invalid_now", format!("now must be RFC 3339 ({n}: {e})"))),
    }
}

/// `POST /v1/admin/assistant/parse` `{yaml, text, now?}`: what the draft
/// makes of `text` (the `/v1/nlu/parse` shape plus the draft's sha256), or
/// 422 `invalid_config` with every problem of the draft.
pub(super) async fn parse(
    State(admin): State<Admin>,
    ApiJson(request): ApiJson<DraftParseRequest>,
) -> Result<Json<DraftParse>, AdminError> {
    // Checked before compiling, so a bad request costs no compile.
    if request.text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(
            "text_too_long",
            format!("the text is longer than {MAX_TEXT_CHARS} characters"),
        )
        .into());
    }
    let now = clock(request.now.as_deref())?;
    let sha256 = store::sha256_hex(request.yaml.as_bytes());
    let assistant = admin.compile_off_runtime(request.yaml, UPLOAD_NAME.into()).await?;
    let parse = voxbook_dialogue::nlu::parse(&assistant, &request.text, now.date_naive());
    Ok(Json(DraftParse { sha256, parse }))
}

/// `GET /v1/admin/assistant/running`: the YAML this gateway runs, with
/// [`SOURCE_HEADER`] `store`, `file` or `default`. The versions routes only
/// know uploaded configs; before the first upload this is the only way to
/// see the file (or the shipped default) a designer starts from. For a
/// file, it is the file as it is now, which is what the designer would
/// edit even when the watcher refused its latest change.
pub(super) async fn running(State(admin): State<Admin>) -> Result<Response, AdminError> {
    let (version, source) = {
        let running = admin.0.running.lock().await;
        (running.version, admin.source(&running))
    };
    let yaml = match (version, &admin.0.file) {
        (Some(n), _) => admin.0.store.get(n).await?.ok_or(AdminError::NoSuchVersion(n))?.yaml,
        (None, Some(path)) => tokio::fs::read_to_string(path)
            .await
            .map_err(|e| AdminError::Internal(format!("cannot read the assistant file {}: {e}", path.display())))?,
        (None, None) => DEFAULT_ASSISTANT_YAML.to_string(),
    };
    let etag = format!("\"{}\"", store::sha256_hex(yaml.as_bytes()));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/yaml; charset=utf-8".to_string()),
            (header::ETAG, etag),
            (header::HeaderName::from_static(SOURCE_HEADER), source.to_string()),
        ],
        yaml,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::Request;
    use serde_json::{Value, json};
    use tower::ServiceExt;
    use voxbook_dialogue::config::DEFAULT_ASSISTANT_NAME;
    use voxbook_dialogue::extract::places::Gazetteer;
    use voxbook_proto::airports::Airports;

    use super::*;
    use crate::admin::{VersionRecord, VersionStore, compile};
    use crate::metrics::Metrics;

    const TOKEN: &str = "t";

    fn admin() -> Admin {
        let gazetteer = Arc::new(Gazetteer::new(&Airports::embedded()));
        let assistant = compile(DEFAULT_ASSISTANT_YAML, DEFAULT_ASSISTANT_NAME, gazetteer.clone())
            .expect("the shipped config compiles");
        Admin::new(
            vec![TOKEN.into()],
            VersionStore::Memory(Default::default()),
            crate::reload::handle(assistant),
            gazetteer,
            Metrics::new(),
            None,
        )
    }

    async fn call(admin: &Admin, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = crate::admin::router::<()>(admin).oneshot(request).await.expect("the router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        (status, headers, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn draft_parse(admin: &Admin, body: Value) -> (StatusCode, Value) {
        let request = Request::post("/v1/admin/assistant/parse")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("a request");
        let (status, _, body) = call(admin, request).await;
        (status, serde_json::from_str(&body).expect("a JSON answer"))
    }

    #[tokio::test]
    async fn a_draft_parses_with_its_own_config_and_changes_nothing() {
        let admin = admin();
        let text = "i want to go by zeppelin";
        let (status, shipped) = draft_parse(&admin, json!({"yaml": DEFAULT_ASSISTANT_YAML, "text": text})).await;
        assert_eq!(status, StatusCode::OK, "{shipped}");
        assert_ne!(shipped["intent"]["name"], "book_flight");

        let pattern = r"'\b(flight|flights|fly|flying|plane|airfare|airline)\b'";
        assert!(DEFAULT_ASSISTANT_YAML.contains(pattern), "the shipped flight pattern moved");
        let draft = DEFAULT_ASSISTANT_YAML.replacen(
            pattern,
            r"'\b(flight|flights|fly|flying|plane|airfare|airline|zeppelin)\b'",
            1,
        );
        let (status, parsed) = draft_parse(&admin, json!({"yaml": draft, "text": text})).await;
        assert_eq!(status, StatusCode::OK, "{parsed}");
        assert_eq!(parsed["intent"]["name"], "book_flight");
        assert_eq!(parsed["sha256"], store::sha256_hex(draft.as_bytes()));
        assert!(admin.0.store.active().await.expect("the memory store answers").is_none(), "nothing stored");

        let flight = "i need a flight from london to paris";
        let (_, parsed) =
            draft_parse(&admin, json!({"yaml": draft, "text": flight, "now": "2030-06-03T09:00:00Z"})).await;
        assert!(!parsed["slots"]["origin"].is_null(), "{parsed}");
        assert!(!parsed["slots"]["destination"].is_null(), "{parsed}");
    }

    #[tokio::test]
    async fn a_broken_draft_answers_its_problems_with_lines() {
        let admin = admin();
        let yaml = DEFAULT_ASSISTANT_YAML.replacen("    type: city\n", "    type: zeppelin_port\n", 1);
        let line = yaml.lines().position(|l| l.contains("zeppelin_port")).expect("the broken line") + 1;
        let (status, body) = draft_parse(&admin, json!({"yaml": yaml, "text": "hello"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "invalid_config");
        let errors = body["errors"].as_array().expect("errors");
        assert!(errors.iter().any(|e| e["line"] == line), "{body}");

        let (status, body) = draft_parse(&admin, json!({"yaml": "", "text": "x", "now": "yesterday"})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["code"], "invalid_now");
        let long = "a".repeat(MAX_TEXT_CHARS + 1);
        let (status, body) = draft_parse(&admin, json!({"yaml": "", "text": long})).await;
        assert_eq!(body["code"], "text_too_long", "{status} {body}");
    }

    #[tokio::test]
    async fn the_running_yaml_is_the_default_then_the_stored_version() {
        let admin = admin();
        let get = || {
            Request::get("/v1/admin/assistant/running")
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .expect("a request")
        };
        let (status, headers, body) = call(&admin, get()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[SOURCE_HEADER], "default");
        assert_eq!(body, DEFAULT_ASSISTANT_YAML);

        let yaml = format!("# edited\n{DEFAULT_ASSISTANT_YAML}");
        let assistant = compile(&yaml, "t", admin.0.gazetteer.clone()).expect("compiles");
        admin.install(VersionRecord::new(yaml.clone(), String::new()), assistant).await.expect("installed");
        let (status, headers, body) = call(&admin, get()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[SOURCE_HEADER], "store");
        assert_eq!(body, yaml);

        let anonymous = Request::get("/v1/admin/assistant/running").body(Body::empty()).expect("a request");
        assert_eq!(call(&admin, anonymous).await.0, StatusCode::UNAUTHORIZED);
    }
}
