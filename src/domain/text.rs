//! Length rules for the free-text fields the service accepts.
//!
//! The service model states lengths in characters; AWS services count them as
//! UTF-16 code units, which is never fewer than Unicode scalar values. Counting
//! UTF-16 units here keeps every accepted value inside the service's limit.

use std::fmt;

/// Longest incident title (`IncidentTitle`, `max: 200`).
pub const MAX_TITLE_LEN: usize = 200;
/// Longest related item title (`RelatedItemTitleString`, `max: 200`).
pub const MAX_ITEM_TITLE_LEN: usize = 200;

/// Length of `s` as the service counts it.
pub fn service_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Cuts `s` to at most `max` UTF-16 units, ending in `…` when anything was cut.
pub fn truncate(s: &str, max: usize) -> String {
    if service_len(s) <= max {
        return s.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        if used + c.len_utf16() > max.saturating_sub(1) {
            break;
        }
        used += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// An incident title: trimmed, without control characters, 1–200 units long.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IncidentTitle(String);

/// Why a title was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TitleError {
    #[error("the title is empty")]
    Empty,
    #[error("the title is {0} characters long; Incident Manager allows at most {MAX_TITLE_LEN}")]
    TooLong(usize),
}

impl IncidentTitle {
    /// Trims the title and turns line breaks and other control characters into
    /// spaces (a title is one line in every place Incident Manager shows it).
    pub fn parse(s: &str) -> Result<Self, TitleError> {
        let cleaned: String = s.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>();
        let cleaned = cleaned.trim();
        if cleaned.is_empty() {
            return Err(TitleError::Empty);
        }
        let len = service_len(cleaned);
        if len > MAX_TITLE_LEN {
            return Err(TitleError::TooLong(len));
        }
        Ok(Self(cleaned.to_owned()))
    }

    /// The title as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IncidentTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(IncidentTitle::parse("  Checkout down \n").unwrap().as_str(), "Checkout down");
        assert_eq!(IncidentTitle::parse("a\nb").unwrap().as_str(), "a b");
        assert_eq!(IncidentTitle::parse(" \t "), Err(TitleError::Empty));
        assert!(IncidentTitle::parse(&"x".repeat(200)).is_ok());
        assert_eq!(IncidentTitle::parse(&"x".repeat(201)), Err(TitleError::TooLong(201)));
        // 100 emoji are 200 UTF-16 units; 101 are over.
        assert!(IncidentTitle::parse(&"🔥".repeat(100)).is_ok());
        assert_eq!(IncidentTitle::parse(&"🔥".repeat(101)), Err(TitleError::TooLong(202)));
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert!(service_len(&truncate(&"🔥".repeat(10), 5)) <= 5);
    }
}
