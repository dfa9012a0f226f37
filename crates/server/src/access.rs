//! Who may `SUBSCRIBE` to and `SEND` to which destination.
//!
//! Rules are Ant-style patterns on the destination the client names (`*` inside a segment
//! matches any characters but `/`; a `**` segment matches any number of segments) with a
//! list of who is allowed for each action: `"*"` any authenticated user, `"user:NAME"`,
//! `"role:NAME"` (the token's `roles` claim). An empty list allows nobody: only the server
//! publishes there. The operator's rules are checked first, then the defaults below; the
//! first rule whose pattern matches decides. A destination no rule matches is unknown.

use crate::auth::Principal;
use serde::Deserialize;

/// What a client wants to do with a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Subscribe,
    Send,
}

/// One rule as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub pattern: String,
    #[serde(default)]
    pub subscribe: Vec<String>,
    #[serde(default)]
    pub send: Vec<String>,
}

impl RuleConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.pattern.starts_with('/'),
            "access rule pattern {:?} must start with '/'",
            self.pattern
        );
        for who in self.subscribe.iter().chain(&self.send) {
            anyhow::ensure!(
                who == "*" || who.starts_with("user:") || who.starts_with("role:"),
                "access rule for {:?}: {who:?} is not \"*\", \"user:NAME\" or \"role:NAME\"",
                self.pattern
            );
        }
        Ok(())
    }
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// No rule knows this destination.
    Unknown,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: Vec<String>,
    subscribe: Vec<String>,
    send: Vec<String>,
}

/// The compiled rule list.
#[derive(Debug, Clone)]
pub struct AccessRules {
    rules: Vec<Rule>,
}

const ANY: &[&str] = &["*"];
const NOBODY: &[&str] = &[];

/// Spring's simple-broker defaults, with the destinations only the server fills reserved.
const DEFAULTS: &[(&str, &[&str], &[&str])] = &[
    // (pattern, subscribe, send)
    ("/topic/conversations/**", ANY, NOBODY),
    ("/topic/presence", ANY, NOBODY),
    ("/topic/announcements", ANY, NOBODY),
    ("/user/*/queue/messages", NOBODY, NOBODY),
    ("/user/*/queue/notifications", NOBODY, NOBODY),
    ("/user/*/queue/errors", NOBODY, NOBODY),
    ("/topic/**", ANY, ANY),
    ("/queue/**", ANY, ANY),
    ("/user/queue/**", ANY, NOBODY),
    ("/user/topic/**", ANY, NOBODY),
    ("/user/*/queue/**", NOBODY, ANY),
    ("/user/*/topic/**", NOBODY, ANY),
    ("/app/**", NOBODY, ANY),
];

impl AccessRules {
    pub fn new(operator: &[RuleConfig]) -> AccessRules {
        let mut rules: Vec<Rule> = operator
            .iter()
            .map(|r| Rule {
                pattern: split(&r.pattern),
                subscribe: r.subscribe.clone(),
                send: r.send.clone(),
            })
            .collect();
        rules.extend(DEFAULTS.iter().map(|(p, sub, send)| Rule {
            pattern: split(p),
            subscribe: sub.iter().map(|s| (*s).to_owned()).collect(),
            send: send.iter().map(|s| (*s).to_owned()).collect(),
        }));
        AccessRules { rules }
    }

    pub fn check(&self, who: &Principal, action: Action, destination: &str) -> Decision {
        if !well_formed(destination) {
            return Decision::Unknown;
        }
        let segments: Vec<&str> = destination[1..].split('/').collect();
        let Some(rule) = self.rules.iter().find(|r| matches(&r.pattern, &segments)) else {
            return Decision::Unknown;
        };
        let allowed = match action {
            Action::Subscribe => &rule.subscribe,
            Action::Send => &rule.send,
        };
        if allowed.iter().any(|a| admits(a, who)) {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// A destination is an absolute path of non-empty segments with no `.` or `..` segments.
fn well_formed(d: &str) -> bool {
    d.len() > 1
        && d.starts_with('/')
        && d[1..]
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.chars().any(char::is_control))
}

fn split(pattern: &str) -> Vec<String> {
    pattern
        .trim_start_matches('/')
        .split('/')
        .map(str::to_owned)
        .collect()
}

fn admits(entry: &str, who: &Principal) -> bool {
    if entry == "*" {
        return true;
    }
    if let Some(name) = entry.strip_prefix("user:") {
        return *who.name == *name;
    }
    if let Some(role) = entry.strip_prefix("role:") {
        return who.roles.iter().any(|r| r == role);
    }
    false
}

fn matches(pattern: &[String], segments: &[&str]) -> bool {
    match pattern.split_first() {
        None => segments.is_empty(),
        Some((p, rest)) if p == "**" => {
            (0..=segments.len()).any(|skip| matches(rest, &segments[skip..]))
        }
        Some((p, rest)) => match segments.split_first() {
            Some((s, srest)) => glob(p.as_bytes(), s.as_bytes()) && matches(rest, srest),
            None => false,
        },
    }
}

/// `*` within one segment.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', prest)) => (0..=s.len()).any(|i| glob(prest, &s[i..])),
        Some((c, prest)) => s.first() == Some(c) && glob(prest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Principal {
        Principal::new("alice", &["staff"])
    }

    #[test]
    fn defaults_follow_spring_with_reserved_destinations() {
        let r = AccessRules::new(&[]);
        let a = alice();
        assert_eq!(r.check(&a, Action::Send, "/topic/board"), Decision::Allow);
        assert_eq!(
            r.check(&a, Action::Subscribe, "/queue/jobs.high"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&a, Action::Send, "/topic/announcements"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&a, Action::Send, "/topic/conversations/c1"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&a, Action::Subscribe, "/topic/conversations/c1"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&a, Action::Send, "/user/bob/queue/inbox"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&a, Action::Send, "/user/bob/queue/messages"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&a, Action::Subscribe, "/user/queue/errors"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&a, Action::Send, "/app/conversations/c1/send"),
            Decision::Allow
        );
        assert_eq!(r.check(&a, Action::Subscribe, "/app/x"), Decision::Deny);
        assert_eq!(r.check(&a, Action::Send, "/elsewhere"), Decision::Unknown);
        assert_eq!(
            r.check(&a, Action::Send, "/topic/../queue/x"),
            Decision::Unknown
        );
        assert_eq!(r.check(&a, Action::Send, "topic/x"), Decision::Unknown);
    }

    #[test]
    fn operator_rules_come_first_and_name_users_and_roles() {
        let rules = vec![
            RuleConfig {
                pattern: "/topic/admin.*/**".into(),
                subscribe: vec!["role:staff".into()],
                send: vec!["user:root".into()],
            },
            RuleConfig {
                pattern: "/topic/closed".into(),
                subscribe: vec![],
                send: vec![],
            },
        ];
        let r = AccessRules::new(&rules);
        let bob = Principal::new("bob", &[]);
        assert_eq!(
            r.check(&alice(), Action::Subscribe, "/topic/admin.ops/x/y"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&bob, Action::Subscribe, "/topic/admin.ops"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&alice(), Action::Send, "/topic/admin.ops"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&Principal::new("root", &[]), Action::Send, "/topic/admin.x"),
            Decision::Allow
        );
        assert_eq!(
            r.check(&alice(), Action::Subscribe, "/topic/closed"),
            Decision::Deny
        );
        assert_eq!(
            r.check(&alice(), Action::Subscribe, "/topic/open"),
            Decision::Allow
        );
    }
}
