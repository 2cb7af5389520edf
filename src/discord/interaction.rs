//! Reading an interaction: who sent it and from where.

use serenity::all::{ChannelId, CommandInteraction, GuildId, Member, PartialChannel, User};

use crate::domain::Origin;
use crate::domain::access::Caller;

/// Who declared, where, and the interaction's id.
pub fn origin(cmd: &CommandInteraction) -> Origin {
    Origin {
        interaction_id: cmd.id.get(),
        guild_id: cmd.guild_id.map(|g| g.get()),
        channel_id: cmd.channel_id.get(),
        channel_name: cmd.channel.as_ref().and_then(|c| c.name.clone()),
        user_id: cmd.user.id.get(),
        user_name: cmd.user.name.clone(),
    }
}

/// What the access policy needs: who, where, and with which roles.
pub fn caller(cmd: &CommandInteraction) -> Caller {
    caller_of(&cmd.user, cmd.guild_id, cmd.channel_id, cmd.channel.as_ref(), cmd.member.as_deref())
}

/// [`caller`] for any kind of interaction.
pub fn caller_of(
    user: &User,
    guild_id: Option<GuildId>,
    channel_id: ChannelId,
    channel: Option<&PartialChannel>,
    member: Option<&Member>,
) -> Caller {
    Caller {
        user_id: user.id.get(),
        guild_id: guild_id.map(|g| g.get()),
        channel_id: channel_id.get(),
        parent_channel_id: channel.and_then(|c| c.parent_id).map(|p| p.get()),
        role_ids: member.map(|m| m.roles.iter().map(|r| r.get()).collect()).unwrap_or_default(),
    }
}
