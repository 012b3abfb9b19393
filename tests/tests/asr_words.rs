//! The recogniser's per-word confidence and its prompt, against the real
//! Whisper model: words join back into the transcript, each with a
//! probability, and a prompted decode still hears what was said (a
//! prompt that made Whisper repeat itself would be thrown away).

use std::sync::Arc;

use voxbook_audio::asr::whisper::WhisperModel;
use voxbook_audio::recognizer::{WhisperRecognizer, clean_transcript, repeats_itself};
use voxbook_tests::spoken::{SpokenSet, Voice};
use voxbook_tests::{speech, wer};

#[test]
fn transcripts_come_with_per_word_confidence_and_a_prompt_keeps_them_right() {
    let set = SpokenSet::load().expect("spoken set");
    let model = Arc::new(WhisperModel::load(&speech::model_path().expect("model")).expect("loads"));
    let recognizer = WhisperRecognizer::new(model, 1, 2).expect("recogniser");
    let prompt = "Which one would you like? You can say the first one, or the second one, or the third one.";
    for id in ["bos_den", "second_one"] {
        let said = set.text(id).unwrap();
        let audio = set.wide(Voice::Joe, id).unwrap();
        for prompt in [None, Some(prompt)] {
            let t = recognizer.transcribe_blocking(&audio, prompt).expect("decodes");
            let joined = t.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ");
            assert_eq!(joined, clean_transcript(&t.text), "{id} {prompt:?}");
            assert!(t.words.iter().all(|w| (0.0..=1.0).contains(&w.probability)), "{:?}", t.words);
            let least = t.words.iter().map(|w| w.probability).fold(1.0f32, f32::min);
            assert!((least - t.min_token_p).abs() < 1e-6, "a word's probability is its least certain token's");
            assert!(!repeats_itself(&t.words), "{id} {prompt:?}: {}", t.text);
            let error = wer::corpus_wer([(said, t.text.as_str())]);
            assert!(error <= 10.0, "{id} with {prompt:?}: heard {:?} ({error:.0}% WER)", t.text);
        }
    }
}
