//! Whisper's vocabulary: from CTranslate2's `vocabulary.txt` to the raw
//! token bytes whisper.cpp stores.
//!
//! Whisper uses GPT-2's byte-level BPE. Its tokens are byte strings, written
//! in `vocabulary.txt` (one token a line, line `i` is token id `i`) through
//! GPT-2's `bytes_to_unicode` table: the 188 printable bytes `!`..=`~`,
//! `¡`..=`¬` and `®`..=`ÿ` stand for themselves (as the code point of the
//! same value) and the other 68 bytes, in increasing order, become the code
//! points 256, 257, ... (so a space is `Ġ`, U+0120, and a newline `Ċ`). The
//! table never produces `\n`, which is why one line per token works.
//!
//! whisper.cpp's model file stores the *decoded* bytes (`len: i32` then the
//! bytes) of the ordinary tokens only: ids `0..eot`, where `eot` is
//! `<|endoftext|>` (50256 for the English-only models, 50257 for the
//! multilingual ones). It names the special tokens after them itself and
//! finds them by position, so [`Vocabulary::check_special_layout`] checks
//! that they sit where whisper.cpp will look for them.

use std::collections::HashMap;

/// A vocabulary problem (a line number is 1-based).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VocabError {
    #[error("vocabulary line {line}: character {ch:?} is not in GPT-2's byte-level alphabet")]
    NotByteLevel { line: usize, ch: char },
    #[error("vocabulary line {line} is empty")]
    EmptyToken { line: usize },
    #[error("vocabulary has no <|endoftext|> token")]
    NoEndOfText,
    #[error("vocabulary has {found} tokens but the model's embedding has {expected} rows")]
    SizeMismatch { found: usize, expected: usize },
    #[error("vocabulary token {id} is {found:?} where whisper.cpp expects {expected:?}")]
    SpecialTokenMisplaced { id: usize, found: String, expected: &'static str },
}

/// GPT-2's byte → code point table.
fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let mut next_extra = 256u32;
    for b in 0..=255u8 {
        table[usize::from(b)] = if printable(b) {
            char::from(b)
        } else {
            let c = char::from_u32(next_extra).unwrap_or('\u{FFFD}');
            next_extra += 1;
            c
        };
    }
    table
}

/// Byte-level decoding: GPT-2's code point → byte table, inverted.
#[derive(Debug, Clone)]
pub struct ByteDecoder {
    map: HashMap<char, u8>,
}

impl Default for ByteDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ByteDecoder {
    pub fn new() -> Self {
        let table = byte_to_char_table();
        let map = table.iter().enumerate().map(|(b, &c)| (c, b as u8)).collect();
        Self { map }
    }

    /// The bytes a token string stands for, or the first character that is
    /// not part of the byte-level alphabet.
    pub fn decode(&self, token: &str) -> Result<Vec<u8>, char> {
        token.chars().map(|c| self.map.get(&c).copied().ok_or(c)).collect()
    }

    /// The token string for some bytes (the inverse of [`Self::decode`]).
    pub fn encode(bytes: &[u8]) -> String {
        let table = byte_to_char_table();
        bytes.iter().map(|&b| table[usize::from(b)]).collect()
    }
}

/// A Whisper vocabulary as read from `vocabulary.txt`.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Every line, as written (byte-level strings).
    pub tokens: Vec<String>,
    /// The id of `<|endoftext|>`: the first special token.
    pub eot: usize,
}

impl Vocabulary {
    /// Parses `vocabulary.txt`: one token a line, `\n` separated (a `\r`
    /// before it is tolerated), a final newline optional.
    pub fn parse(text: &str) -> Result<Self, VocabError> {
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut tokens = Vec::new();
        for (i, line) in body.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                return Err(VocabError::EmptyToken { line: i + 1 });
            }
            tokens.push(line.to_owned());
        }
        let eot = tokens.iter().position(|t| t == "<|endoftext|>").ok_or(VocabError::NoEndOfText)?;
        Ok(Self { tokens, eot })
    }

    /// The ordinary tokens (`0..eot`) as raw bytes, the way whisper.cpp
    /// stores them.
    pub fn ordinary_token_bytes(&self) -> Result<Vec<Vec<u8>>, VocabError> {
        let decoder = ByteDecoder::new();
        self.tokens[..self.eot]
            .iter()
            .enumerate()
            .map(|(i, t)| decoder.decode(t).map_err(|ch| VocabError::NotByteLevel { line: i + 1, ch }))
            .collect()
    }

    /// Checks the vocabulary against the model's embedding size and the
    /// special-token positions whisper.cpp derives from that size
    /// (`whisper_vocab` in whisper.cpp: English-only models have
    /// `n_vocab == 51864`, multilingual ones more, with the task and
    /// timestamp tokens shifted by the number of languages beyond 98).
    pub fn check_special_layout(&self, n_vocab: usize) -> Result<(), VocabError> {
        if self.tokens.len() != n_vocab {
            return Err(VocabError::SizeMismatch { found: self.tokens.len(), expected: n_vocab });
        }
        let multilingual = n_vocab >= 51865;
        let shift = usize::from(multilingual);
        // whisper.cpp: num_languages = n_vocab - 51765 - (multilingual ? 1 : 0).
        let extra_langs = if multilingual { n_vocab.saturating_sub(51765 + 1).saturating_sub(98) } else { 0 };
        let expected: [(usize, &'static str); 5] = [
            (50256 + shift, "<|endoftext|>"),
            (50257 + shift, "<|startoftranscript|>"),
            (50357 + shift + extra_langs, "<|translate|>"),
            (50358 + shift + extra_langs, "<|transcribe|>"),
            (50362 + shift + extra_langs, "<|notimestamps|>"),
        ];
        for (id, want) in expected {
            let found = self.tokens.get(id).map(String::as_str).unwrap_or("");
            if found != want {
                return Err(VocabError::SpecialTokenMisplaced { id, found: found.to_owned(), expected: want });
            }
        }
        let beg = 50363 + shift + extra_langs;
        let found = self.tokens.get(beg).map(String::as_str).unwrap_or("");
        if found != "<|0.00|>" {
            return Err(VocabError::SpecialTokenMisplaced { id: beg, found: found.to_owned(), expected: "<|0.00|>" });
        }
        Ok(())
    }
}

/// A vocabulary with the English-only layout (`t0`, `t1`, ... as ordinary
/// tokens), for tests.
#[cfg(test)]
pub(crate) fn english_test_vocabulary() -> String {
    let mut lines: Vec<String> = (0..50256).map(|i| format!("t{i}")).collect();
    lines.push("<|endoftext|>".into());
    lines.push("<|startoftranscript|>".into());
    while lines.len() < 50357 {
        lines.push(format!("<|lang{}|>", lines.len()));
    }
    for s in ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>"] {
        lines.push(s.into());
    }
    lines.push("<|notimestamps|>".into());
    let mut t = 0;
    while lines.len() < 51864 {
        lines.push(format!("<|{}.{:02}|>", t / 100, t % 100));
        t += 2;
    }
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_is_gpt2s() {
        let table = byte_to_char_table();
        assert_eq!(table[usize::from(b' ')], 'Ġ');
        assert_eq!(table[usize::from(b'\n')], 'Ċ');
        assert_eq!(table[0], 'Ā');
        assert_eq!(table[usize::from(b'a')], 'a');
        assert_eq!(table[0xAD], 'Ń'); // soft hyphen: the 68th non-printable byte
        assert_eq!(table[0xFF], 'ÿ');
        // A bijection onto 256 distinct code points.
        let distinct: std::collections::HashSet<char> = table.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    #[test]
    fn decodes_tokens_to_raw_bytes() {
        let d = ByteDecoder::new();
        assert_eq!(d.decode("Ġhello").unwrap(), b" hello");
        assert_eq!(d.decode("ĊĊ").unwrap(), b"\n\n");
        // "é" as UTF-8 is C3 A9: both bytes are printable in the table.
        assert_eq!(d.decode("Ã©").unwrap(), "é".as_bytes());
        assert_eq!(d.decode("a\u{4e2d}"), Err('\u{4e2d}'));
        for b in 0..=255u8 {
            assert_eq!(d.decode(&ByteDecoder::encode(&[b])).unwrap(), vec![b]);
        }
    }

    #[test]
    fn parses_and_checks_an_english_layout() {
        let v = Vocabulary::parse(&english_test_vocabulary()).unwrap();
        assert_eq!(v.tokens.len(), 51864);
        assert_eq!(v.eot, 50256);
        v.check_special_layout(51864).unwrap();
        assert_eq!(v.ordinary_token_bytes().unwrap().len(), 50256);
        assert_eq!(
            v.check_special_layout(51865).unwrap_err(),
            VocabError::SizeMismatch { found: 51864, expected: 51865 }
        );
    }

    #[test]
    fn misplaced_special_tokens_are_reported() {
        let text = english_test_vocabulary().replacen("<|notimestamps|>", "<|oops|>", 1);
        let v = Vocabulary::parse(&text).unwrap();
        assert!(matches!(v.check_special_layout(51864), Err(VocabError::SpecialTokenMisplaced { id: 50362, .. })));
    }

    #[test]
    fn malformed_vocabularies_are_errors() {
        assert_eq!(Vocabulary::parse("a\nb\n").unwrap_err(), VocabError::NoEndOfText);
        assert_eq!(Vocabulary::parse("a\n\n<|endoftext|>").unwrap_err(), VocabError::EmptyToken { line: 2 });
        let v = Vocabulary::parse("a\n\u{4e2d}\n<|endoftext|>\r\n").unwrap();
        assert_eq!(v.eot, 2);
        assert_eq!(v.ordinary_token_bytes().unwrap_err(), VocabError::NotByteLevel { line: 2, ch: '\u{4e2d}' });
    }
}
