//! A small builder for TwiML, the XML documents that tell Twilio what to
//! do next on a call: say something, listen (`<Gather>`), transfer
//! (`<Dial>`), hang up, or move the call's audio onto a media stream.
//!
//! Only the verbs and attributes voxbook uses are modelled, as typed
//! values, so a handler cannot produce a misspelt attribute, and every
//! piece of text goes through one escaping routine. What the caller said
//! and what the dialogue answers end up in these documents, so escaping
//! is what keeps a transcript like `</Say><Dial>` from becoming a verb.
//! Characters XML 1.0 cannot carry at all (most control characters) are
//! dropped rather than escaped, since Twilio would refuse the whole
//! document over them.

use std::fmt::Write as _;

/// The HTTP method Twilio uses to request a URL from the document.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    Get,
    /// Twilio's default, and the one its signatures cover best: the
    /// parameters travel in the signed form body.
    #[default]
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A `<Gather>`: listens for speech and/or keypad digits (optionally
/// while saying a prompt) and posts the result to `action`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gather {
    /// Where Twilio posts the result (always with POST); empty leaves it
    /// out, and Twilio posts to the current document's URL.
    pub action: String,
    /// What to listen for: `"speech"`, `"dtmf"` or `"speech dtmf"`.
    pub input: String,
    /// Silence (seconds) that ends speech, or `"auto"`.
    pub speech_timeout: Option<String>,
    /// Seconds to wait for the caller to start, or between digits.
    pub timeout: Option<u32>,
    /// Stop after this many digits instead of waiting for `#`.
    pub num_digits: Option<u32>,
    /// Words and phrases the recogniser should expect, comma-separated.
    pub hints: Option<String>,
    /// The recogniser's language (e.g. `"en-US"`); the prompt is spoken in
    /// it too, so the caller is asked in the language they are heard in.
    pub language: Option<String>,
    /// Post to `action` even when nothing was heard, so silence reaches
    /// the dialogue (which asks again) instead of Twilio moving on to the
    /// next verb.
    pub action_on_empty_result: bool,
    /// A prompt said while listening; the caller may talk over it.
    pub say: Option<String>,
    /// The prompt's `<Say>` voice (e.g. `"Polly.Joanna"`).
    pub say_voice: Option<String>,
}

/// One verb of a document.
#[derive(Debug, Clone, PartialEq)]
enum Verb {
    Say { text: String, voice: Option<String>, language: Option<String> },
    Gather(Gather),
    Hangup,
    Dial { number: String },
    Redirect { url: String, method: Method },
    Pause { length: u32 },
    ConnectStream { url: String, parameters: Vec<(String, String)> },
}

/// A TwiML `<Response>`: verbs in the order Twilio executes them.
///
/// ```
/// use voxbook_gateway::telephony::twiml::Twiml;
///
/// let xml = Twiml::new().say("Goodbye!", None, Some("en-GB")).hangup().render();
/// assert_eq!(
///     xml,
///     r#"<?xml version="1.0" encoding="UTF-8"?><Response><Say language="en-GB">Goodbye!</Say><Hangup/></Response>"#
/// );
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Twiml {
    verbs: Vec<Verb>,
}

impl Twiml {
    pub fn new() -> Twiml {
        Twiml::default()
    }

    /// Speaks `text` with Twilio's text-to-speech, in `voice` and
    /// `language` when given (else the account's defaults).
    pub fn say(mut self, text: &str, voice: Option<&str>, language: Option<&str>) -> Twiml {
        self.verbs.push(Verb::Say {
            text: text.to_string(),
            voice: voice.map(str::to_string),
            language: language.map(str::to_string),
        });
        self
    }

    /// Listens for the caller; see [`Gather`].
    pub fn gather(mut self, gather: Gather) -> Twiml {
        self.verbs.push(Verb::Gather(gather));
        self
    }

    /// Ends the call.
    pub fn hangup(mut self) -> Twiml {
        self.verbs.push(Verb::Hangup);
        self
    }

    /// Transfers the call to `number` (E.164, e.g. `+15550100`), for a
    /// person to take over.
    pub fn dial(mut self, number: &str) -> Twiml {
        self.verbs.push(Verb::Dial { number: number.to_string() });
        self
    }

    /// Continues the call with the document at `url`.
    pub fn redirect(mut self, url: &str, method: Method) -> Twiml {
        self.verbs.push(Verb::Redirect { url: url.to_string(), method });
        self
    }

    /// Waits `length` seconds in silence.
    pub fn pause(mut self, length: u32) -> Twiml {
        self.verbs.push(Verb::Pause { length });
        self
    }

    /// Moves the call's audio onto a bidirectional media stream
    /// (`<Connect><Stream>`) at `url` (`wss://...`). Each of `parameters`
    /// reaches the stream's `start` message as a custom parameter; query
    /// strings on `url` are not passed on by Twilio, so this is how the
    /// stream learns about the call.
    pub fn connect_stream(mut self, url: &str, parameters: &[(&str, &str)]) -> Twiml {
        self.verbs.push(Verb::ConnectStream {
            url: url.to_string(),
            parameters: parameters.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        });
        self
    }

    /// The document, as Twilio expects it in a webhook's response.
    pub fn render(&self) -> String {
        let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#);
        for verb in &self.verbs {
            render_verb(&mut out, verb);
        }
        out.push_str("</Response>");
        out
    }
}

fn render_verb(out: &mut String, verb: &Verb) {
    match verb {
        Verb::Say { text, voice, language } => render_say(out, text, voice.as_deref(), language.as_deref()),
        Verb::Gather(gather) => render_gather(out, gather),
        Verb::Hangup => out.push_str("<Hangup/>"),
        Verb::Dial { number } => {
            out.push_str("<Dial>");
            push_text(out, number);
            out.push_str("</Dial>");
        }
        Verb::Redirect { url, method } => {
            out.push_str("<Redirect");
            push_attr(out, "method", method.as_str());
            out.push('>');
            push_text(out, url);
            out.push_str("</Redirect>");
        }
        Verb::Pause { length } => {
            out.push_str("<Pause");
            push_attr(out, "length", &length.to_string());
            out.push_str("/>");
        }
        Verb::ConnectStream { url, parameters } => {
            out.push_str("<Connect><Stream");
            push_attr(out, "url", url);
            if parameters.is_empty() {
                out.push_str("/>");
            } else {
                out.push('>');
                for (name, value) in parameters {
                    out.push_str("<Parameter");
                    push_attr(out, "name", name);
                    push_attr(out, "value", value);
                    out.push_str("/>");
                }
                out.push_str("</Stream>");
            }
            out.push_str("</Connect>");
        }
    }
}

fn render_say(out: &mut String, text: &str, voice: Option<&str>, language: Option<&str>) {
    out.push_str("<Say");
    if let Some(voice) = voice {
        push_attr(out, "voice", voice);
    }
    if let Some(language) = language {
        push_attr(out, "language", language);
    }
    out.push('>');
    push_text(out, text);
    out.push_str("</Say>");
}

fn render_gather(out: &mut String, gather: &Gather) {
    out.push_str("<Gather");
    if !gather.input.is_empty() {
        push_attr(out, "input", &gather.input);
    }
    if !gather.action.is_empty() {
        push_attr(out, "action", &gather.action);
        // Always POST: the result then travels in the signed form body,
        // and a GET would mix it into the action URL's own query.
        push_attr(out, "method", Method::Post.as_str());
    }
    if let Some(speech_timeout) = &gather.speech_timeout {
        push_attr(out, "speechTimeout", speech_timeout);
    }
    if let Some(timeout) = gather.timeout {
        push_attr(out, "timeout", &timeout.to_string());
    }
    if let Some(num_digits) = gather.num_digits {
        push_attr(out, "numDigits", &num_digits.to_string());
    }
    if let Some(hints) = &gather.hints {
        push_attr(out, "hints", hints);
    }
    if let Some(language) = &gather.language {
        push_attr(out, "language", language);
    }
    if gather.action_on_empty_result {
        push_attr(out, "actionOnEmptyResult", "true");
    }
    match &gather.say {
        Some(say) => {
            out.push('>');
            render_say(out, say, gather.say_voice.as_deref(), gather.language.as_deref());
            out.push_str("</Gather>");
        }
        None => out.push_str("/>"),
    }
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production; Rust
/// strings hold no surrogates, so only controls and two nonchars remain).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `s` as element text.
fn push_text(out: &mut String, s: &str) {
    for c in s.chars().filter(|&c| is_xml_char(c)) {
        match c {
            // A bare CR would be read back as a line feed.
            '\r' => out.push_str("&#13;"),
            _ => push_escaped(out, c),
        }
    }
}

/// Appends ` name="value"`.
fn push_attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars().filter(|&c| is_xml_char(c)) {
        match c {
            // Parsers turn literal whitespace in attributes into spaces;
            // references keep it as it was.
            '\t' | '\n' | '\r' => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            _ => push_escaped(out, c),
        }
    }
    out.push('"');
}

/// Escapes all five markup characters, in text and attributes alike: more
/// than each context strictly needs, but one rule is easier to trust.
fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&apos;"),
        _ => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

    fn doc(body: &str) -> String {
        format!("{HEAD}<Response>{body}</Response>")
    }

    #[test]
    fn an_empty_document_is_an_empty_response() {
        assert_eq!(Twiml::new().render(), doc(""));
    }

    #[test]
    fn simple_verbs_render_exactly() {
        let xml = Twiml::new()
            .say("Hello there.", Some("Polly.Joanna"), Some("en-US"))
            .pause(2)
            .say("Plain", None, None)
            .redirect("https://example.com/next?a=1&b=2", Method::Post)
            .redirect("/again", Method::Get)
            .dial("+15550100")
            .hangup()
            .render();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Say voice="Polly.Joanna" language="en-US">Hello there.</Say>"#,
                r#"<Pause length="2"/>"#,
                "<Say>Plain</Say>",
                r#"<Redirect method="POST">https://example.com/next?a=1&amp;b=2</Redirect>"#,
                r#"<Redirect method="GET">/again</Redirect>"#,
                "<Dial>+15550100</Dial>",
                "<Hangup/>",
            ))
        );
    }

    #[test]
    fn a_gather_renders_every_attribute_and_its_prompt() {
        let gather = Gather {
            action: "/v1/telephony/twilio/gather?turn=1&ask=0".into(),
            input: "speech dtmf".into(),
            speech_timeout: Some("auto".into()),
            timeout: Some(6),
            num_digits: Some(1),
            hints: Some("London, Paris".into()),
            language: Some("en-GB".into()),
            action_on_empty_result: true,
            say: Some("Where to?".into()),
            say_voice: Some("Polly.Amy".into()),
        };
        assert_eq!(
            Twiml::new().gather(gather).render(),
            doc(concat!(
                r#"<Gather input="speech dtmf" action="/v1/telephony/twilio/gather?turn=1&amp;ask=0" method="POST""#,
                r#" speechTimeout="auto" timeout="6" numDigits="1" hints="London, Paris" language="en-GB""#,
                r#" actionOnEmptyResult="true">"#,
                r#"<Say voice="Polly.Amy" language="en-GB">Where to?</Say>"#,
                "</Gather>",
            ))
        );
    }

    #[test]
    fn a_bare_gather_is_an_empty_element_with_only_what_was_set() {
        let gather = Gather { action: "/g".into(), input: "dtmf".into(), num_digits: Some(4), ..Gather::default() };
        assert_eq!(
            Twiml::new().gather(gather).hangup().render(),
            doc(r#"<Gather input="dtmf" action="/g" method="POST" numDigits="4"/><Hangup/>"#)
        );
        assert_eq!(Twiml::new().gather(Gather::default()).render(), doc("<Gather/>"));
    }

    #[test]
    fn a_media_stream_carries_its_parameters() {
        let xml = Twiml::new()
            .say("Connecting.", None, None)
            .connect_stream("wss://voice.example.com/media?x=1&y=2", &[("call", "CA1"), ("note", "a \"b\" & c")])
            .render();
        assert_eq!(
            xml,
            doc(concat!(
                "<Say>Connecting.</Say>",
                r#"<Connect><Stream url="wss://voice.example.com/media?x=1&amp;y=2">"#,
                r#"<Parameter name="call" value="CA1"/>"#,
                r#"<Parameter name="note" value="a &quot;b&quot; &amp; c"/>"#,
                "</Stream></Connect>",
            ))
        );
        assert_eq!(
            Twiml::new().connect_stream("wss://h/m", &[]).render(),
            doc(r#"<Connect><Stream url="wss://h/m"/></Connect>"#)
        );
    }

    #[test]
    fn text_and_attributes_are_escaped() {
        let xml = Twiml::new().say(r#"Tom & Jerry's "<b>" </Say><Hangup/>"#, Some(r#"x" evil="1"#), None).render();
        assert_eq!(
            xml,
            doc(concat!(
                r#"<Say voice="x&quot; evil=&quot;1">"#,
                "Tom &amp; Jerry&apos;s &quot;&lt;b&gt;&quot; &lt;/Say&gt;&lt;Hangup/&gt;",
                "</Say>",
            ))
        );
        let dial = Twiml::new().dial("<+1555>").render();
        assert_eq!(dial, doc("<Dial>&lt;+1555&gt;</Dial>"));
        // An entity that looks escaped already is escaped again: the text
        // is what the caller hears, taken literally.
        assert_eq!(Twiml::new().say("&amp;", None, None).render(), doc("<Say>&amp;amp;</Say>"));
    }

    #[test]
    fn characters_xml_cannot_carry_are_dropped() {
        let text = "a\u{0}b\u{7}c\u{1b}[0m\u{ffff}\u{fffe}d\te\nf\rg\u{1F600}h\u{7f}";
        let xml = Twiml::new().say(text, None, Some("en\u{0}-US")).render();
        // Tab and line feed stay in text; CR is kept as a reference; DEL and
        // emoji are legal XML and kept.
        assert_eq!(xml, doc("<Say language=\"en-US\">abc[0md\te\nf&#13;g\u{1F600}h\u{7f}</Say>"));
        // In attributes whitespace other than a space is kept as references.
        let gather = Gather { action: "/g".into(), hints: Some("a\tb\nc\rd".into()), ..Gather::default() };
        assert_eq!(
            Twiml::new().gather(gather).render(),
            doc(r#"<Gather action="/g" method="POST" hints="a&#9;b&#10;c&#13;d"/>"#)
        );
    }

    #[test]
    fn rendering_does_not_consume_the_document() {
        let twiml = Twiml::new().say("Hi", None, None);
        assert_eq!(twiml.render(), twiml.clone().render());
        assert_eq!(twiml.clone().hangup().render(), doc("<Say>Hi</Say><Hangup/>"));
    }
}
