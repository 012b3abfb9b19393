//! Production voices from any OpenAI-compatible speech endpoint
//! (`POST {base}/audio/speech`), through `async-openai`.
//!
//! Base URL, model and voice are configuration, so the same engine talks to
//! OpenAI or to a self-hosted compatible server. Audio is requested as WAV
//! so the sample rate travels with it (compatible servers differ).

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::audio::{CreateSpeechRequest, SpeechModel, SpeechResponseFormat, Voice};
use async_trait::async_trait;

use super::espeak::parse_wav;
use super::{SpeechAudio, TtsEngine, TtsError};

/// Longest text one request may carry (the OpenAI limit).
const MAX_CHARS: usize = 4096;

pub struct OpenAiEngine {
    client: Client<OpenAIConfig>,
    model: String,
    voice: String,
    /// A request that takes longer is abandoned (the reply falls silent
    /// rather than the stream stalling).
    timeout: Duration,
}

impl OpenAiEngine {
    /// `base_url` like `https://api.openai.com/v1` or `http://host:8000/v1`.
    pub fn new(base_url: &str, api_key: &str, model: &str, voice: &str) -> OpenAiEngine {
        let config = OpenAIConfig::new().with_api_base(base_url.trim_end_matches('/')).with_api_key(api_key);
        OpenAiEngine {
            client: Client::with_config(config),
            model: model.to_string(),
            voice: voice.to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

#[async_trait]
impl TtsEngine for OpenAiEngine {
    async fn synthesize(&self, text: &str) -> Result<SpeechAudio, TtsError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(TtsError::EmptyText);
        }
        let len = text.chars().count();
        if len > MAX_CHARS {
            return Err(TtsError::TextTooLong { len, max: MAX_CHARS });
        }
        let request = CreateSpeechRequest {
            input: text.to_string(),
            model: SpeechModel::Other(self.model.clone()),
            voice: Voice::Other(self.voice.clone()),
            instructions: None,
            response_format: Some(SpeechResponseFormat::Wav),
            speed: None,
            stream_format: None,
        };
        let response = tokio::time::timeout(self.timeout, self.client.audio().speech().create(request))
            .await
            .map_err(|_| TtsError::Timeout(self.timeout))?
            .map_err(|e| TtsError::EngineFailed { status: "request failed".into(), stderr: e.to_string() })?;
        parse_wav(&response.bytes)
    }

    fn name(&self) -> &str {
        "openai"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Json;
    use axum::routing::post;
    use serde_json::Value;
    use std::sync::{Arc, Mutex};

    /// A 16-bit mono WAV of `samples` at `rate`.
    fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
        let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&rate.to_le_bytes());
        out.extend_from_slice(&(rate * 2).to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&data);
        out
    }

    /// A stand-in for a compatible server (none is reachable from here):
    /// it records the request and answers half a second of tone as WAV.
    async fn server(seen: Arc<Mutex<Vec<Value>>>) -> String {
        let app = axum::Router::new().route(
            "/v1/audio/speech",
            post(move |Json(body): Json<Value>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(body);
                    let tone: Vec<i16> = (0..12_000).map(|i| ((i as f32 * 0.1).sin() * 8_000.0) as i16).collect();
                    ([("content-type", "audio/wav")], wav(&tone, 24_000))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url
    }

    #[tokio::test]
    async fn asks_for_the_configured_model_and_voice_and_reads_the_wav() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let url = server(seen.clone()).await;
        let engine = OpenAiEngine::new(&url, "test-key", "my-tts-model", "my-voice");
        let audio = engine.synthesize("Your flight is booked.").await.unwrap();
        assert_eq!(audio.sample_rate, 24_000);
        assert_eq!(audio.samples.len(), 12_000);
        let request = seen.lock().unwrap()[0].clone();
        assert_eq!(request["model"], "my-tts-model");
        assert_eq!(request["voice"], "my-voice");
        assert_eq!(request["input"], "Your flight is booked.");
        assert_eq!(request["response_format"], "wav");
    }

    #[tokio::test]
    async fn a_down_endpoint_is_an_error_not_a_hang() {
        let engine = OpenAiEngine::new("http://127.0.0.1:9/v1", "k", "m", "v");
        assert!(engine.synthesize("hello").await.is_err());
        assert!(matches!(engine.synthesize("  ").await, Err(TtsError::EmptyText)));
    }
}
