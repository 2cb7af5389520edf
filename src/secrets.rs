//! The bot token from AWS Secrets Manager or SSM Parameter Store, by ARN
//! (`DISCORD_TOKEN_ARN`, `[discord] token_arn`): read once at start-up (a
//! Lambda cold start) through the SDK's credential chain and kept in
//! memory, never logged. The secret's own region (in its ARN) is asked.
//!
//! A secret's value is the token itself, or a JSON object holding it under
//! `token` or `DISCORD_TOKEN` (the console's key/value form). A parameter
//! is a `SecureString` (decrypted) or a `String`.

use secrecy::SecretString;

/// Where a token is kept, read off its ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    Secret { region: &'a str },
    Parameter { region: &'a str },
}

/// What `arn` names, if it is a secret's or a parameter's ARN.
pub fn source(arn: &str) -> Option<Source<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let well_formed = partition.starts_with("aws")
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit());
    match service {
        "secretsmanager" if well_formed && resource.len() > "secret:".len() && resource.starts_with("secret:") => {
            Some(Source::Secret { region })
        }
        "ssm" if well_formed && resource.len() > "parameter/".len() && resource.starts_with("parameter/") => {
            Some(Source::Parameter { region })
        }
        _ => None,
    }
}

/// Whether `arn` can hold the token.
pub fn is_token_arn(arn: &str) -> bool {
    source(arn).is_some()
}

/// The token in a secret's text: the text, or its `token` / `DISCORD_TOKEN`
/// key when it is a JSON object.
pub fn token_in(text: &str) -> Option<String> {
    let text = text.trim();
    let token = match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => ["token", "DISCORD_TOKEN"].iter().find_map(|k| map.get(*k)?.as_str())?.trim().to_owned(),
        Err(_) => text.to_owned(),
    };
    (!token.is_empty()).then_some(token)
}

/// Reads the token at `arn`. The error says what went wrong and what to do,
/// without the value.
#[cfg(feature = "secrets")]
pub async fn resolve(sdk: &aws_config::SdkConfig, arn: &str) -> Result<SecretString, String> {
    use aws_sdk_secretsmanager::config::Region;
    let Some(source) = source(arn) else { return Err(format!("{arn} is not a secret's or a parameter's ARN")) };
    let cause = |e: &(dyn std::error::Error + 'static)| crate::discord::api::error_chain(e);
    let text = match source {
        Source::Secret { region } => {
            let config = aws_sdk_secretsmanager::config::Builder::from(sdk).region(Region::new(region.to_owned()));
            let client = aws_sdk_secretsmanager::Client::from_conf(config.build());
            let out = client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
                format!("Secrets Manager did not give the secret {arn} ({}): the role needs secretsmanager:GetSecretValue on it", cause(&e))
            })?;
            match (out.secret_string, out.secret_binary) {
                (Some(s), _) => s,
                (None, Some(b)) => {
                    String::from_utf8(b.into_inner()).map_err(|_| format!("the secret {arn} is binary, not text"))?
                }
                (None, None) => String::new(),
            }
        }
        Source::Parameter { region } => {
            let config =
                aws_sdk_ssm::config::Builder::from(sdk).region(aws_sdk_ssm::config::Region::new(region.to_owned()));
            let client = aws_sdk_ssm::Client::from_conf(config.build());
            let out = client.get_parameter().name(arn).with_decryption(true).send().await.map_err(|e| {
                format!("SSM Parameter Store did not give the parameter {arn} ({}): the role needs ssm:GetParameter on it (and kms:Decrypt on its key)", cause(&e))
            })?;
            out.parameter.and_then(|p| p.value).unwrap_or_default()
        }
    };
    token_in(&text)
        .map(SecretString::from)
        .ok_or_else(|| format!("{arn} holds no token (empty, or a JSON object without a `token` key)"))
}

/// Without the `secrets` feature, a token by ARN cannot be read.
#[cfg(not(feature = "secrets"))]
pub async fn resolve(_: &aws_config::SdkConfig, arn: &str) -> Result<SecretString, String> {
    Err(format!(
        "this incident-bot was built without the cargo feature `secrets`, so it cannot read the token at {arn}: set DISCORD_TOKEN, or use a build with it (the Lambda build has it)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_parameters_only() {
        let secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:discord-token-AbCdEf";
        assert_eq!(source(secret), Some(Source::Secret { region: "eu-west-1" }));
        let parameter = "arn:aws:ssm:us-east-1:123456789012:parameter/incident-bot/token";
        assert_eq!(source(parameter), Some(Source::Parameter { region: "us-east-1" }));
        assert!(is_token_arn("arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/t"));
        for not in [
            "discord-token",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:",
            "arn:aws:ssm:us-east-1:123456789012:document/x",
            "arn:aws:s3:::bucket/token",
            "arn:aws:secretsmanager::123456789012:secret:x",
            "arn:aws:secretsmanager:eu-west-1:12345:secret:x",
        ] {
            assert!(!is_token_arn(not), "{not}");
        }
    }

    #[test]
    fn the_token_itself_or_under_its_key() {
        assert_eq!(token_in("  abc.def \n").as_deref(), Some("abc.def"));
        assert_eq!(token_in(r#"{"token": "abc"}"#).as_deref(), Some("abc"));
        assert_eq!(token_in(r#"{"DISCORD_TOKEN": "abc", "other": 1}"#).as_deref(), Some("abc"));
        assert_eq!(token_in(r#"{"password": "abc"}"#), None);
        assert_eq!(token_in("  "), None);
    }
}
