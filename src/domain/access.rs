//! Who may declare, and where: the `[access]` rules.
//!
//! Per guild (or globally, for guilds without their own rules) there are
//! three lists. Empty lists mean "no restriction" for that dimension:
//! - *who*: the caller is allowed if `allowed_user_ids` lists them **or** they
//!   have one of `allowed_role_ids` (both empty: everyone);
//! - *where*: the channel, or the channel a thread belongs to, is in
//!   `allowed_channel_ids` (empty: every channel).
//!
//! Direct messages have no guild, roles or channel rules: they are refused
//! unless `allow_dms` is set, and then only the user list applies.

use std::collections::{HashMap, HashSet};

/// The lists for one guild, or the global ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub role_ids: HashSet<u64>,
    pub user_ids: HashSet<u64>,
    pub channel_ids: HashSet<u64>,
}

/// The whole `[access]` configuration.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    pub global: Rules,
    pub guilds: HashMap<u64, Rules>,
    pub allow_dms: bool,
}

/// What the policy needs to know about an interaction.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub user_id: u64,
    pub guild_id: Option<u64>,
    pub channel_id: u64,
    /// The parent channel when the command was used in a thread.
    pub parent_channel_id: Option<u64>,
    pub role_ids: Vec<u64>,
}

/// Why the caller may not declare.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("direct messages are not allowed")]
    DirectMessage,
    #[error("the caller has none of the allowed roles and is not an allowed user")]
    Role { roles: Vec<u64> },
    #[error("the channel is not an allowed channel")]
    Channel { channels: Vec<u64> },
}

impl AccessPolicy {
    /// The rules that apply in `guild`.
    pub fn rules_for(&self, guild: Option<u64>) -> &Rules {
        guild.and_then(|g| self.guilds.get(&g)).unwrap_or(&self.global)
    }

    /// Allows or refuses, naming the first rule that failed.
    pub fn check(&self, c: &Caller) -> Result<(), Denied> {
        let rules = self.rules_for(c.guild_id);
        if c.guild_id.is_none() {
            if !self.allow_dms {
                return Err(Denied::DirectMessage);
            }
            if !rules.user_ids.is_empty() && !rules.user_ids.contains(&c.user_id) {
                return Err(Denied::Role { roles: sorted(&rules.role_ids) });
            }
            return Ok(());
        }
        let who_open = rules.role_ids.is_empty() && rules.user_ids.is_empty();
        let who_ok =
            who_open || rules.user_ids.contains(&c.user_id) || c.role_ids.iter().any(|r| rules.role_ids.contains(r));
        if !who_ok {
            return Err(Denied::Role { roles: sorted(&rules.role_ids) });
        }
        let where_ok = rules.channel_ids.is_empty()
            || rules.channel_ids.contains(&c.channel_id)
            || c.parent_channel_id.is_some_and(|p| rules.channel_ids.contains(&p));
        if !where_ok {
            return Err(Denied::Channel { channels: sorted(&rules.channel_ids) });
        }
        Ok(())
    }
}

fn sorted(set: &HashSet<u64>) -> Vec<u64> {
    let mut v: Vec<u64> = set.iter().copied().collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(roles: &[u64], users: &[u64], channels: &[u64]) -> Rules {
        Rules {
            role_ids: roles.iter().copied().collect(),
            user_ids: users.iter().copied().collect(),
            channel_ids: channels.iter().copied().collect(),
        }
    }

    fn caller(user: u64, roles: &[u64], channel: u64) -> Caller {
        Caller {
            user_id: user,
            guild_id: Some(1),
            channel_id: channel,
            parent_channel_id: None,
            role_ids: roles.to_vec(),
        }
    }

    #[test]
    fn empty_lists_restrict_nothing_in_guilds() {
        let p = AccessPolicy::default();
        assert_eq!(p.check(&caller(5, &[], 9)), Ok(()));
        assert_eq!(p.check(&Caller { guild_id: None, ..caller(5, &[], 9) }), Err(Denied::DirectMessage));
    }

    #[test]
    fn role_or_user_then_channel() {
        let p = AccessPolicy { global: rules(&[100], &[7], &[9]), ..AccessPolicy::default() };
        assert_eq!(p.check(&caller(5, &[100], 9)), Ok(()));
        assert_eq!(p.check(&caller(7, &[], 9)), Ok(()));
        assert_eq!(p.check(&caller(5, &[101], 9)), Err(Denied::Role { roles: vec![100] }));
        assert_eq!(p.check(&caller(7, &[], 8)), Err(Denied::Channel { channels: vec![9] }));
        let in_thread = Caller { parent_channel_id: Some(9), ..caller(7, &[], 8) };
        assert_eq!(p.check(&in_thread), Ok(()));
    }

    #[test]
    fn guild_rules_replace_the_global_ones() {
        let p = AccessPolicy {
            global: rules(&[100], &[], &[]),
            guilds: HashMap::from([(1, rules(&[], &[], &[]))]),
            allow_dms: false,
        };
        assert_eq!(p.check(&caller(5, &[], 9)), Ok(()));
        assert!(p.check(&Caller { guild_id: Some(2), ..caller(5, &[], 9) }).is_err());
    }

    #[test]
    fn dms_when_allowed_use_the_user_list() {
        let p = AccessPolicy { global: rules(&[], &[7], &[]), allow_dms: true, ..AccessPolicy::default() };
        let dm = |user| Caller { guild_id: None, ..caller(user, &[], 9) };
        assert_eq!(p.check(&dm(7)), Ok(()));
        assert!(p.check(&dm(5)).is_err());
    }
}
