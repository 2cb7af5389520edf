//! The templates in `deploy/` against the code: the bot's IAM role in each
//! CloudFormation template allows exactly the AWS calls the code makes (no
//! action missing, none extra). cfn-lint checks the templates themselves
//! (`.ci/run`).

use std::collections::BTreeSet;

use serde_json::Value;

/// What the AWS SDK clients are asked to do, read from the code that calls
/// them: `.client.<operation>()` in each file, as IAM actions.
fn sdk_calls(file: &str, service: &str) -> BTreeSet<String> {
    let source = std::fs::read_to_string(file).unwrap();
    let calls = regex::Regex::new(r"client\s*\.\s*([a-z_]+)\(\)").unwrap();
    calls
        .captures_iter(&source)
        .map(|c| {
            let pascal: String = c[1]
                .split('_')
                .map(|w| {
                    let mut cs = w.chars();
                    cs.next().map(|f| f.to_ascii_uppercase().to_string() + cs.as_str()).unwrap_or_default()
                })
                .collect();
            format!("{service}:{pascal}")
        })
        .collect()
}

/// Only `incident-bot store init` makes these (with the operator's
/// credentials, not the bot's role).
const INIT_ONLY: [&str; 3] = ["dynamodb:CreateTable", "dynamodb:DescribeTimeToLive", "dynamodb:UpdateTimeToLive"];

fn actions(policy: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for statement in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow", "{statement:#}");
        match &statement["Action"] {
            Value::String(a) => {
                out.insert(a.clone());
            }
            Value::Array(a) => out.extend(a.iter().map(|a| a.as_str().unwrap().to_owned())),
            other => panic!("an Action of {other}"),
        }
    }
    out
}

#[test]
fn every_templates_bot_role_allows_exactly_what_the_code_calls() {
    let incident_manager = sdk_calls("src/backend/sdk.rs", "ssm-incidents");
    let dynamodb = sdk_calls("src/store/dynamodb.rs", "dynamodb");
    assert_eq!(incident_manager.len(), 10, "{incident_manager:?}");
    for init in INIT_ONLY {
        assert!(dynamodb.contains(init), "{init} is no longer called: update INIT_ONLY ({dynamodb:?})");
    }
    let shared: BTreeSet<String> = dynamodb.iter().filter(|a| !INIT_ONLY.contains(&a.as_str())).cloned().collect();
    // The Lambda build: the function invokes itself, and reads its token
    // (Secrets Manager in the template; SSM Parameter Store is the other way).
    let lambda = sdk_calls("src/transport/lambda.rs", "lambda");
    assert_eq!(lambda, BTreeSet::from(["lambda:Invoke".to_owned()]), "{lambda:?}");
    let secrets = sdk_calls("src/secrets.rs", "any");
    assert_eq!(secrets, BTreeSet::from(["any:GetParameter".to_owned(), "any:GetSecretValue".to_owned()]));
    let mut checked = 0;
    for entry in std::fs::read_dir("deploy/cloudformation").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let template: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let meta = &template["Metadata"]["incident-bot"];
        let role = &template["Resources"][meta["BotRole"].as_str().unwrap()];
        assert_eq!(role["Type"], "AWS::IAM::Role", "{}", path.display());
        let policies = role["Properties"]["Policies"].as_array().unwrap();
        let policy = policies.iter().find(|p| p["PolicyName"] == meta["BotPolicy"]).unwrap();
        let mut expected = incident_manager.clone();
        if meta["Store"] == "dynamodb" {
            expected.extend(shared.iter().cloned());
        }
        if meta["Transport"] == "lambda" {
            // Invoke is the API; lambda:InvokeFunction its IAM action.
            expected.insert("lambda:InvokeFunction".to_owned());
        }
        match meta["TokenFrom"].as_str() {
            Some("secretsmanager") => expected.insert("secretsmanager:GetSecretValue".to_owned()),
            Some("ssm") => expected.insert("ssm:GetParameter".to_owned()),
            _ => false,
        };
        assert_eq!(actions(policy), expected, "{}: the bot's policy is not what the code calls", path.display());
        // Nothing else in the role may be an AWS API the code could call.
        for other in policies.iter().filter(|p| p["PolicyName"] != meta["BotPolicy"]) {
            let extra = actions(other);
            assert!(
                extra
                    .iter()
                    .all(|a| ["ssm", "dynamodb:", "lambda:", "secretsmanager:"].iter().all(|p| !a.starts_with(p))),
                "{}: {extra:?} outside the bot's policy",
                path.display()
            );
        }
        assert!(
            role["Properties"]["ManagedPolicyArns"].is_null(),
            "{}: no managed policies on the bot",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 3, "every template checked");
}
