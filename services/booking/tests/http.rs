//! The HTTP edge, driven through `router()` without a socket: statuses,
//! error codes and bodies as clients see them.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use common::{Backend, Harness};
use serde_json::{Value, json};
use tower::ServiceExt;
use voxbook_booking::router;

struct Api {
    app: Router,
    h: Harness,
}

impl Api {
    async fn start() -> Api {
        let h = Harness::start(Backend::Sqlite).await.unwrap();
        Api { app: router(h.service.clone()), h }
    }

    async fn send(&self, method: Method, uri: &str, body: Option<Body>) -> (StatusCode, Value) {
        self.send_with(method, uri, body, &[]).await
    }

    async fn send_with(
        &self,
        method: Method,
        uri: &str,
        body: Option<Body>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req.body(body.unwrap_or_else(Body::empty)).unwrap();
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body: {}", String::from_utf8_lossy(&bytes)))
        };
        (status, value)
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, uri, Some(Body::from(body.to_string()))).await
    }

    async fn post_as_of(&self, uri: &str, as_of: &str, body: Value) -> (StatusCode, Value) {
        let headers = [(voxbook_booking::http::AS_OF_HEADER, as_of)];
        self.send_with(Method::POST, uri, Some(Body::from(body.to_string())), &headers).await
    }

    async fn post_raw(&self, uri: &str, body: &str) -> (StatusCode, Value) {
        self.send(Method::POST, uri, Some(Body::from(body.to_string()))).await
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::GET, uri, None).await
    }
}

fn code(v: &Value) -> &str {
    v["code"].as_str().unwrap_or("<no code>")
}

#[tokio::test]
async fn health() {
    let api = Api::start().await;
    let (status, body) = api.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let api = Api::start().await;
    for uri in [
        "/v1/flights/search",
        "/v1/hotels/search",
        "/v1/holds",
        "/v1/bookings",
        "/v1/bookings/ACDEFH/modify",
        "/v1/bookings/ACDEFH/cancel",
    ] {
        for body in ["", "{", "not json", "{\"origin\": }", "\u{0}"] {
            let (status, v) = api.post_raw(uri, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{uri} {body:?}");
            assert_eq!(code(&v), "invalid_json", "{uri} {body:?}");
            assert!(v["message"].is_string());
        }
        // Valid JSON of the wrong shape.
        let (status, v) = api.post_raw(uri, "[1, 2, 3]").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        assert_eq!(code(&v), "invalid_request");
    }
    let (status, v) = api
        .post(
            "/v1/flights/search",
            json!({"origin": "LHR", "destination": "CDG", "depart_date": "2026-06-12", "passengers": -1}),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));
    let (status, v) = api
        .post(
            "/v1/flights/search",
            json!({"origin": "LHR", "destination": "CDG", "depart_date": "2026-06-12", "passengers": 1, "cabin": "steerage"}),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));

    let huge = format!("{{\"offer_id\": \"{}\", \"idempotency_key\": \"k\"}}", "x".repeat(100_000));
    let (status, v) = api.post_raw("/v1/holds", &huge).await;
    assert_eq!((status, code(&v)), (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"));
}

#[tokio::test]
async fn unknown_things_are_404() {
    let api = Api::start().await;
    let (status, v) = api.get("/v1/bookings/ACDEFH").await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, v) = api.get("/v1/bookings/not-a-ref").await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, v) = api.post("/v1/bookings/ACDEFH/cancel", json!({"idempotency_key": "x"})).await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, v) = api.get("/v2/nothing").await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (status, v) = api.get("/v1/holds").await;
    assert_eq!((status, code(&v)), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
}

#[tokio::test]
async fn validation_errors_have_stable_codes() {
    let api = Api::start().await;
    let search = |origin: &str, date: &str| json!({"origin": origin, "destination": "CDG", "depart_date": date, "passengers": 1});
    let (status, v) = api.post("/v1/flights/search", search("QQQ", "2026-06-12")).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_airport"));
    let (status, v) = api.post("/v1/flights/search", search("LHR", "2020-01-01")).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));
    let (status, v) = api.post("/v1/holds", json!({"offer_id": "F9.nope", "idempotency_key": "k"})).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_offer"));
    let (status, v) = api.post("/v1/bookings", json!({"idempotency_key": "k"})).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"));
}

#[tokio::test]
async fn a_whole_trip_over_http() {
    let api = Api::start().await;
    let (status, offers) = api
        .post(
            "/v1/flights/search",
            json!({"origin": "LHR", "destination": "JFK", "depart_date": "2026-06-12",
                   "return_date": "2026-06-19", "passengers": 2, "cabin": "first"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let offer = &offers["offers"][0];
    let offer_id = offer["offer_id"].as_str().unwrap().to_string();
    assert_eq!(offer["cabin"], "first");
    assert_eq!(offer["total"]["currency"], "EUR");
    assert!(offer["inbound"]["flight_no"].as_str().unwrap().starts_with("VX"));

    let (status, hotels) =
        api.post("/v1/hotels/search", json!({"city": "JFK", "check_in": "2026-06-12", "nights": 7, "guests": 2})).await;
    assert_eq!(status, StatusCode::OK);
    assert!(hotels["offers"][0]["hotel_name"].as_str().unwrap().contains("New York"));

    // Hold, then confirm.
    let (status, held) = api.post("/v1/holds", json!({"offer_id": offer_id, "idempotency_key": "h-1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held["status"], "held");
    let r = held["booking_ref"].as_str().unwrap().to_string();
    let (status, again) = api.post("/v1/holds", json!({"offer_id": offer_id, "idempotency_key": "h-1"})).await;
    assert_eq!((status, &again), (StatusCode::OK, &held));
    let (status, v) =
        api.post("/v1/holds", json!({"offer_id": offer_id.replace(".F.2", ".F.1"), "idempotency_key": "h-1"})).await;
    assert_eq!((status, code(&v)), (StatusCode::CONFLICT, "idempotency_conflict"));

    let (status, booked) = api.post("/v1/bookings", json!({"hold_ref": r, "idempotency_key": "b-1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(booked["status"], "confirmed");
    assert_eq!(booked["version"], 2);
    assert!(booked.get("hold_expires_at").is_none());

    let (status, got) = api.get(&format!("/v1/bookings/{}", r.to_lowercase())).await;
    assert_eq!((status, &got), (StatusCode::OK, &booked));
    assert_eq!(got["item"]["kind"], "flight");

    let (status, moved) = api
        .post(
            &format!("/v1/bookings/{r}/modify"),
            json!({"idempotency_key": "m-1", "depart_date": "2026-06-13", "passengers": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(moved["version"], 3);
    assert_eq!(moved["item"]["outbound"]["date"], "2026-06-13");
    assert_eq!(moved["item"]["passengers"], 3);

    // First class has 8 seats; 3 are ours, take 5 more, then one more fails.
    let (status, v) = api
        .post(
            "/v1/bookings",
            json!({"offer_id": moved["item"]["offer_id"].as_str().unwrap().replace(".F.3", ".F.5"),
                   "idempotency_key": "b-2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = api
        .post(
            "/v1/bookings",
            json!({"offer_id": moved["item"]["offer_id"].as_str().unwrap().replace(".F.3", ".F.1"),
                   "idempotency_key": "b-3"}),
        )
        .await;
    assert_eq!((status, code(&v)), (StatusCode::CONFLICT, "sold_out"));

    let (status, cancelled) = api.post(&format!("/v1/bookings/{r}/cancel"), json!({"idempotency_key": "c-1"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");
    let (status, again) = api.post(&format!("/v1/bookings/{r}/cancel"), json!({"idempotency_key": "c-1"})).await;
    assert_eq!((status, &again), (StatusCode::OK, &cancelled));
    let (status, v) = api.post(&format!("/v1/bookings/{r}/cancel"), json!({"idempotency_key": "c-2"})).await;
    assert_eq!((status, code(&v)), (StatusCode::CONFLICT, "invalid_state"));
    let (status, v) =
        api.post(&format!("/v1/bookings/{r}/modify"), json!({"idempotency_key": "m-2", "passengers": 1})).await;
    assert_eq!((status, code(&v)), (StatusCode::CONFLICT, "invalid_state"));
}

#[tokio::test]
async fn expired_holds_are_gone() {
    let api = Api::start().await;
    let (_, hotels) =
        api.post("/v1/hotels/search", json!({"city": "BCN", "check_in": "2026-06-05", "nights": 2, "guests": 4})).await;
    let offer_id = hotels["offers"][0]["offer_id"].as_str().unwrap().to_string();
    let (status, held) = api.post("/v1/holds", json!({"offer_id": offer_id, "idempotency_key": "eh"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held["item"]["kind"], "hotel");
    assert_eq!(held["item"]["rooms"], 2);
    let r = held["booking_ref"].as_str().unwrap();
    api.h.clock.advance(Duration::minutes(15));
    let (status, v) = api.post("/v1/bookings", json!({"hold_ref": r, "idempotency_key": "eb"})).await;
    assert_eq!((status, code(&v)), (StatusCode::GONE, "hold_expired"));
    let (status, got) = api.get(&format!("/v1/bookings/{r}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["status"], "expired");
}

/// The as-of header moves the sale window of searches, holds, bookings and
/// changes; a malformed one is refused with its own code on every route
/// that reads it, never silently ignored.
#[tokio::test]
async fn the_as_of_header_sets_the_sale_window() {
    let api = Api::start().await;
    let search = json!({"origin": "LHR", "destination": "CDG", "depart_date": "2030-06-12", "passengers": 1});
    let (status, v) = api.post("/v1/flights/search", search.clone()).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"), "{v}");
    let (status, offers) = api.post_as_of("/v1/flights/search", "2030-06-03", search.clone()).await;
    assert_eq!(status, StatusCode::OK, "{offers}");
    let offer_id = offers["offers"][0]["offer_id"].as_str().expect("an offer").to_string();
    let (status, booked) = api
        .post_as_of("/v1/bookings", " 2030-06-03 ", json!({"offer_id": offer_id, "idempotency_key": "asof-b"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{booked}");
    let r = booked["booking_ref"].as_str().expect("ref");
    let change = json!({"idempotency_key": "asof-m", "depart_date": "2030-06-14"});
    let (status, v) = api.post(&format!("/v1/bookings/{r}/modify"), change.clone()).await;
    assert_eq!((status, code(&v)), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"), "{v}");
    let (status, moved) = api.post_as_of(&format!("/v1/bookings/{r}/modify"), "2030-06-03", change).await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(moved["item"]["outbound"]["date"], "2030-06-14");

    for uri in ["/v1/flights/search", "/v1/hotels/search", "/v1/holds", "/v1/bookings", "/v1/bookings/ACDEFH/modify"] {
        for bad in ["03/06/2030", "2030-02-30", "tomorrow", ""] {
            let (status, v) = api.post_as_of(uri, bad, search.clone()).await;
            assert_eq!((status, code(&v)), (StatusCode::BAD_REQUEST, "invalid_as_of"), "{uri} {bad:?}: {v}");
            assert!(v["message"].as_str().is_some_and(|m| m.contains("x-voxbook-as-of")), "{v}");
        }
    }
}
