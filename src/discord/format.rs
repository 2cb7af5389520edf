//! Discord's text limits and markdown: escaping what users typed, and
//! fitting lists into a field. Pure functions; every text is cut to the
//! limits visibly (with `…`) rather than rejected.

use crate::domain::text::truncate;
use crate::domain::{ItemTarget, RelatedItem};

/// Discord's limits for message content and embeds.
pub mod limits {
    pub const CONTENT: usize = 2000;
    pub const EMBED_TITLE: usize = 256;
    pub const EMBED_DESCRIPTION: usize = 4096;
    pub const FIELD_NAME: usize = 256;
    pub const FIELD_VALUE: usize = 1024;
    pub const FOOTER: usize = 2048;
    pub const EMBED_TOTAL: usize = 6000;
}

/// Escapes Discord markdown so user text shows as typed.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '[' | ']' | '(' | ')' | '>' | '#' | '-' | '@') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Text for inside backticks: a backtick would end the code span.
pub fn escape_code(text: &str) -> String {
    text.replace('`', "ˋ")
}

/// `5 min`, `3 h`, `2 d`: how long ago, roughly.
pub fn age(secs: i64) -> String {
    match secs.max(0) {
        s if s < 90 => format!("{s} s"),
        s if s < 90 * 60 => format!("{} min", s / 60),
        s if s < 36 * 3600 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// Joins as many whole lines as fit in `max`, then `… and N more`.
pub fn fit_lines(lines: &[String], max: usize) -> String {
    let mut out = String::new();
    for (shown, line) in lines.iter().enumerate() {
        let rest = lines.len() - shown;
        let tail = if rest > 1 { format!("\n… and {} more", rest - 1) } else { String::new() };
        let candidate_len = out.chars().count() + line.chars().count() + 1;
        if candidate_len + tail.chars().count() > max {
            let more = format!("… and {rest} more");
            if out.is_empty() {
                return truncate(line, max);
            }
            return format!("{out}\n{more}");
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    if out.is_empty() { "—".to_owned() } else { out }
}

/// One related item as a line of the confirmation.
pub fn item_line(i: &RelatedItem) -> String {
    match &i.target {
        ItemTarget::Url(u) if !u.contains(['(', ')', ' ']) => {
            format!("• [{}]({u})", escape_markdown(&truncate(&i.title, 80)))
        }
        ItemTarget::Url(u) => format!("• {} <{u}>", escape_markdown(&truncate(&i.title, 80))),
        ItemTarget::Arn(a) => format!("• `{}`", escape_code(&truncate(a.as_str(), 200))),
    }
}

/// The related-items field with one more item, still within 1024 characters.
pub fn with_related_item(current: &str, item: &RelatedItem) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut hidden = 0usize;
    for line in current.lines() {
        if let Some(n) = line.strip_prefix("… and ").and_then(|r| r.strip_suffix(" more")) {
            hidden += n.parse::<usize>().unwrap_or(0);
        } else if line != "—" {
            lines.push(line.to_owned());
        }
    }
    lines.push(item_line(item));
    let shown = fit_lines(&lines, limits::FIELD_VALUE.saturating_sub(24));
    if hidden == 0 {
        return shown;
    }
    // Fold the earlier hidden count into the new tail.
    let (body, extra) = match shown.rsplit_once("\n… and ") {
        Some((b, tail)) => (b.to_owned(), tail.trim_end_matches(" more").parse::<usize>().unwrap_or(0)),
        None => (shown, 0),
    };
    format!("{body}\n… and {} more", hidden + extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_lines_counts_what_it_leaves_out() {
        let lines: Vec<String> = (0..100).map(|i| format!("• line number {i:03} with some padding text")).collect();
        let out = fit_lines(&lines, 1024);
        assert!(out.chars().count() <= 1024, "{}", out.len());
        assert!(out.ends_with("more"));
        let shown = out.lines().count() - 1;
        assert!(out.ends_with(&format!("… and {} more", 100 - shown)));
        assert_eq!(fit_lines(&lines[..2], 1024).lines().count(), 2);
    }

    #[test]
    fn markdown_is_escaped() {
        assert_eq!(escape_markdown("[x](y)"), "\\[x\\]\\(y\\)");
        assert_eq!(escape_code("a`b"), "aˋb");
    }

    #[test]
    fn adding_items_keeps_the_count_of_hidden_ones() {
        let item =
            |i: usize| RelatedItem::url(format!("https://example.com/{i}"), format!("item {i} {}", "x".repeat(60)));
        let mut field = "—".to_owned();
        for i in 0..40 {
            field = with_related_item(&field, &item(i));
            assert!(field.chars().count() <= limits::FIELD_VALUE);
        }
        let shown = field.lines().filter(|l| l.starts_with('•')).count();
        assert!(field.ends_with(&format!("… and {} more", 40 - shown)), "{field}");
    }
}
