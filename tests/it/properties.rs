//! Property tests: whatever a responder types, the option parser never
//! panics and either builds a request the service model accepts, or refuses
//! naming the offending input; and every reply fits Discord's limits.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use incident_bot::backend::{AwsError, ErrorKind, Operation};
use incident_bot::discord::embeds::{self, Extras};
use incident_bot::domain::declaration::Refusal;
use incident_bot::domain::{
    Declaration, DeclareInput, IncidentArn, IncidentSource, ItemTarget, Origin, PlanCatalog, ResponsePlanArn,
};
use incident_bot::messages;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::fake_incident_manager::{model_errors, plan_arn};

fn catalog() -> PlanCatalog {
    let plans = BTreeMap::from([
        ("payments".to_owned(), ResponsePlanArn::parse(&plan_arn("Payments")).unwrap()),
        ("search".to_owned(), ResponsePlanArn::parse(&plan_arn("Search")).unwrap()),
    ]);
    PlanCatalog::new(plans, None).unwrap()
}

/// The StartIncident body the SDK serialises from a declaration (the
/// end-to-end tests check the SDK's wire format against this shape).
fn body(d: &Declaration) -> Value {
    let items: Vec<Value> = d
        .related_items
        .iter()
        .map(|i| {
            let value = match &i.target {
                ItemTarget::Url(u) => json!({"url": u}),
                ItemTarget::Arn(a) => json!({"arn": a.as_str()}),
            };
            json!({"identifier": {"type": i.item_type(), "value": value}, "title": i.title})
        })
        .collect();
    let mut b = json!({
        "clientToken": d.client_token.as_str(),
        "relatedItems": items,
        "responsePlanArn": d.plan.arn.as_str(),
        "triggerDetails": {
            "source": d.trigger.source.as_str(),
            "timestamp": d.trigger.timestamp.duration_since(UNIX_EPOCH).unwrap().as_secs_f64(),
            "rawData": d.trigger.raw_data,
        }
    });
    if let Some(i) = d.impact {
        b["impact"] = json!(i.value());
    }
    if let Some(t) = &d.title {
        b["title"] = json!(t.as_str());
    }
    b
}

fn link() -> impl Strategy<Value = String> {
    prop_oneof![
        "https://[a-z]{1,12}\\.example\\.com/[a-zA-Z0-9/_?=&,.-]{0,40}",
        "http://[a-z0-9.-]{0,20}",
        "\\[[^\\]\\n]{0,250}\\]\\(https://[a-z]{1,8}\\.example/[a-z(),]{0,20}\\)",
        "arn:aws:[a-z0-9-]{0,10}:[a-z0-9-]{0,12}:[0-9]{0,13}:[ -~]{0,30}",
        "<https://[a-z]{1,8}\\.example>",
        "[a-z]{1,10}://[a-z]{1,10}",
        "\\PC{0,30}",
        "[\\x00-\\x1f\\u{7f}\\u{200b}\\u{202e}]{1,5}",
        Just("https://x.example/".to_owned() + &"a".repeat(990)),
    ]
}

fn links() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec((link(), prop_oneof![Just(" "), Just(", "), Just(","), Just("\n"), Just("\t")]), 0..12)
            .prop_map(|v| v.into_iter().map(|(l, s)| l + s).collect::<String>()),
        1 => (1usize..160).prop_map(|n| (0..n).map(|i| format!("https://example.com/{i}")).collect::<Vec<_>>().join(" ")),
        1 => any::<String>(),
    ]
}

fn input() -> impl Strategy<Value = DeclareInput> {
    (
        prop_oneof![
            6 => Just(Some("payments".to_owned())),
            2 => Just(Some("SEARCH".to_owned())),
            2 => Just(Some(plan_arn("Other"))),
            1 => prop::option::of("arn:aws:ssm-incidents::[0-9]{12}:[ -~]{0,40}"),
            1 => prop::option::of("\\PC{0,40}"),
        ],
        prop::option::of(prop_oneof![8 => 1i64..=5, 1 => any::<i64>()]),
        prop::option::of(prop_oneof!["\\PC{0,220}", "[\\x00-\\x1f a-z]{0,50}", "🔥{95,105}"]),
        prop::option::of(links()),
    )
        .prop_map(|(plan, impact, title, links)| DeclareInput { plan, impact, title, links })
}

fn origin() -> impl Strategy<Value = Origin> {
    (any::<u64>(), prop::option::of(1u64..u64::MAX >> 1), "\\PC{0,32}", prop::option::of("\\PC{0,100}")).prop_map(
        |(id, guild, user_name, channel_name)| Origin {
            interaction_id: id >> 1,
            guild_id: guild,
            channel_id: 42,
            channel_name,
            user_id: 7,
            user_name,
        },
    )
}

/// Discord's limits for one message with embeds.
fn assert_fits_discord(embed: &Value) {
    let len = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    assert!(len(&embed["title"]) <= 256, "title {}", len(&embed["title"]));
    assert!(len(&embed["description"]) <= 4096);
    assert!(len(&embed["footer"]["text"]) <= 2048);
    let fields = embed["fields"].as_array().cloned().unwrap_or_default();
    assert!(fields.len() <= 25);
    let mut total = len(&embed["title"]) + len(&embed["description"]) + len(&embed["footer"]["text"]);
    for f in &fields {
        assert!(len(&f["name"]) <= 256 && len(&f["value"]) <= 1024, "field {f}");
        assert!(len(&f["value"]) > 0, "Discord refuses empty field values: {f}");
        total += len(&f["name"]) + len(&f["value"]);
    }
    assert!(total <= 6000, "embed total {total}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_input_is_a_valid_request_or_a_named_refusal(input in input(), origin in origin()) {
        match Declaration::build(&input, &catalog(), &IncidentSource::default(), origin) {
            Ok(d) => {
                let errors = model_errors("StartIncident", &body(&d));
                prop_assert!(errors.is_empty(), "the service would refuse: {errors:?}");
                prop_assert!(d.related_items.len() <= 100);
                for item in &d.related_items {
                    prop_assert!(!item.title.trim().is_empty());
                    if let ItemTarget::Url(u) = &item.target {
                        prop_assert!(u.starts_with("https://") || u.starts_with("http://"), "{u}");
                    }
                }
                let arn = IncidentArn::parse(&format!("arn:aws:ssm-incidents::111122223333:incident-record/{}/x", d.plan.arn.name())).unwrap();
                for region in [Some("us-east-1"), None] {
                    let embed = serde_json::to_value(embeds::declared(&d, &arn, region, &Extras::default())).unwrap();
                    assert_fits_discord(&embed);
                    let kinds = [ErrorKind::AccessDenied, ErrorKind::NotFound, ErrorKind::Validation { field: Some("title".into()) }, ErrorKind::NoAnswer, ErrorKind::Other("X".repeat(300))];
                    for kind in kinds {
                        let err = AwsError::new(Operation::StartIncident, kind);
                        assert_fits_discord(&serde_json::to_value(embeds::failed(&err, &d, region)).unwrap());
                    }
                }
            }
            Err(refusal) => {
                let message = messages::refusal(&refusal);
                prop_assert!(message.chars().count() <= 2000);
                prop_assert!(message.ends_with("Nothing was declared."), "{message}");
                if let Refusal::Link(e) = &refusal {
                    prop_assert!(message.contains(&messages::quote(&e.item)), "{message} does not name {:?}", e.item);
                }
                if let Refusal::Plan(p) = &refusal {
                    prop_assert!(!p.to_string().is_empty());
                }
            }
        }
    }
}
