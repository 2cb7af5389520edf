//! Response plans the operator configured, by alias, and how a typed `plan`
//! option resolves to one of them.

use std::collections::BTreeMap;

use super::arn::{ArnError, ResponsePlanArn};

/// Most choices Discord shows in an autocomplete answer.
pub const MAX_AUTOCOMPLETE_CHOICES: usize = 25;

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

    /// Autocomplete choices `(name shown, value sent back)` for what is typed:
    /// aliases starting with it first, then aliases or plan names containing
    /// it, at most 25. A typed response plan ARN is offered as itself.
    pub fn suggest(&self, typed: &str) -> Vec<(String, String)> {
        let typed = typed.trim();
        let needle = typed.to_lowercase();
        let mut prefix = Vec::new();
        let mut contains = Vec::new();
        for (alias, arn) in &self.aliases {
            let alias_lc = alias.to_lowercase();
            let choice = (format!("{alias} ({})", arn.name()), alias.clone());
            if alias_lc.starts_with(&needle) {
                prefix.push(choice);
            } else if alias_lc.contains(&needle) || arn.name().to_lowercase().contains(&needle) {
                contains.push(choice);
            }
        }
        let mut out: Vec<_> = prefix.into_iter().chain(contains).collect();
        if let Ok(arn) = ResponsePlanArn::parse(typed)
            && !out.iter().any(|(_, v)| v == typed)
            && typed.len() <= 100
        {
            out.insert(0, (arn.name().to_owned(), typed.to_owned()));
        }
        out.truncate(MAX_AUTOCOMPLETE_CHOICES);
        for (name, _) in &mut out {
            *name = super::text::truncate(name, 100);
        }
        out
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
    fn suggestions_prefix_first() {
        let c = catalog(None);
        let s = c.suggest("s");
        assert_eq!(s[0].1, "search");
        assert_eq!(s.iter().map(|x| x.1.as_str()).collect::<Vec<_>>(), vec!["search", "db", "payments"]);
        assert_eq!(c.suggest("platform")[0].1, "search");
        assert_eq!(c.suggest("").len(), 3);
        assert!(c.suggest("zzz").is_empty());
        let typed = "arn:aws:ssm-incidents::111122223333:response-plan/New";
        assert_eq!(c.suggest(typed)[0].1, typed);
    }
}
