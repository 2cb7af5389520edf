//! Response plans the operator configured, by alias, and how a typed `plan`
//! option resolves to one of them.

use std::collections::BTreeMap;

use super::arn::{ArnError, ResponsePlanArn};

/// Most choices Discord shows in an autocomplete answer.
pub const MAX_AUTOCOMPLETE_CHOICES: usize = 25;

/// A response plan as Incident Manager lists it (`ListResponsePlans`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    pub arn: String,
    pub name: String,
    pub display_name: Option<String>,
}

/// The configured aliases and the default plan.
#[derive(Debug, Clone, Default)]
pub struct PlanCatalog {
    aliases: BTreeMap<String, ResponsePlanArn>,
    default: Option<ResolvedPlan>,
}

/// A response plan chosen for a declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedPlan {
    pub arn: ResponsePlanArn,
    /// What people call it: the alias, else the plan's name.
    pub label: String,
}

/// Why the `plan` option does not name a plan.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("no response plan was given and none is configured as the default")]
    Missing,
    #[error("`{given}` is not a configured response plan alias")]
    UnknownAlias { given: String, known: Vec<String> },
    #[error("`{given}` is not a response plan ARN: it {reason}")]
    BadArn { given: String, reason: ArnError },
}

impl PlanCatalog {
    /// Builds the catalog; `default` must be an alias in `aliases` or an ARN.
    pub fn new(aliases: BTreeMap<String, ResponsePlanArn>, default: Option<&str>) -> Result<Self, PlanError> {
        let mut catalog = Self { aliases, default: None };
        catalog.default = default.map(|d| catalog.resolve(Some(d))).transpose()?;
        Ok(catalog)
    }

    /// Whether a plan applies when the option is left out.
    pub fn has_default(&self) -> bool {
        self.default.is_some()
    }

    /// The configured aliases, sorted.
    pub fn aliases(&self) -> impl Iterator<Item = (&str, &ResponsePlanArn)> {
        self.aliases.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Resolves what the user typed: an alias (any case), a full response plan
    /// ARN, or nothing (the default plan).
    pub fn resolve(&self, given: Option<&str>) -> Result<ResolvedPlan, PlanError> {
        let Some(given) = given.map(str::trim).filter(|g| !g.is_empty()) else {
            return self.default.clone().ok_or(PlanError::Missing);
        };
        if given.starts_with("arn:") {
            let arn = ResponsePlanArn::parse(given)
                .map_err(|reason| PlanError::BadArn { given: given.to_owned(), reason })?;
            let label = self
                .aliases
                .iter()
                .find(|(_, a)| **a == arn)
                .map_or_else(|| arn.name().to_owned(), |(alias, _)| alias.clone());
            return Ok(ResolvedPlan { arn, label });
        }
        self.aliases
            .iter()
            .find(|(alias, _)| alias.eq_ignore_ascii_case(given))
            .map(|(alias, arn)| ResolvedPlan { arn: arn.clone(), label: alias.clone() })
            .ok_or_else(|| PlanError::UnknownAlias {
                given: given.to_owned(),
                known: self.aliases.keys().cloned().collect(),
            })
    }

    /// Autocomplete choices `(name shown, value sent back)` for what is typed,
    /// over the configured aliases and the plans Incident Manager listed.
    ///
    /// Matching is case-insensitive on alias, plan name and display name:
    /// exact matches first, then prefixes, then substrings; aliases before
    /// listed-only plans at equal rank; at most 25. Each is shown as
    /// `display name (alias or name)`. The value is the alias, else the plan
    /// ARN (or its name when the ARN is over Discord's 100 characters). A
    /// typed response plan ARN is offered as itself.
    pub fn suggest(&self, typed: &str, listed: &[PlanSummary]) -> Vec<(String, String)> {
        let typed = typed.trim();
        let needle = typed.to_lowercase();
        let rank = |texts: &[&str]| -> Option<u8> {
            let texts: Vec<String> = texts.iter().map(|t| t.to_lowercase()).collect();
            if needle.is_empty() || texts.contains(&needle) {
                Some(0)
            } else if texts.iter().any(|t| t.starts_with(&needle)) {
                Some(1)
            } else if texts.iter().any(|t| t.contains(&needle)) {
                Some(2)
            } else {
                None
            }
        };
        // (rank, listed-only, sort key, shown, value)
        let mut found: Vec<(u8, bool, String, String, String)> = Vec::new();
        for (alias, arn) in &self.aliases {
            let display = listed
                .iter()
                .find(|p| p.arn == arn.as_str())
                .and_then(|p| p.display_name.clone())
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| arn.name().to_owned());
            if let Some(r) = rank(&[alias, arn.name(), &display]) {
                found.push((r, false, alias.to_lowercase(), format!("{display} ({alias})"), alias.clone()));
            }
        }
        for p in listed {
            if self.aliases.values().any(|a| a.as_str() == p.arn) || ResponsePlanArn::parse(&p.arn).is_err() {
                continue;
            }
            let display = p.display_name.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| p.name.clone());
            if let Some(r) = rank(&[&p.name, &display]) {
                let value = if p.arn.chars().count() <= 100 { p.arn.clone() } else { p.name.clone() };
                found.push((r, true, display.to_lowercase(), format!("{display} ({})", p.name), value));
            }
        }
        found.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        let mut out: Vec<(String, String)> = found.into_iter().map(|(_, _, _, shown, value)| (shown, value)).collect();
        if let Ok(arn) = ResponsePlanArn::parse(typed)
            && !out.iter().any(|(_, v)| v == typed)
            && typed.chars().count() <= 100
        {
            out.insert(0, (arn.name().to_owned(), typed.to_owned()));
        }
        out.truncate(MAX_AUTOCOMPLETE_CHOICES);
        for (name, _) in &mut out {
            *name = super::text::truncate(name, 100);
        }
        out
    }

    /// Resolves like [`PlanCatalog::resolve`], and also accepts the name of a
    /// listed plan (what autocomplete sends when a plan's ARN is too long).
    /// `listed` is asked for only then: it copies the list.
    pub fn resolve_listed(
        &self,
        given: Option<&str>,
        listed: impl FnOnce() -> Vec<PlanSummary>,
    ) -> Result<ResolvedPlan, PlanError> {
        match self.resolve(given) {
            Err(PlanError::UnknownAlias { given, known }) => listed()
                .iter()
                .find(|p| p.name.eq_ignore_ascii_case(&given))
                .and_then(|p| ResponsePlanArn::parse(&p.arn).ok())
                .map(|arn| ResolvedPlan { label: arn.name().to_owned(), arn })
                .ok_or(PlanError::UnknownAlias { given, known }),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(name: &str) -> ResponsePlanArn {
        ResponsePlanArn::parse(&format!("arn:aws:ssm-incidents::111122223333:response-plan/{name}")).unwrap()
    }

    fn catalog(default: Option<&str>) -> PlanCatalog {
        let aliases = [("payments", "Payments"), ("search", "SearchPlatform"), ("db", "Databases")]
            .into_iter()
            .map(|(a, n)| (a.to_owned(), arn(n)))
            .collect();
        PlanCatalog::new(aliases, default).unwrap()
    }

    #[test]
    fn resolves_alias_arn_and_default() {
        let c = catalog(Some("db"));
        assert_eq!(c.resolve(Some("Payments")).unwrap().arn, arn("Payments"));
        assert_eq!(c.resolve(None).unwrap().label, "db");
        assert_eq!(c.resolve(Some("  ")).unwrap().label, "db");
        let other = c.resolve(Some("arn:aws:ssm-incidents::111122223333:response-plan/Other")).unwrap();
        assert_eq!(other.label, "Other");
        let known = c.resolve(Some("arn:aws:ssm-incidents::111122223333:response-plan/Payments")).unwrap();
        assert_eq!(known.label, "payments");
    }

    #[test]
    fn refuses_unknown_and_missing() {
        assert_eq!(catalog(None).resolve(None), Err(PlanError::Missing));
        assert!(matches!(catalog(None).resolve(Some("nope")), Err(PlanError::UnknownAlias { .. })));
        assert!(matches!(
            catalog(None).resolve(Some("arn:aws:ssm-incidents::111122223333:incident-record/x/y")),
            Err(PlanError::BadArn { .. })
        ));
        assert!(PlanCatalog::new(BTreeMap::new(), Some("ghost")).is_err());
    }

    #[test]
    fn suggestions_rank_exact_then_prefix_then_substring() {
        let c = catalog(None);
        let s = c.suggest("s", &[]);
        assert_eq!(s.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), vec!["search", "db", "payments"]);
        assert_eq!(s[0].0, "SearchPlatform (search)");
        assert_eq!(c.suggest("platform", &[])[0].1, "search");
        assert_eq!(c.suggest("", &[]).len(), 3);
        assert!(c.suggest("zzz", &[]).is_empty());
        let typed = "arn:aws:ssm-incidents::111122223333:response-plan/New";
        assert_eq!(c.suggest(typed, &[])[0].1, typed);
    }

    #[test]
    fn listed_plans_merge_with_aliases() {
        let c = catalog(None);
        let listed = vec![
            PlanSummary {
                arn: arn("Payments").to_string(),
                name: "Payments".into(),
                display_name: Some("Payments team".into()),
            },
            PlanSummary {
                arn: arn("Storage").to_string(),
                name: "Storage".into(),
                display_name: Some("Block storage".into()),
            },
            PlanSummary { arn: arn("Sso").to_string(), name: "Sso".into(), display_name: None },
        ];
        let s = c.suggest("s", &listed);
        let shown: Vec<&str> = s.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            shown,
            [
                "SearchPlatform (search)",
                "Block storage (Storage)",
                "Sso (Sso)",
                "Databases (db)",
                "Payments team (payments)"
            ]
        );
        assert_eq!(s[2].1, arn("Sso").to_string());
        assert_eq!(c.suggest("block", &listed)[0].1, arn("Storage").to_string());
        let long = "L".repeat(80);
        let listed = vec![PlanSummary { arn: arn(&long).to_string(), name: long.clone(), display_name: None }];
        assert_eq!(c.suggest("ll", &listed)[0].1, long);
        assert_eq!(c.resolve_listed(Some(&long), || listed.clone()).unwrap().arn, arn(&long));
        assert!(c.resolve_listed(Some("nope"), || listed.clone()).is_err());
        let unasked = || -> Vec<PlanSummary> { panic!("the list is asked for only for a name that is no alias") };
        assert_eq!(c.resolve_listed(Some("payments"), unasked).unwrap().arn, arn("Payments"));
    }
}
