//! Names made safe as one file or folder name: an account (`alice@chat.example.com:8443`)
//! or a profile names its cache file and its settings folder.

/// `name` with every character but ASCII letters, digits and `-_.@` made `_`, so that any
/// name is one plain file name (never a path: no separators, and never `.` or `..`).
pub fn safe_file_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        format!("_{safe}")
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::safe_file_name;

    #[test]
    fn any_name_is_one_plain_file_name() {
        assert_eq!(
            safe_file_name("alice@chat.example.com:8443"),
            "alice@chat.example.com_8443"
        );
        assert_eq!(safe_file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_file_name(".."), "_..");
        assert_eq!(safe_file_name("."), "_.");
        assert_eq!(safe_file_name(""), "_");
        assert_eq!(safe_file_name("a\\b\0c"), "a_b_c");
    }
}
