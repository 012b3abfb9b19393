//! Phone calls: telephony providers reach the same assistant through
//! webhooks that carry the provider's own speech recognition (Twilio's
//! `<Gather>`, or a generic JSON webhook) and through bidirectional media
//! streams (Twilio Media Streams) that feed the shared voice loop.

pub mod call;
pub mod dtmf;
pub mod generic;
pub mod media_stream;
pub mod signature;
pub mod twilio;
pub mod twiml;
pub mod verify;

/// The session key of a provider's call: one session per call, whichever
/// route (webhook or media stream) and gateway it arrives on.
pub fn call_key(provider: &str, call_id: &str) -> String {
    format!("call:{provider}:{call_id}")
}
