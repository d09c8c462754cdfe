//! §1 identities and R5.1 subject matching.

/// R1.1: a user is a name plus groups, in order (the order shows in messages, R8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

impl User {
    pub fn new(name: &str, groups: &[&str]) -> User {
        User {
            name: name.to_string(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    /// R8.1 / Kuma `User.String()`: `name + "/" + join(groups, ",")`; no groups keep the `/`.
    pub fn render(&self) -> String {
        format!("{}/{}", self.name, self.groups.join(","))
    }
}

/// Users OR groups (R5.1 semantics): bindings' subjects and the static lists of §7.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subjects {
    pub users: Vec<String>,
    pub groups: Vec<String>,
}

impl Subjects {
    pub fn new(users: &[&str], groups: &[&str]) -> Subjects {
        Subjects {
            users: users.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// R5.1: exact, case-sensitive; `User` by name, `Group` by membership. No globbing.
    pub fn matches(&self, user: &User) -> bool {
        self.users.contains(&user.name) || user.groups.iter().any(|g| self.groups.contains(g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r8_1_render() {
        assert_eq!(User::new("ci-bot", &[]).render(), "ci-bot/");
        assert_eq!(
            User::new("john", &["team-a", "team-b"]).render(),
            "john/team-a,team-b"
        );
    }

    #[test]
    fn r5_1_exact() {
        let s = Subjects::new(&["backend-owner"], &["team-a"]);
        assert!(s.matches(&User::new("backend-owner", &[])));
        assert!(!s.matches(&User::new("Backend-Owner", &[])));
        assert!(s.matches(&User::new("x", &["team-a"])));
        assert!(!s.matches(&User::new("team-a", &["*"])));
    }
}
