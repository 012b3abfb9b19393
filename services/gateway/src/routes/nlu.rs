//! `POST /v1/nlu/parse`: what the parser makes of an utterance, with no
//! session involved (for designers and QA).

use axum::Json;
use axum::extract::State;
use voxbook_proto::api::{ParseRequest, ParseResponse};

use crate::app::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;

pub async fn parse(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ParseRequest>,
) -> Result<Json<ParseResponse>, ApiError> {
    Ok(Json(state.conversations.parse(&request)?))
}
