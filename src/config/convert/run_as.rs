//! Converts `server.user` and `server.group` into a resolved [`RunAs`]:
//! the names looked up in the user and group databases (NSS) now, so that a
//! typo or a user not yet created on the node is an error naming the key at
//! load time (`dnslb check`, start, reload) rather than at the switch.
//!
//! Invariants: `group` only with `user`; names non-empty, without NUL, at
//! most [`USER_NAME_MAX_BYTES`] bytes; both exist on this system.

use toml::Spanned;

use super::super::{RunAs, USER_NAME_MAX_BYTES};
use super::Checker;
use crate::sys::privilege;

impl Checker<'_> {
    /// `Some(None)` without `server.user`, `Some(Some(_))` when both names
    /// resolve, `None` after reporting an error.
    pub(super) fn run_as(
        &mut self,
        user: Option<Spanned<String>>,
        group: Option<Spanned<String>>,
    ) -> Option<Option<RunAs>> {
        let Some(user) = user else {
            if let Some(group) = group {
                self.error(
                    Some(&group.span()),
                    "server.group",
                    "needs server.user: the group is switched to together with the user",
                );
                return None;
            }
            return Some(None);
        };
        let resolved_user = self.user(&user);
        let resolved_group = match &group {
            None => Some(None),
            Some(group) => self.group(group).map(Some),
        };
        let (found, group_id) = (resolved_user?, resolved_group?);
        Some(Some(RunAs {
            user: user.into_inner(),
            group: group.map(Spanned::into_inner),
            uid: found.uid,
            gid: group_id.unwrap_or(found.gid),
        }))
    }

    /// Checks a name's form; `false` after reporting an error.
    fn account_name(&mut self, key: &str, name: &Spanned<String>) -> bool {
        let text = name.get_ref();
        let problem = if text.is_empty() {
            Some("is empty: name a user or leave the key out".to_owned())
        } else if text.len() > USER_NAME_MAX_BYTES {
            Some(format!(
                "is {} bytes long, more than {USER_NAME_MAX_BYTES}",
                text.len()
            ))
        } else if text.contains('\0') {
            Some("holds a NUL character".to_owned())
        } else {
            None
        };
        match problem {
            Some(problem) => {
                self.error(Some(&name.span()), key, problem);
                false
            }
            None => true,
        }
    }

    fn user(&mut self, name: &Spanned<String>) -> Option<privilege::User> {
        const KEY: &str = "server.user";
        if !self.account_name(KEY, name) {
            return None;
        }
        match privilege::user_by_name(name.get_ref()) {
            Ok(Some(user)) => Some(user),
            Ok(None) => {
                self.error(
                    Some(&name.span()),
                    KEY,
                    format!(
                        "no user named {:?} on this system (create it, e.g. with useradd \
                         --system, or fix the name)",
                        name.get_ref()
                    ),
                );
                None
            }
            Err(error) => {
                self.error(
                    Some(&name.span()),
                    KEY,
                    format!("cannot look up user {:?}: {error}", name.get_ref()),
                );
                None
            }
        }
    }

    fn group(&mut self, name: &Spanned<String>) -> Option<u32> {
        const KEY: &str = "server.group";
        if !self.account_name(KEY, name) {
            return None;
        }
        match privilege::group_by_name(name.get_ref()) {
            Ok(Some(group)) => Some(group),
            Ok(None) => {
                self.error(
                    Some(&name.span()),
                    KEY,
                    format!("no group named {:?} on this system", name.get_ref()),
                );
                None
            }
            Err(error) => {
                self.error(
                    Some(&name.span()),
                    KEY,
                    format!("cannot look up group {:?}: {error}", name.get_ref()),
                );
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::test_support::{parse_text, server_with};
    use crate::config::{Config, LoadErrors};

    fn load(server_lines: &str) -> Result<Config, LoadErrors> {
        parse_text(&server_with(server_lines))
    }

    /// The one error of `server_lines`, as `(key, line, text)`.
    fn error(server_lines: &str) -> (String, Option<usize>, String) {
        let errors = load(server_lines).expect_err("rejected").0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        let error = &errors[0];
        (error.key.clone(), error.line, error.to_string())
    }

    #[test]
    fn without_user_nothing_changes() {
        assert_eq!(load("").unwrap().server.run_as, None);
    }

    #[test]
    fn root_resolves_with_its_primary_group_or_the_one_named() {
        let run_as = load("user = \"root\"").unwrap().server.run_as.unwrap();
        assert_eq!(
            (run_as.user.as_str(), run_as.group, run_as.uid, run_as.gid),
            ("root", None, 0, 0)
        );
        let run_as = load("user = \"root\"\ngroup = \"root\"")
            .unwrap()
            .server
            .run_as
            .unwrap();
        assert_eq!(run_as.group.as_deref(), Some("root"));
    }

    #[test]
    fn unknown_names_are_errors_naming_the_key_and_line() {
        let (key, line, text) = error("user = \"dnslb-no-such-user-x\"");
        assert_eq!((key.as_str(), line), ("server.user", Some(3)));
        assert!(text.contains("no user named"), "{text}");
        let (key, line, _) = error("user = \"root\"\ngroup = \"dnslb-no-such-group-x\"");
        assert_eq!((key.as_str(), line), ("server.group", Some(4)));
    }

    #[test]
    fn group_needs_user_and_names_need_a_form() {
        let (key, line, _) = error("group = \"root\"");
        assert_eq!((key.as_str(), line), ("server.group", Some(3)));
        assert_eq!(error("user = \"\"").0, "server.user");
        assert_eq!(
            error(&format!("user = \"{}\"", "x".repeat(256))).0,
            "server.user"
        );
    }

    #[test]
    fn the_example_config_documents_both_keys() {
        let example = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/dnslb.example.toml"));
        for key in ["user", "group"] {
            assert!(example.contains(&format!("\n# {key}: ")), "{key}");
        }
    }
}
