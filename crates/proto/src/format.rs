//! Human-facing text, byte-compatible with `fail2ban-client`.
//!
//! Fail2Ban's tree output puts a TAB after each colon; scripts parse it that way.

use crate::{BannedEntry, JailStatus, ServerStatus};

/// `status` without a jail.
pub fn server_status(s: &ServerStatus) -> String {
    format!(
        "Status\n|- Number of jail:\t{}\n`- Jail list:\t{}\n",
        s.jails.len(),
        s.jails.join(", ")
    )
}

/// `status JAIL`. A line about evicted addresses appears only when there were any, so the
/// output stays byte-identical to Fail2Ban's otherwise.
pub fn jail_status(s: &JailStatus) -> String {
    let evicted = if s.evicted > 0 {
        format!("|  |- Evicted (maxtracked):\t{}\n", s.evicted)
    } else {
        String::new()
    };
    format!(
        "Status for the jail: {}\n\
         |- Filter\n\
         |  |- Currently failed:\t{}\n\
         |  |- Total failed:\t{}\n\
         {}\
         |  `- {}\n\
         `- Actions\n   \
         |- Currently banned:\t{}\n   \
         |- Total banned:\t{}\n   \
         `- Banned IP list:\t{}\n",
        s.name,
        s.currently_failed,
        s.total_failed,
        evicted,
        match &s.journal_matches {
            Some(m) => format!("Journal matches:\t{m}"),
            None => format!("File list:\t{}", s.file_list.join(" ")),
        },
        s.currently_banned,
        s.total_banned,
        s.banned.join(" ")
    )
}

/// `banned`, printed like Fail2Ban's Python list of dicts: `[{'sshd': ['192.0.2.1']}]`.
pub fn banned(entries: &[BannedEntry]) -> String {
    let parts: Vec<String> = entries
        .iter()
        .map(|e| {
            let ips: Vec<String> = e.ips.iter().map(|ip| format!("'{ip}'")).collect();
            format!("{{'{}': [{}]}}", e.jail, ips.join(", "))
        })
        .collect();
    format!("[{}]\n", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jail_status_matches_fail2ban_layout() {
        let s = JailStatus {
            name: "sshd".into(),
            currently_failed: 1,
            total_failed: 3,
            file_list: vec!["/var/log/auth.log".into()],
            currently_banned: 3,
            total_banned: 3,
            banned: vec![
                "192.0.2.1".into(),
                "192.0.2.2".into(),
                "198.51.100.7".into(),
            ],
            evicted: 0,
            journal_matches: None,
        };
        // Recorded from fail2ban-server 1.0.2 (fail2ban-semantics.md §4).
        let expected = "Status for the jail: sshd\n|- Filter\n|  |- Currently failed:\t1\n|  |- Total failed:\t3\n|  `- File list:\t/var/log/auth.log\n`- Actions\n   |- Currently banned:\t3\n   |- Total banned:\t3\n   `- Banned IP list:\t192.0.2.1 192.0.2.2 198.51.100.7\n";
        assert_eq!(jail_status(&s), expected);
    }

    #[test]
    fn evictions_add_one_line_only_when_there_were_some() {
        let mut s = JailStatus {
            name: "sshd".into(),
            currently_failed: 2,
            total_failed: 9,
            file_list: vec!["/var/log/auth.log".into()],
            currently_banned: 0,
            total_banned: 0,
            banned: vec![],
            evicted: 0,
            journal_matches: None,
        };
        assert!(!jail_status(&s).contains("Evicted"));
        s.evicted = 7;
        assert!(jail_status(&s)
            .contains("|  |- Total failed:\t9\n|  |- Evicted (maxtracked):\t7\n|  `- File list:"));
    }

    #[test]
    fn server_status_joins_jails_with_comma_space() {
        let s = ServerStatus {
            jails: vec!["nginx".into(), "sshd".into()],
        };
        assert_eq!(
            server_status(&s),
            "Status\n|- Number of jail:\t2\n`- Jail list:\tnginx, sshd\n"
        );
    }

    #[test]
    fn banned_prints_python_repr() {
        let e = vec![BannedEntry {
            jail: "sshd".into(),
            ips: vec!["192.0.2.1".into()],
        }];
        assert_eq!(banned(&e), "[{'sshd': ['192.0.2.1']}]\n");
    }
}
