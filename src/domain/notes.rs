//! Notes for an incident's timeline, typed by responders.

use std::fmt;

/// Longest note accepted for the timeline (Discord's dialog limit is 4000;
/// this leaves room in the timeline event for who wrote it and where).
pub const MAX_NOTE_LEN: usize = 2000;

/// A note: trimmed, not blank, at most [`MAX_NOTE_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note(String);

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is empty")]
    Empty,
    #[error("the note is {0} characters long; at most {MAX_NOTE_LEN} fit on the timeline here")]
    TooLong(usize),
}

impl Note {
    /// Checks a note as typed.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim();
        let len = text.chars().count();
        if text.is_empty() {
            Err(NoteError::Empty)
        } else if len > MAX_NOTE_LEN {
            Err(NoteError::TooLong(len))
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    /// The note's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes() {
        assert_eq!(Note::parse("  "), Err(NoteError::Empty));
        assert_eq!(Note::parse(&"n".repeat(2001)), Err(NoteError::TooLong(2001)));
        assert!(Note::parse(&"n".repeat(2000)).is_ok());
        assert_eq!(Note::parse(" ok \n").unwrap().as_str(), "ok");
    }
}
