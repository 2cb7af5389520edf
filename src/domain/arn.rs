//! Amazon Resource Names, checked against the Incident Manager service model.
//!
//! The model's `Arn` shape is a string of at most 1000 characters matching
//! `^arn:aws(-cn|-us-gov)?:[a-z0-9-]*:[a-z0-9-]*:([0-9]{12})?:.+$`. The matcher is
//! written out by hand so the crate does not need a regex engine at run time.

use std::fmt;

/// Longest ARN the service accepts (`Arn` shape, `max: 1000`).
pub const MAX_ARN_LEN: usize = 1000;

/// An ARN that satisfies the service model's `Arn` pattern and length.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    raw: String,
    /// Byte offsets of the five `:` separators, so the parts need no re-parse.
    colons: [usize; 5],
}

/// Why a string is not an ARN the service would accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    #[error("is longer than {MAX_ARN_LEN} characters")]
    TooLong,
    #[error("does not start with `arn:aws:` (or `arn:aws-cn:`, `arn:aws-us-gov:`)")]
    Partition,
    #[error("does not have the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")]
    Shape,
    #[error("has a service or region that is not lowercase letters, digits and `-`")]
    ServiceOrRegion,
    #[error("has an account id that is not 12 digits")]
    Account,
    #[error("has an empty resource part")]
    Resource,
    #[error("is not an Incident Manager response plan ARN (arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME)")]
    NotResponsePlan,
    #[error("is not an Incident Manager incident record ARN (arn:aws:ssm-incidents::ACCOUNT:incident-record/PLAN/ID)")]
    NotIncidentRecord,
    #[error("has a region (`{region}`), but response plan ARNs have none: `{corrected}`")]
    PlanRegion { region: String, corrected: String },
    #[error("has no account id; response plan ARNs name one (arn:aws:ssm-incidents::ACCOUNT:response-plan/NAME)")]
    PlanAccount,
}

impl Arn {
    /// Parses `s` as it would be sent; nothing is trimmed or rewritten.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        if s.chars().count() > MAX_ARN_LEN {
            return Err(ArnError::TooLong);
        }
        let mut colons = [0usize; 5];
        let mut found = 0;
        for (i, b) in s.bytes().enumerate() {
            if b == b':' {
                colons[found] = i;
                found += 1;
                if found == 5 {
                    break;
                }
            }
        }
        if found < 5 {
            return Err(if s.starts_with("arn:aws") { ArnError::Shape } else { ArnError::Partition });
        }
        if &s[..colons[0]] != "arn" {
            return Err(ArnError::Partition);
        }
        let partition = &s[colons[0] + 1..colons[1]];
        if !matches!(partition, "aws" | "aws-cn" | "aws-us-gov") {
            return Err(ArnError::Partition);
        }
        let is_part = |p: &str| p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !is_part(&s[colons[1] + 1..colons[2]]) || !is_part(&s[colons[2] + 1..colons[3]]) {
            return Err(ArnError::ServiceOrRegion);
        }
        let account = &s[colons[3] + 1..colons[4]];
        if !(account.is_empty() || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))) {
            return Err(ArnError::Account);
        }
        // `.+` in the pattern: at least one character that is not a line break.
        let resource = &s[colons[4] + 1..];
        if resource.is_empty() || resource.contains(['\n', '\r']) {
            return Err(ArnError::Resource);
        }
        Ok(Self { raw: s.to_owned(), colons })
    }

    /// The ARN exactly as given.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `aws`, `aws-cn` or `aws-us-gov`.
    pub fn partition(&self) -> &str {
        &self.raw[self.colons[0] + 1..self.colons[1]]
    }

    /// The service namespace, e.g. `lambda`.
    pub fn service(&self) -> &str {
        &self.raw[self.colons[1] + 1..self.colons[2]]
    }

    /// The region, empty for global resources.
    pub fn region(&self) -> &str {
        &self.raw[self.colons[2] + 1..self.colons[3]]
    }

    /// The 12-digit account id, empty for some resource types.
    pub fn account(&self) -> &str {
        &self.raw[self.colons[3] + 1..self.colons[4]]
    }

    /// Everything after the account id, e.g. `function:checkout`.
    pub fn resource(&self) -> &str {
        &self.raw[self.colons[4] + 1..]
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// The ARN of an Incident Manager response plan:
/// `arn:aws:ssm-incidents::111122223333:response-plan/NAME`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct ResponsePlanArn(Arn);

impl ResponsePlanArn {
    /// Parses a response plan ARN; any other valid ARN is refused, and so
    /// is one with a region (Incident Manager's response plans have none)
    /// or without an account, naming the corrected form.
    pub fn parse(s: &str) -> Result<Self, ArnError> {
        let arn = Arn::parse(s)?;
        let name = arn.resource().strip_prefix("response-plan/").unwrap_or_default();
        if arn.service() != "ssm-incidents" || name.is_empty() || name.contains('/') {
            return Err(ArnError::NotResponsePlan);
        }
        if !arn.region().is_empty() {
            let corrected = format!("arn:{}:ssm-incidents::{}:{}", arn.partition(), arn.account(), arn.resource());
            return Err(ArnError::PlanRegion { region: arn.region().to_owned(), corrected });
        }
        if arn.account().is_empty() {
            return Err(ArnError::PlanAccount);
        }
        Ok(Self(arn))
    }

    /// The plan's name, the last part of the ARN.
    pub fn name(&self) -> &str {
        self.0.resource().trim_start_matches("response-plan/")
    }

    /// The ARN as sent to the service.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The underlying ARN.
    pub fn arn(&self) -> &Arn {
        &self.0
    }
}

impl TryFrom<String> for ResponsePlanArn {
    type Error = ArnError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl fmt::Display for ResponsePlanArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_model_pattern() {
        let arn = Arn::parse("arn:aws:lambda:us-east-1:111122223333:function:checkout").unwrap();
        assert_eq!(arn.service(), "lambda");
        assert_eq!(arn.region(), "us-east-1");
        assert_eq!(arn.account(), "111122223333");
        assert_eq!(arn.resource(), "function:checkout");
        assert!(Arn::parse("arn:aws:s3:::my-bucket/key").is_ok());
        assert!(Arn::parse("arn:aws-us-gov:iam::111122223333:role/x").is_ok());
        assert!(Arn::parse("arn:aws-cn:ec2:cn-north-1:111122223333:instance/i-1").is_ok());
    }

    #[test]
    fn refuses_what_the_pattern_refuses() {
        assert_eq!(Arn::parse("arn:azure:x:y:111122223333:z"), Err(ArnError::Partition));
        assert_eq!(Arn::parse("arn:aws:Lambda:us-east-1:111122223333:f"), Err(ArnError::ServiceOrRegion));
        assert_eq!(Arn::parse("arn:aws:lambda:us-east-1:1234:f"), Err(ArnError::Account));
        assert_eq!(Arn::parse("arn:aws:lambda:us-east-1:111122223333:"), Err(ArnError::Resource));
        assert_eq!(Arn::parse("arn:aws:lambda"), Err(ArnError::Shape));
        assert_eq!(Arn::parse("https://example.com"), Err(ArnError::Partition));
        let long = format!("arn:aws:s3:::{}", "a".repeat(990));
        assert_eq!(Arn::parse(&long), Err(ArnError::TooLong));
    }

    #[test]
    fn response_plan_arns() {
        let plan = ResponsePlanArn::parse("arn:aws:ssm-incidents::111122223333:response-plan/Payments").unwrap();
        assert_eq!(plan.name(), "Payments");
        assert_eq!(
            ResponsePlanArn::parse("arn:aws:ssm-incidents::111122223333:incident-record/P/1"),
            Err(ArnError::NotResponsePlan)
        );
        assert_eq!(
            ResponsePlanArn::parse("arn:aws:lambda:us-east-1:111122223333:response-plan/x"),
            Err(ArnError::NotResponsePlan)
        );
        let with_region = ResponsePlanArn::parse("arn:aws:ssm-incidents:eu-west-1:111122223333:response-plan/P");
        assert_eq!(
            with_region.unwrap_err().to_string(),
            "has a region (`eu-west-1`), but response plan ARNs have none: \
             `arn:aws:ssm-incidents::111122223333:response-plan/P`"
        );
        assert_eq!(ResponsePlanArn::parse("arn:aws:ssm-incidents:::response-plan/P"), Err(ArnError::PlanAccount));
    }
}
