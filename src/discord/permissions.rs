//! The Discord permissions the bot needs, computed from what is turned on;
//! the invite URL that grants them; and the bot's permissions in a channel,
//! worked out as Discord does, for `incident-bot check`.
//!
//! A feature that needs another permission adds it in [`needed`], and the
//! invite URL, `check` and the README (a test keeps it equal) follow.

use serenity::all::{ApplicationId, PermissionOverwrite, PermissionOverwriteType, Permissions};

/// One permission the bot needs, and what for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub permission: Permissions,
    pub why: &'static str,
}

/// What the bot needs, with threads (`[incident] create_thread`) or not.
pub fn needed(create_thread: bool) -> Vec<Need> {
    let mut needs = vec![
        Need { permission: Permissions::VIEW_CHANNEL, why: "see the channels it is used in" },
        Need {
            permission: Permissions::SEND_MESSAGES,
            why: "post an outcome in the channel when its reply can no longer be edited",
        },
        Need { permission: Permissions::EMBED_LINKS, why: "show the incident as an embed" },
        Need {
            permission: Permissions::READ_MESSAGE_HISTORY,
            why: "read a confirmation (or a message for the timeline) back after a restart",
        },
        Need { permission: Permissions::ADD_REACTIONS, why: "mark a message added to an incident's timeline" },
        Need { permission: Permissions::ATTACH_FILES, why: "attach the post-incident summary as a Markdown file" },
    ];
    if create_thread {
        needs.push(Need { permission: Permissions::CREATE_PUBLIC_THREADS, why: "open the incident's thread" });
        needs.push(Need {
            permission: Permissions::SEND_MESSAGES_IN_THREADS,
            why: "post the first message in the incident's thread",
        });
    }
    needs
}

/// [`needed`] as one set.
pub fn required(create_thread: bool) -> Permissions {
    needed(create_thread).iter().fold(Permissions::empty(), |all, n| all | n.permission)
}

/// The OAuth2 URL that adds the bot to a server with `permissions` and lets
/// it register its commands.
pub fn invite_url(application: ApplicationId, permissions: Permissions) -> String {
    format!(
        "https://discord.com/oauth2/authorize?client_id={application}&scope=bot+applications.commands&permissions={}",
        permissions.bits()
    )
}

/// The names of `permissions`, as Discord's settings show them.
pub fn names(permissions: Permissions) -> String {
    permissions.get_permission_names().join(", ")
}

/// The permissions of a member in a channel: `base` (the member's
/// permissions in the guild: `@everyone` and its roles) with the channel's
/// overwrites applied in Discord's order: `@everyone`, then the member's
/// roles together, then the member.
pub fn in_channel(
    guild: u64,
    base: Permissions,
    roles: &[u64],
    member: u64,
    overwrites: &[PermissionOverwrite],
) -> Permissions {
    if base.contains(Permissions::ADMINISTRATOR) {
        return Permissions::all();
    }
    let mut perms = base;
    let apply = |perms: &mut Permissions, allow: Permissions, deny: Permissions| {
        *perms &= !deny;
        *perms |= allow;
    };
    for o in overwrites {
        if matches!(o.kind, PermissionOverwriteType::Role(r) if r.get() == guild) {
            apply(&mut perms, o.allow, o.deny);
        }
    }
    let (mut allow, mut deny) = (Permissions::empty(), Permissions::empty());
    for o in overwrites {
        if matches!(o.kind, PermissionOverwriteType::Role(r) if r.get() != guild && roles.contains(&r.get())) {
            allow |= o.allow;
            deny |= o.deny;
        }
    }
    apply(&mut perms, allow, deny);
    for o in overwrites {
        if matches!(o.kind, PermissionOverwriteType::Member(u) if u.get() == member) {
            apply(&mut perms, o.allow, o.deny);
        }
    }
    perms
}

#[cfg(test)]
mod tests {
    use serenity::all::{RoleId, UserId};

    use super::*;

    #[test]
    fn the_invite_asks_for_what_the_features_need() {
        // Add Reactions, View Channels, Send Messages, Embed Links, Attach
        // Files, Read Message History, Create Public Threads, Send Messages
        // in Threads.
        assert_eq!(required(true).bits(), 309_237_763_136);
        assert_eq!(required(false).bits(), 117_824);
        assert!(!required(true).contains(Permissions::SEND_TTS_MESSAGES));
        assert_eq!(
            invite_url(ApplicationId::new(42), required(false)),
            "https://discord.com/oauth2/authorize?client_id=42&scope=bot+applications.commands&permissions=117824"
        );
    }

    /// The README's invite URL grants what the default configuration needs.
    #[test]
    fn the_readme_invite_url_is_the_computed_one() {
        let readme = include_str!("../../README.md");
        let expected = format!("scope=bot+applications.commands&permissions={}", required(true).bits());
        let urls: Vec<&str> = readme.split_whitespace().filter(|w| w.contains("oauth2/authorize")).collect();
        assert!(!urls.is_empty());
        for url in urls {
            assert!(url.contains(&expected), "{url} does not grant {}", names(required(true)));
        }
    }

    #[test]
    fn overwrites_apply_in_discords_order() {
        let (guild, role, bot) = (1, 2, 3);
        let base = Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES;
        let overwrite = |kind, allow, deny| PermissionOverwrite { allow, deny, kind };
        let everyone_denies = overwrite(
            PermissionOverwriteType::Role(RoleId::new(guild)),
            Permissions::empty(),
            Permissions::SEND_MESSAGES,
        );
        let role_allows = overwrite(
            PermissionOverwriteType::Role(RoleId::new(role)),
            Permissions::SEND_MESSAGES,
            Permissions::empty(),
        );
        let member_denies = overwrite(
            PermissionOverwriteType::Member(UserId::new(bot)),
            Permissions::empty(),
            Permissions::VIEW_CHANNEL,
        );
        let p = in_channel(guild, base, &[], bot, std::slice::from_ref(&everyone_denies));
        assert_eq!(p, Permissions::VIEW_CHANNEL, "@everyone's deny applies");
        let p = in_channel(guild, base, &[role], bot, &[everyone_denies.clone(), role_allows.clone()]);
        assert_eq!(p, base, "a role's allow wins over @everyone's deny");
        let p = in_channel(guild, base, &[role], bot, &[everyone_denies, role_allows, member_denies]);
        assert_eq!(p, Permissions::SEND_MESSAGES, "the member's own overwrite comes last");
        assert_eq!(in_channel(guild, Permissions::ADMINISTRATOR, &[], bot, &[]), Permissions::all());
    }
}
