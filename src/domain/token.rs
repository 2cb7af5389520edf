//! Client tokens: the idempotency keys of the bot's writes to Incident
//! Manager. Each is derived from what asked for the write (a Discord
//! interaction, or one terminal run), so a repeated delivery of the same
//! interaction repeats the same write instead of making a second one.

use std::fmt;

/// The `clientToken` of one write (`ClientToken` shape: at most 128 characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientToken(String);

impl ClientToken {
    /// The token of the write a Discord interaction asked for.
    pub fn for_interaction(interaction_id: u64) -> Self {
        Self(format!("discord-interaction-{interaction_id}"))
    }

    /// The token of a Discord message put on a timeline: the same message,
    /// added again (by anyone), is the same event.
    pub fn for_message(message_id: u64) -> Self {
        Self(format!("discord-message-{message_id}"))
    }

    /// A token of its own for one run of `incident-bot declare`.
    pub fn for_terminal(pid: u32, nanos: u128) -> Self {
        Self(format!("cli-{pid}-{nanos}"))
    }

    /// The token of a later write of the same request (`<token>-<step>`): the
    /// declaration's timeline event, its thread link, the n-th link of an
    /// update.
    #[must_use]
    pub fn step(&self, step: impl fmt::Display) -> Self {
        Self(format!("{}-{step}", self.0))
    }

    /// The token as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tokens() {
        let t = ClientToken::for_interaction(1_191_168_914_227_200_000);
        assert_eq!(t.as_str(), "discord-interaction-1191168914227200000");
        assert_eq!(t.step("link-3").as_str(), "discord-interaction-1191168914227200000-link-3");
        assert!(t.step("declared").as_str().len() <= 128);
        assert_eq!(ClientToken::for_terminal(42, 7).as_str(), "cli-42-7");
    }
}
