//! Conversations as a service: create a session, run a turn, look at or
//! delete a session. This is the dialogue crate's front door; the gateway
//! maps HTTP and WebSocket requests onto it.
//!
//! A turn is load → engine → conditional save. When the save loses a race
//! (another turn on the same session saved first) the turn is redone on
//! the fresh state, so no update is lost; tool calls repeat safely because
//! their idempotency keys derive from the session and flow, not the attempt.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use chrono::{DateTime, FixedOffset, Utc};
use voxbook_proto::api::{
    BookingSummary, CreateSession, HistoryEntry, ParseRequest, ParseResponse, SessionCreated, SessionView, TurnResponse,
};

use crate::assistant::Assistant;
use crate::engine::Engine;
use crate::heard::Heard;
use crate::nlu;
use crate::state::{SessionState, Stage};
use crate::store::{Saved, SessionStore, StoreError};

/// Longest utterance accepted, in characters: far above anything spoken
/// in one turn, low enough to bound parsing work.
pub const MAX_TEXT_CHARS: usize = 2000;
/// How often a turn is redone after losing a write race before giving up.
const MAX_ATTEMPTS: u32 = 16;

/// The current assistant config; swapped whole on reload.
pub type AssistantHandle = Arc<ArcSwap<Assistant>>;

#[derive(Debug, thiserror::Error)]
pub enum ConversationError {
    #[error("no session with that id (it may have expired)")]
    NotFound,
    #[error("the text is empty")]
    EmptyText,
    #[error("the text is longer than {MAX_TEXT_CHARS} characters")]
    TextTooLong,
    #[error("'now' is not an RFC 3339 timestamp: {0}")]
    InvalidClock(String),
    #[error("too many concurrent turns on this session; try again")]
    Contended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Conversations {
    assistant: AssistantHandle,
    engine: Engine,
    store: Arc<dyn SessionStore>,
    ttl: Duration,
    /// Turns on one session queue up inside this process, so they do not
    /// burn retries racing each other; the store's versioned writes still
    /// settle races between processes.
    locks: SessionLocks,
}

/// One async mutex per session with turns in flight; entries go away when
/// the last turn holding them ends, so the map stays as small as the set
/// of busy sessions.
#[derive(Default)]
struct SessionLocks {
    map: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SessionLocks {
    fn entry(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(id.to_string()).or_default().clone()
    }

    fn release(&self, id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        // Two references left: the map's and ours. Nobody else waits.
        if Arc::strong_count(&lock) <= 2 {
            map.remove(id);
        }
    }
}

fn wall_clock() -> DateTime<FixedOffset> {
    Utc::now().fixed_offset()
}

fn parse_clock(now: Option<&str>) -> Result<Option<DateTime<FixedOffset>>, ConversationError> {
    now.map(|n| {
        DateTime::parse_from_rfc3339(n.trim()).map_err(|e| ConversationError::InvalidClock(format!("{n}: {e}")))
    })
    .transpose()
}

impl Conversations {
    pub fn new(assistant: AssistantHandle, engine: Engine, store: Arc<dyn SessionStore>, ttl: Duration) -> Self {
        Conversations { assistant, engine, store, ttl, locks: SessionLocks::default() }
    }

    pub fn assistant(&self) -> Arc<Assistant> {
        self.assistant.load_full()
    }

    pub fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    pub async fn create(&self, request: CreateSession) -> Result<SessionCreated, ConversationError> {
        loop {
            let id = uuid::Uuid::new_v4().to_string();
            if let Some(created) = self.create_as(id, &request).await? {
                return Ok(created);
            }
        }
    }

    /// The session for an outside conversation key (a phone call's id),
    /// created on first use. The session id is derived from the key, so
    /// every gateway finds the same session without a lookup table; the
    /// flag says whether this call created it.
    pub async fn open_keyed(
        &self,
        key: &str,
        request: &CreateSession,
    ) -> Result<(SessionCreated, bool), ConversationError> {
        let id = keyed_session_id(key);
        if let Some(created) = self.create_as(id.clone(), request).await? {
            return Ok((created, true));
        }
        let state = self.store.load(&id).await?.ok_or(ConversationError::NotFound)?;
        let ttl = self.store.ttl(&id).await?.unwrap_or(self.ttl);
        let existing = SessionCreated {
            session_id: id,
            greeting: state.last_reply,
            awaiting: state.flow.as_ref().and_then(|f| f.awaiting.clone()),
            expires_in_seconds: ttl.as_secs(),
        };
        Ok((existing, false))
    }

    /// Creates the session `id`; None when it already exists.
    async fn create_as(
        &self,
        id: String,
        request: &CreateSession,
    ) -> Result<Option<SessionCreated>, ConversationError> {
        let fixed_now = parse_clock(request.now.as_deref())?;
        let greeting = self.engine.greeting(&self.assistant());
        let mut state = SessionState::new(id.clone(), wall_clock(), fixed_now);
        state.metadata = request.metadata.clone();
        state.last_reply = greeting.clone();
        if !self.store.create(&state, self.ttl).await? {
            return Ok(None);
        }
        tracing::info!(session_id = %id, "session created");
        Ok(Some(SessionCreated { session_id: id, greeting, awaiting: None, expires_in_seconds: self.ttl.as_secs() }))
    }

    pub async fn turn(&self, id: &str, text: &str) -> Result<TurnResponse, ConversationError> {
        self.deliver(id, text, None).await
    }

    /// A turn that may be delivered more than once (a telephony provider
    /// retrying a webhook, a client resending after a dropped socket):
    /// every delivery under the same `key` gets the first delivery's
    /// answer, and only the first runs the dialogue and its tool calls.
    /// The answer is kept in the session itself, so this holds across
    /// gateways and restarts.
    pub async fn deliver(&self, id: &str, text: &str, key: Option<&str>) -> Result<TurnResponse, ConversationError> {
        self.deliver_heard(id, &Heard::typed(text), key).await
    }

    /// A spoken turn: the transcript with the recogniser's per-word
    /// confidence, so doubtful values are read back instead of trusted.
    pub async fn turn_heard(&self, id: &str, heard: &Heard) -> Result<TurnResponse, ConversationError> {
        self.deliver_heard(id, heard, None).await
    }

    /// [`Conversations::deliver`] for a turn with recogniser evidence.
    pub async fn deliver_heard(
        &self,
        id: &str,
        heard: &Heard,
        key: Option<&str>,
    ) -> Result<TurnResponse, ConversationError> {
        let text = heard.text.as_str();
        if text.trim().is_empty() {
            return Err(ConversationError::EmptyText);
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ConversationError::TextTooLong);
        }
        let lock = self.locks.entry(id);
        let result = {
            let _turn = lock.lock().await;
            self.turn_locked(id, heard, key).await
        };
        self.locks.release(id, lock);
        result
    }

    async fn turn_locked(&self, id: &str, heard: &Heard, key: Option<&str>) -> Result<TurnResponse, ConversationError> {
        let assistant = self.assistant();
        for attempt in 1..=MAX_ATTEMPTS {
            let Some(mut state) = self.store.load(id).await? else {
                return Err(ConversationError::NotFound);
            };
            if let Some(answer) = key.and_then(|k| state.delivered(k)) {
                tracing::info!(session_id = id, turn = answer.turn, "redelivered turn answered from the session");
                return Ok(answer.clone());
            }
            let response = self.engine.turn(&assistant, &mut state, heard, wall_clock()).await;
            if let Some(key) = key {
                state.remember_delivery(key, &response);
            }
            match self.store.save(&mut state, self.ttl).await? {
                Saved::Written => return Ok(response),
                Saved::Missing => return Err(ConversationError::NotFound),
                Saved::Conflict => {
                    tracing::debug!(session_id = id, attempt, "turn lost a write race; redoing it");
                    // Random backoff: racers from other processes that
                    // started together must not retry in lockstep.
                    let ceiling = 2 + 4 * u64::from(attempt);
                    let pause = rand::Rng::random_range(&mut rand::rng(), 1..=ceiling);
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        Err(ConversationError::Contended)
    }

    /// Records what the user heard of turn `turn`'s spoken reply (they
    /// interrupted it), so the context holds what was really said to them.
    /// False when that turn is no longer in the history.
    pub async fn record_heard(&self, id: &str, turn: u64, heard: &str) -> Result<bool, ConversationError> {
        let lock = self.locks.entry(id);
        let result = {
            let _turn = lock.lock().await;
            self.record_heard_locked(id, turn, heard).await
        };
        self.locks.release(id, lock);
        result
    }

    async fn record_heard_locked(&self, id: &str, turn: u64, heard: &str) -> Result<bool, ConversationError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut state) = self.store.load(id).await? else {
                return Err(ConversationError::NotFound);
            };
            let Some(entry) = state.history.iter_mut().find(|h| h.turn == turn) else {
                return Ok(false);
            };
            entry.heard = Some(heard.to_string());
            match self.store.save(&mut state, self.ttl).await? {
                Saved::Written => return Ok(true),
                Saved::Missing => return Err(ConversationError::NotFound),
                Saved::Conflict => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        Err(ConversationError::Contended)
    }

    pub async fn view(&self, id: &str) -> Result<SessionView, ConversationError> {
        let state = self.store.load(id).await?.ok_or(ConversationError::NotFound)?;
        let ttl = self.store.ttl(id).await?;
        Ok(view_of(&state, ttl.map(|d| d.as_secs())))
    }

    /// What the assistant waits for (see `TurnResponse::awaiting`).
    pub async fn awaiting(&self, id: &str) -> Result<Option<String>, ConversationError> {
        let state = self.store.load(id).await?.ok_or(ConversationError::NotFound)?;
        Ok(state.awaiting().map(str::to_string))
    }

    /// What the caller is likely to say next, as text to prime a speech
    /// recogniser with (see [`crate::asr_hint`]).
    pub async fn asr_hint(&self, id: &str) -> Result<String, ConversationError> {
        let state = self.store.load(id).await?.ok_or(ConversationError::NotFound)?;
        Ok(crate::asr_hint::asr_hint(&self.assistant(), &state))
    }

    /// The last thing the assistant said (the greeting before any turn).
    pub async fn last_reply(&self, id: &str) -> Result<String, ConversationError> {
        let state = self.store.load(id).await?.ok_or(ConversationError::NotFound)?;
        Ok(state.last_reply)
    }

    pub async fn delete(&self, id: &str) -> Result<bool, ConversationError> {
        Ok(self.store.delete(id).await?)
    }

    pub fn parse(&self, request: &ParseRequest) -> Result<ParseResponse, ConversationError> {
        if request.text.chars().count() > MAX_TEXT_CHARS {
            return Err(ConversationError::TextTooLong);
        }
        let now = parse_clock(request.now.as_deref())?.unwrap_or_else(wall_clock);
        Ok(nlu::parse(&self.assistant(), &request.text, now.date_naive()))
    }
}

/// The session id for an outside conversation key: a name-based UUID, so
/// it is a valid session id everywhere and the same on every gateway.
pub fn keyed_session_id(key: &str) -> String {
    uuid::Uuid::new_v5(&SESSION_KEY_NAMESPACE, key.as_bytes()).hyphenated().to_string()
}

/// The namespace of keyed session ids (random, fixed forever: changing it
/// would orphan every live call).
const SESSION_KEY_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f1c_2b0e_93d4_4c6a_9a57_2e8b_4d10_c3f7);

fn view_of(state: &SessionState, expires_in_seconds: Option<u64>) -> SessionView {
    let flow = state.flow.as_ref();
    SessionView {
        session_id: state.id.clone(),
        created_at: state.created_at.to_rfc3339(),
        now: state.now(wall_clock()).to_rfc3339(),
        turns: state.turns,
        flow: flow.map(|f| f.name.clone()),
        slots: flow.map(|f| f.slots.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()).unwrap_or_default(),
        awaiting: state.awaiting().map(str::to_string),
        options: flow
            .filter(|f| f.stage == Stage::ChoosingOption)
            .map(|f| f.options.iter().filter_map(|o| serde_json::to_value(o).ok()).collect())
            .unwrap_or_default(),
        suspended: state.suspended.iter().map(|f| f.name.clone()).collect(),
        bookings: state
            .bookings
            .iter()
            .map(|b| BookingSummary {
                booking_ref: b.booking_ref.clone(),
                kind: b.kind.clone(),
                status: b.status.clone(),
                summary: b.summary.clone(),
            })
            .collect(),
        history: state
            .history
            .iter()
            .map(|h| HistoryEntry {
                turn: h.turn,
                user: h.user.clone(),
                reply: h.reply.clone(),
                heard: h.heard.clone(),
                intent: h.intent.clone(),
                at: h.at.clone(),
            })
            .collect(),
        ended: state.ended,
        expires_in_seconds,
    }
}
