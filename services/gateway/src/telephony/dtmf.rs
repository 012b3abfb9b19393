//! Keypad digits (DTMF) as utterances, so a caller can answer where speech
//! fails: "press 1 to confirm". The mapping depends on what the assistant
//! is waiting for, and the result goes through the same dialogue as
//! speech, so a digit can never do what the words could not.

/// What the caller means by pressing `digits` while the assistant waits
/// for `awaiting` (see `TurnResponse::awaiting`); None for no digits.
pub fn utterance(digits: &str, awaiting: Option<&str>) -> Option<String> {
    // '#' ends an entry on most keypads; it is not part of it.
    let digits: String = digits.chars().filter(|c| c.is_ascii_digit() || *c == '*').collect();
    if digits.is_empty() {
        return None;
    }
    let text = match (digits.as_str(), awaiting) {
        ("0", _) => "I want to talk to an agent".to_string(),
        ("*", _) => "where were we".to_string(),
        ("1", Some("confirmation")) => "yes".to_string(),
        ("2", Some("confirmation")) => "no".to_string(),
        (n, Some("option")) if n.chars().all(|c| c.is_ascii_digit()) => format!("number {n}"),
        (n, _) if n.chars().all(|c| c.is_ascii_digit()) => n.to_string(),
        _ => return None,
    };
    Some(text)
}

/// The keypad hint added to a spoken prompt, when there is one for what
/// the assistant waits for.
pub fn hint(awaiting: Option<&str>) -> Option<&'static str> {
    match awaiting {
        Some("confirmation") => Some("You can also press 1 for yes or 2 for no."),
        Some("option") => Some("You can also press the option's number."),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_follow_what_the_assistant_waits_for() {
        assert_eq!(utterance("1", Some("confirmation")).as_deref(), Some("yes"));
        assert_eq!(utterance("2#", Some("confirmation")).as_deref(), Some("no"));
        assert_eq!(utterance("3", Some("option")).as_deref(), Some("number 3"));
        assert_eq!(utterance("2", Some("passengers")).as_deref(), Some("2"));
        assert_eq!(utterance("0", Some("confirmation")).as_deref(), Some("I want to talk to an agent"));
        assert_eq!(utterance("*", None).as_deref(), Some("where were we"));
    }

    #[test]
    fn nothing_pressed_means_nothing_said() {
        assert_eq!(utterance("", Some("confirmation")), None);
        assert_eq!(utterance("#", None), None);
        assert_eq!(utterance("1*2", None), None);
    }

    #[test]
    fn hints_exist_only_where_digits_help() {
        assert!(hint(Some("confirmation")).is_some());
        assert!(hint(Some("origin")).is_none());
        assert!(hint(None).is_none());
    }
}
