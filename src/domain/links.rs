//! The `links` option: free text → Incident Manager related items.
//!
//! Items are separated by whitespace or commas. Each item is one of
//! - a URL, `https://…` (or `http://…`), optionally in `<…>` as Discord users
//!   write it to suppress a preview → type `OTHER`, `value.url`;
//! - a markdown link `[Title](https://…)`, whose title may contain spaces and
//!   commas → type `OTHER`, `value.url`, the given title;
//! - an AWS ARN, `arn:aws:…` → type `INVOLVED_RESOURCE`, `value.arn`.
//!
//! A comma only separates items when a new item (or the end) follows it, so a
//! URL whose query contains commas survives. Values are sent exactly as typed
//! (the AWS CLI sends what it is given); duplicates are found on the
//! normalised form and dropped, first one wins.

use std::collections::HashSet;

use super::arn::{Arn, ArnError};
use super::text::{MAX_ITEM_TITLE_LEN, service_len, truncate};

/// Longest URL the service accepts (`Url` shape, `max: 1000`).
pub const MAX_URL_LEN: usize = 1000;
/// Longest related-item list the service accepts (`RelatedItemList`, `max: 100`).
pub const MAX_RELATED_ITEMS: usize = 100;
/// Length of the titles this module derives when none is given.
const DERIVED_TITLE_LEN: usize = 80;

/// What a related item points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemTarget {
    /// A web page, sent as `value.url` with type `OTHER`.
    Url(String),
    /// An AWS resource, sent as `value.arn` with type `INVOLVED_RESOURCE`.
    Arn(Arn),
}

/// One Incident Manager related item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedItem {
    pub target: ItemTarget,
    /// Never empty, at most 200 UTF-16 units.
    pub title: String,
}

impl RelatedItem {
    /// A URL item with a title the caller guarantees to be within limits.
    pub fn url(url: impl Into<String>, title: impl Into<String>) -> Self {
        Self { target: ItemTarget::Url(url.into()), title: title.into() }
    }

    /// The model's `ItemType` for this item.
    pub fn item_type(&self) -> &'static str {
        match self.target {
            ItemTarget::Url(_) => "OTHER",
            ItemTarget::Arn(_) => "INVOLVED_RESOURCE",
        }
    }

    /// The URL or ARN.
    pub fn value(&self) -> &str {
        match &self.target {
            ItemTarget::Url(u) => u,
            ItemTarget::Arn(a) => a.as_str(),
        }
    }

    /// Whether both point at the same thing (URLs compared normalised).
    pub fn same_target(&self, other: &Self) -> bool {
        self.dedupe_key() == other.dedupe_key()
    }

    fn dedupe_key(&self) -> String {
        match &self.target {
            ItemTarget::Url(u) => url::Url::parse(u).map_or_else(|_| u.clone(), String::from),
            ItemTarget::Arn(a) => a.as_str().to_owned(),
        }
    }
}

/// What is wrong with one item of the `links` option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkProblem {
    #[error("is neither a link (https://…), a markdown link ([title](https://…)) nor an AWS ARN (arn:aws:…)")]
    NotALink,
    #[error("uses the `{0}` scheme; only https:// and http:// links are accepted")]
    Scheme(String),
    #[error("is not a valid URL ({0})")]
    BadUrl(String),
    #[error("is {0} characters long; Incident Manager accepts URLs of at most {MAX_URL_LEN}")]
    UrlTooLong(usize),
    #[error("has a title of {0} characters; Incident Manager accepts at most {MAX_ITEM_TITLE_LEN}")]
    TitleTooLong(usize),
    #[error("is not a valid ARN: it {0}")]
    BadArn(ArnError),
    #[error("is a markdown link without its closing `)`")]
    Unclosed,
    #[error("is one link too many: Incident Manager accepts at most {0} here")]
    TooMany(usize),
}

/// An item of the `links` option that cannot become a related item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link `{item}` {problem}")]
pub struct LinkError {
    /// The offending item as the user typed it (possibly long).
    pub item: String,
    pub problem: LinkProblem,
}

/// Parses the `links` option into at most `max_items` distinct related items.
pub fn parse_links(input: &str, max_items: usize) -> Result<Vec<RelatedItem>, LinkError> {
    let mut items = Vec::new();
    let mut seen = HashSet::new();
    for token in tokens(input) {
        let item = token.into_item()?;
        if seen.insert(item.dedupe_key()) {
            if items.len() == max_items {
                return Err(LinkError { item: item.value().to_owned(), problem: LinkProblem::TooMany(max_items) });
            }
            items.push(item);
        }
    }
    Ok(items)
}

/// One item as written, before it is checked.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Bare(&'a str),
    Markdown { raw: &'a str, title: &'a str, target: &'a str },
    Unclosed(&'a str),
}

impl Token<'_> {
    fn into_item(self) -> Result<RelatedItem, LinkError> {
        let (raw, title, target) = match self {
            Token::Bare(t) => (t, None, t),
            Token::Markdown { raw, title, target } => (raw, Some(title), target),
            Token::Unclosed(raw) => {
                return Err(LinkError { item: raw.to_owned(), problem: LinkProblem::Unclosed });
            }
        };
        let fail = |problem| LinkError { item: raw.to_owned(), problem };
        let target = strip_angle_brackets(target.trim());
        let (target, derived) = if target.starts_with("arn:") {
            let arn = Arn::parse(target).map_err(|e| fail(LinkProblem::BadArn(e)))?;
            let derived = format!("{} {}", arn.service(), arn.resource());
            (ItemTarget::Arn(arn), derived)
        } else {
            let url = check_url(target).map_err(fail)?;
            let derived = readable_url(&url);
            (ItemTarget::Url(target.to_owned()), derived)
        };
        let title = match title.map(clean_title).filter(|t| !t.is_empty()) {
            Some(t) if service_len(&t) > MAX_ITEM_TITLE_LEN => {
                return Err(fail(LinkProblem::TitleTooLong(service_len(&t))));
            }
            Some(t) => t,
            None => truncate(&clean_title(&derived), DERIVED_TITLE_LEN),
        };
        Ok(RelatedItem { target, title })
    }
}

fn check_url(s: &str) -> Result<url::Url, LinkProblem> {
    if !s.contains("://") {
        return Err(LinkProblem::NotALink);
    }
    if s.chars().any(char::is_control) {
        return Err(LinkProblem::BadUrl("it contains control characters".into()));
    }
    let len = service_len(s);
    if len > MAX_URL_LEN {
        return Err(LinkProblem::UrlTooLong(len));
    }
    let url = url::Url::parse(s).map_err(|e| LinkProblem::BadUrl(e.to_string()))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(LinkProblem::Scheme(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(LinkProblem::BadUrl("it has no host".into()));
    }
    Ok(url)
}

/// `host/path`, without scheme, query or fragment: what a person would say.
fn readable_url(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    let path = url.path().trim_end_matches('/');
    format!("{host}{path}")
}

fn clean_title(s: &str) -> String {
    let t: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    t.trim().to_owned()
}

fn strip_angle_brackets(s: &str) -> &str {
    s.strip_prefix('<').and_then(|r| r.strip_suffix('>')).unwrap_or(s)
}

/// Splits the option into items; see the module doc for the rules.
fn tokens(input: &str) -> impl Iterator<Item = Token<'_>> {
    let mut rest = input;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if rest.is_empty() {
            return None;
        }
        if rest.starts_with('[')
            && let Some((token, len)) = markdown(rest)
        {
            rest = &rest[len..];
            return Some(token);
        }
        let end = bare_end(rest);
        let token = &rest[..end];
        rest = &rest[end..];
        Some(if token.starts_with('[') && token.contains("](") { Token::Unclosed(token) } else { Token::Bare(token) })
    })
}

/// `[title](target)` at the start of `s`: the token and its length in bytes.
/// The target may hold balanced parentheses, as Wikipedia-style URLs do.
fn markdown(s: &str) -> Option<(Token<'_>, usize)> {
    let close = s.find("](")?;
    let title = &s[1..close];
    if title.contains(['\n', '\r']) {
        return None;
    }
    let start = close + 2;
    let mut depth = 0usize;
    for (i, c) in s[start..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => {
                let end = start + i;
                return Some((Token::Markdown { raw: &s[..=end], title, target: &s[start..end] }, end + 1));
            }
            ')' => depth -= 1,
            c if c.is_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// Where a bare item ends: at whitespace, or at a comma that is followed by
/// whitespace, the end, or the start of another item.
fn bare_end(s: &str) -> usize {
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            return i;
        }
        if c == ',' {
            let after = s[i + 1..].trim_start_matches(',');
            let starts_item = after.is_empty()
                || after.starts_with(char::is_whitespace)
                || ["[", "<", "http://", "https://", "arn:"].iter().any(|p| after.starts_with(p));
            if starts_item {
                return i;
            }
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<(String, String, String)> {
        parse_links(s, 99)
            .unwrap()
            .into_iter()
            .map(|i| (i.item_type().to_owned(), i.value().to_owned(), i.title))
            .collect()
    }

    fn problem(s: &str) -> (String, LinkProblem) {
        let e = parse_links(s, 99).unwrap_err();
        (e.item, e.problem)
    }

    #[test]
    fn urls_markdown_and_arns() {
        let got = parse(
            "https://grafana.example.com/d/abc/checkout?orgId=1, [Runbook, payments](https://wiki.example.com/Runbook_(payments))\n\
             arn:aws:lambda:us-east-1:111122223333:function:checkout <https://status.example.com/>",
        );
        assert_eq!(
            got,
            vec![
                (
                    "OTHER".into(),
                    "https://grafana.example.com/d/abc/checkout?orgId=1".into(),
                    "grafana.example.com/d/abc/checkout".into()
                ),
                ("OTHER".into(), "https://wiki.example.com/Runbook_(payments)".into(), "Runbook, payments".into()),
                (
                    "INVOLVED_RESOURCE".into(),
                    "arn:aws:lambda:us-east-1:111122223333:function:checkout".into(),
                    "lambda function:checkout".into()
                ),
                ("OTHER".into(), "https://status.example.com/".into(), "status.example.com".into()),
            ]
        );
    }

    #[test]
    fn commas_inside_urls_survive() {
        let got = parse("https://x.example.com/a?q=1,2,3,https://y.example.com,");
        assert_eq!(got[0].1, "https://x.example.com/a?q=1,2,3");
        assert_eq!(got[1].1, "https://y.example.com");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn duplicates_are_dropped_on_the_normalised_form() {
        let got = parse("https://Example.com https://example.com/ [Home](https://example.com) https://example.com/x");
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, "https://Example.com");
    }

    #[test]
    fn empty_input_is_no_items() {
        assert!(parse(" , ,\n").is_empty());
    }

    #[test]
    fn refusals_name_the_item() {
        assert_eq!(problem("example.com/dash"), ("example.com/dash".into(), LinkProblem::NotALink));
        assert_eq!(problem("ftp://example.com/x"), ("ftp://example.com/x".into(), LinkProblem::Scheme("ftp".into())));
        assert!(matches!(problem("https://[bad").1, LinkProblem::BadUrl(_)));
        assert!(matches!(problem("arn:aws:lambda:us-east-1:12:function:x").1, LinkProblem::BadArn(ArnError::Account)));
        assert_eq!(problem("[Runbook](https://example.com").1, LinkProblem::Unclosed);
        let long = format!("https://example.com/{}", "a".repeat(1000));
        assert_eq!(problem(&long).1, LinkProblem::UrlTooLong(1020));
        let title = format!("[{}](https://example.com)", "t".repeat(201));
        assert_eq!(problem(&title).1, LinkProblem::TitleTooLong(201));
    }

    #[test]
    fn the_item_over_the_limit_is_named() {
        let input: Vec<String> = (0..5).map(|i| format!("https://example.com/{i}")).collect();
        let e = parse_links(&input.join(" "), 3).unwrap_err();
        assert_eq!(e.item, "https://example.com/3");
        assert_eq!(e.problem, LinkProblem::TooMany(3));
        assert_eq!(parse_links(&input.join(" "), 5).unwrap().len(), 5);
    }
}
