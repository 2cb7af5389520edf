//! Incident impact, the model's `Impact` shape: an integer from 1 to 5.

use std::fmt;

/// Impact of an incident on customers, 1 (critical) to 5 (no impact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Impact(u8);

/// The value is outside 1–5.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("impact must be 1 (Critical) to 5 (No impact), got {0}")]
pub struct ImpactError(pub i64);

/// Text typed for an impact is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an impact: use 1 (Critical) to 5 (No impact)")]
pub struct ImpactTextError(pub String);

impl Impact {
    /// Reads an impact typed as text (in a dialog): `2`, or `2 · High` as
    /// the bot shows it.
    pub fn parse_text(text: &str) -> Result<Self, ImpactTextError> {
        let text = text.trim();
        let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
        digits
            .parse::<i64>()
            .ok()
            .and_then(|v| Self::new(v).ok())
            .ok_or_else(|| ImpactTextError(super::text::truncate(text, 20)))
    }

    /// Every impact with its label, most severe first.
    pub const ALL: [Impact; 5] = [Impact(1), Impact(2), Impact(3), Impact(4), Impact(5)];

    /// Checks the model's range.
    pub fn new(value: i64) -> Result<Self, ImpactError> {
        match u8::try_from(value) {
            Ok(v @ 1..=5) => Ok(Self(v)),
            _ => Err(ImpactError(value)),
        }
    }

    /// The value sent to the service.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The label the service documentation gives the value.
    pub fn label(self) -> &'static str {
        match self.0 {
            1 => "Critical",
            2 => "High",
            3 => "Medium",
            4 => "Low",
            _ => "No impact",
        }
    }
}

impl fmt::Display for Impact {
    /// `1 · Critical`, the form used for command choices and replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} · {}", self.0, self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_and_labels() {
        assert_eq!(Impact::new(1).unwrap().to_string(), "1 · Critical");
        assert_eq!(Impact::new(5).unwrap().to_string(), "5 · No impact");
        assert_eq!(Impact::new(0), Err(ImpactError(0)));
        assert_eq!(Impact::new(6), Err(ImpactError(6)));
        assert_eq!(Impact::new(-1), Err(ImpactError(-1)));
        assert_eq!(Impact::new(i64::MAX), Err(ImpactError(i64::MAX)));
    }

    #[test]
    fn impact_as_typed() {
        assert_eq!(Impact::parse_text("2").unwrap().value(), 2);
        assert_eq!(Impact::parse_text(" 4 · Low").unwrap().value(), 4);
        // What the bot shows is read back as it was.
        for i in Impact::ALL {
            assert_eq!(Impact::parse_text(&i.to_string()), Ok(i));
        }
        assert_eq!(Impact::parse_text("9"), Err(ImpactTextError("9".into())));
        assert!(Impact::parse_text("high").is_err());
    }
}
