//! Recordings of what callers said, for QA: with `recordings_dir` set,
//! every spoken turn's utterance (16 kHz, as the recogniser heard it) is
//! kept as `{dir}/{session}/turn-{n}.wav` and served at
//! `GET /v1/sessions/{id}/recordings/{turn}`, so `voxbook replay --record`
//! can turn a session tried by hand into a regression script with its
//! audio. Off by default: recordings are personal data, meant for test and
//! staging deployments; with several gateways the directory must be
//! shared.

use std::path::{Path, PathBuf};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Recordings {
    dir: PathBuf,
}

impl Recordings {
    pub fn new(dir: impl Into<PathBuf>) -> Recordings {
        Recordings { dir: dir.into() }
    }

    /// Where turn `turn` of session `session` (a UUID, checked by the
    /// caller) is kept.
    fn path(&self, session: &str, turn: u64) -> PathBuf {
        self.dir.join(session).join(format!("turn-{turn}.wav"))
    }

    /// Writes a turn's utterance as 16-bit 16 kHz WAV (blocking: call it
    /// off the async runtime).
    pub fn save(&self, session: &str, turn: u64, audio: &[f32]) -> std::io::Result<()> {
        let path = self.path(session, turn);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        write_wav(&path, audio).map_err(std::io::Error::other)
    }

    /// A kept recording's WAV bytes, if there is one.
    pub fn load(&self, session: &str, turn: u64) -> std::io::Result<Option<Vec<u8>>> {
        match std::fs::read(self.path(session, turn)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn write_wav(path: &Path, audio: &[f32]) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for &s in audio {
        writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)?;
    }
    writer.finalize()
}

/// `GET /v1/sessions/{id}/recordings/{turn}`: the WAV, or 404.
pub async fn get(State(state): State<AppState>, UrlPath((id, turn)): UrlPath<(String, String)>) -> Response {
    let not_found = || ApiError::not_found("recording_not_found", "no recording of that turn").into_response();
    let Some(recordings) = state.recordings.clone() else { return not_found() };
    let (Ok(id), Ok(turn)) = (uuid::Uuid::parse_str(&id), turn.trim_end_matches(".wav").parse::<u64>()) else {
        return ApiError::bad_request("invalid_recording", "recordings are /v1/sessions/{uuid}/recordings/{turn}")
            .into_response();
    };
    let id = id.hyphenated().to_string();
    match tokio::task::spawn_blocking(move || recordings.load(&id, turn)).await {
        Ok(Ok(Some(bytes))) => ([(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"))], bytes).into_response(),
        Ok(Ok(None)) => not_found(),
        Ok(Err(e)) => ApiError::internal(format!("cannot read a recording: {e}")).into_response(),
        Err(e) => ApiError::internal(format!("recording reader failed: {e}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_turn_reads_back_as_16_khz_wav() {
        let dir = std::env::temp_dir().join(format!("voxbook-recordings-{}", uuid::Uuid::new_v4().simple()));
        let recordings = Recordings::new(&dir);
        let session = uuid::Uuid::new_v4().hyphenated().to_string();
        let tone: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
        recordings.save(&session, 3, &tone).unwrap();
        let bytes = recordings.load(&session, 3).unwrap().expect("kept");
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(reader.spec().sample_rate, 16_000);
        assert_eq!(reader.len(), 1600);
        assert!(recordings.load(&session, 4).unwrap().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }
}
