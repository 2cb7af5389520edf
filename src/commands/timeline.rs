//! "Add to incident timeline": a message command (right-click a message →
//! Apps). The message becomes a timeline event with its author, its own
//! time as the event's time, its text and permalink, and its attachments as
//! links. In an incident's thread it goes to that incident; elsewhere the
//! bot asks privately which open incident (newest first). A message added
//! twice is one event: the second time, the user is told it is there.

use std::time::{Duration, UNIX_EPOCH};

use serenity::all::{
    ChannelId, CommandInteraction, CommandType, CreateActionRow, CreateCommand, CreateSelectMenu, CreateSelectMenuKind,
    CreateSelectMenuOption, Message, MessageId,
};
use tracing::{info, warn};

use super::update::IncidentRef;
use crate::discord::confirmation::Action;
use crate::discord::format::age;
use crate::discord::interaction::caller;
use crate::discord::responder::{FirstAnswer, Reply, Responder};
use crate::domain::access::Caller;
use crate::domain::incident::now_unix;
use crate::domain::text::truncate;
use crate::domain::{ClientToken, IncidentArn};
use crate::messages;
use crate::services::Services;
use crate::sync;

/// The command's name, as Discord shows it in the Apps menu.
pub const NAME: &str = "Add to incident timeline";
/// Longest event data Incident Manager accepts (`EventData`, `max: 12000`).
const MAX_EVENT_DATA: usize = 12_000;
/// How long the command waits for a fresh list of open incidents.
const LIST_WAIT: Duration = Duration::from_millis(1500);
const LIST_MAX_AGE: Duration = Duration::from_secs(3);
/// The marker left on a message that went to a timeline.
pub const MARK: char = '✅';

pub fn register(allow_dms: bool) -> CreateCommand {
    super::available(CreateCommand::new(NAME).kind(CommandType::Message), allow_dms)
}

/// A message, as it goes to a timeline.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub guild: Option<u64>,
    pub channel: u64,
    pub message: u64,
    pub author: String,
    pub author_id: u64,
    /// When it was posted, Unix ms.
    pub at_ms: i64,
    pub text: String,
    /// (file name, URL).
    pub attachments: Vec<(String, String)>,
}

impl Snapshot {
    pub fn of(m: &Message, guild: Option<u64>) -> Self {
        Self {
            guild,
            channel: m.channel_id.get(),
            message: m.id.get(),
            author: m.author.name.clone(),
            author_id: m.author.id.get(),
            at_ms: m.timestamp.unix_timestamp() * 1000 + i64::from(m.timestamp.timestamp_subsec_millis()),
            text: m.content.clone(),
            attachments: m.attachments.iter().map(|a| (a.filename.clone(), a.url.clone())).collect(),
        }
    }

    /// The message's link in Discord.
    pub fn permalink(&self) -> String {
        let guild = self.guild.map_or_else(|| "@me".to_owned(), |g| g.to_string());
        format!("https://discord.com/channels/{guild}/{}/{}", self.channel, self.message)
    }

    /// The event's data: who said it, what (cut visibly to fit), the link,
    /// the attachments.
    pub fn event_text(&self) -> String {
        let mut tail = format!("\n{}", self.permalink());
        for (name, url) in &self.attachments {
            tail.push_str(&format!("\nAttachment {name}: {url}"));
        }
        let head = format!("{} on Discord: ", self.author);
        let room = MAX_EVENT_DATA
            .saturating_sub(crate::domain::text::service_len(&head) + crate::domain::text::service_len(&tail) + 2);
        format!("{head}{}{tail}", truncate(&self.text, room))
    }
}

/// The command, used on a message.
#[derive(Debug, Clone)]
pub struct Request {
    pub caller: Caller,
    pub user_id: u64,
    pub channel: u64,
    pub token: ClientToken,
    pub message: Option<Snapshot>,
}

pub fn parse(cmd: &CommandInteraction) -> Request {
    let target = cmd.data.target_id.map(|t| MessageId::new(t.get()));
    let message = target.and_then(|id| cmd.data.resolved.messages.get(&id));
    Request {
        caller: caller(cmd),
        user_id: cmd.user.id.get(),
        channel: cmd.channel_id.get(),
        token: ClientToken::for_interaction(cmd.id.get()),
        message: message.map(|m| Snapshot::of(m, cmd.guild_id.map(|g| g.get()))),
    }
}

/// Handles the command.
pub async fn run(svc: &Services, req: Request, r: &Responder) {
    if let Err(denied) = svc.settings.access.check(&req.caller) {
        r.private(format!("⛔ {}", messages::denied(&denied, NAME))).await;
        return;
    }
    let Some(message) = req.message else {
        r.private("⚠️ Discord did not send the message. Nothing was added.").await;
        return;
    };
    match svc.store.home_in(req.channel).await {
        Ok(Some(home)) => {
            if r.answer(FirstAnswer::Defer { private: true }).await.is_ok() {
                add(svc, r, &home.incident, &message, req.user_id).await;
            }
            return;
        }
        Ok(None) => {}
        Err(e) => warn!(error = %e, "could not look the thread's incident up; asking which one"),
    }
    let open = svc.open.get(LIST_WAIT, LIST_MAX_AGE).await;
    if open.is_empty() {
        r.private("No incident is open to add this message to: declare one with `/incident`. Nothing was added.").await;
        return;
    }
    let now = now_unix();
    let options: Vec<CreateSelectMenuOption> = open
        .iter()
        .take(25)
        .map(|i| {
            let label = truncate(&format!("{} · impact {} · {} ago", i.title, i.impact, age(now - i.created)), 100);
            let value =
                if i.arn.as_str().chars().count() <= 100 { i.arn.to_string() } else { format!("id:{}", i.arn.id()) };
            CreateSelectMenuOption::new(label, value)
        })
        .collect();
    let pick = Action::ToTimeline { channel: message.channel, message: message.message };
    let menu =
        CreateSelectMenu::new(pick.custom_id(), CreateSelectMenuKind::String { options }).placeholder("The incident");
    let ask = Reply::private("Add this message to which incident's timeline?")
        .components(vec![CreateActionRow::SelectMenu(menu)]);
    if let Err(e) = r.answer(FirstAnswer::Message(ask)).await {
        warn!(error = %e, "could not ask which incident");
    }
}

/// The incident was picked (the value of the private menu): the message is
/// read back from Discord and added.
pub async fn picked(svc: &Services, (channel, message): (u64, u64), value: &str, user_id: u64, r: &Responder) {
    if r.answer(FirstAnswer::Acknowledge).await.is_err() {
        return;
    }
    let open = svc.open.get(LIST_WAIT, LIST_MAX_AGE).await;
    let Some(incident) = IncidentRef::parse(value).resolve(&open) else {
        let _ = r.edit(Reply::text("⚠️ That incident is no longer open. Nothing was added.").components(vec![])).await;
        return;
    };
    let snapshot = match svc.discord.message(ChannelId::new(channel), MessageId::new(message)).await {
        Ok(m) => Snapshot::of(&m, m.guild_id.map(|g| g.get())),
        Err(e) => {
            warn!(error = %e, "could not read the message back");
            let text = "⚠️ The message could not be read back (the bot needs Read Message History). Nothing was added.";
            let _ = r.edit(Reply::text(text).components(vec![])).await;
            return;
        }
    };
    add(svc, r, &incident, &snapshot, user_id).await;
}

/// Adds `m` to `incident`'s timeline, once, and answers by editing the
/// (private) first answer.
async fn add(svc: &Services, r: &Responder, incident: &IncidentArn, m: &Snapshot, user_id: u64) {
    let say = |text: String| async move {
        if let Err(e) = r.edit(Reply::text(text).components(vec![])).await {
            warn!(error = %e, "could not answer");
        }
    };
    match svc.store.claim_message(m.message, incident).await {
        Ok(Some(existing)) => {
            return say(format!("This message is already on the timeline of `{existing}`.")).await;
        }
        Ok(None) => {}
        Err(e) => warn!(error = %e, "could not check whether the message was added before"),
    }
    if let Err(limited) = svc.limit_change(r, user_id).await {
        let _ = svc.store.release_message(m.message).await;
        return say(format!("⏳ {}", messages::limited(&limited, false))).await;
    }
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(m.at_ms).unwrap_or(0));
    let token = ClientToken::for_message(m.message);
    let _turn = svc.incident_locks.lock(incident).await;
    match svc.backend.add_timeline_event(incident, &m.event_text(), at, &token).await {
        Ok(id) => {
            sync::own(svc, incident, &id).await;
            sync::own_change(svc, incident, &format!("<@{user_id}>"), |cp| {
                cp.participants.insert(format!("<@{}>", m.author_id));
            })
            .await;
            info!(incident = incident.as_str(), message = m.message, "message added to the incident's timeline");
            if let Err(e) = svc.discord.react(ChannelId::new(m.channel), MessageId::new(m.message), MARK).await {
                warn!(error = %e, "could not mark the message (the bot needs Add Reactions)");
            }
            say(format!("✅ Added to the timeline of `{incident}`, with its author and time.")).await;
        }
        Err(e) => {
            let _ = svc.store.release_message(m.message).await;
            say(format!("⚠️ {}", messages::update_failed(&e, incident.as_str(), svc.backend.region(), &[]))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(text: &str) -> Snapshot {
        Snapshot {
            guild: Some(1),
            channel: 2,
            message: 3,
            author: "alice".into(),
            author_id: 4,
            at_ms: 0,
            text: text.into(),
            attachments: vec![("graph.png".into(), "https://cdn.discordapp.com/attachments/2/5/graph.png".into())],
        }
    }

    #[test]
    fn the_event_names_author_link_and_attachments_and_fits() {
        let text = snapshot("CPU at 100%").event_text();
        assert_eq!(
            text,
            "alice on Discord: CPU at 100%\nhttps://discord.com/channels/1/2/3\n\
             Attachment graph.png: https://cdn.discordapp.com/attachments/2/5/graph.png"
        );
        let long = snapshot(&"x".repeat(20_000)).event_text();
        assert!(crate::domain::text::service_len(&long) <= MAX_EVENT_DATA);
        assert!(long.contains("…\nhttps://discord.com/channels/1/2/3"), "cut visibly, the link kept");
    }
}
