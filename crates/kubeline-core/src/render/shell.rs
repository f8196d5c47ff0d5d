//! The `sh` template filter: a value as one POSIX shell word, whatever it holds.
//!
//! Every value a node script takes from cluster.yaml is already limited to a safe character
//! set at validation; quoting it here again is the defence in depth that keeps a value that
//! slipped through from becoming code. Single quotes preserve every character literally, and
//! a single quote itself is written as `'\''` (close, escaped quote, reopen): POSIX Shell
//! Command Language, 2.2.2 "Single-Quotes"
//! (<https://pubs.opengroup.org/onlinepubs/9799919799/utilities/V3_chap02.html#tag_19_02_02>).

/// `value` as a single-quoted shell word.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// The minijinja filter: any value, rendered as text, then quoted.
pub(crate) fn filter(value: minijinja::Value) -> String {
    quote(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::quote;

    /// Every substitution on a line a node script runs goes through `sh`, except the named
    /// ones that are not shell words: numbers and lengths, and the etcd environment file a
    /// here-document writes (where quotes would be literal text; the cluster name there is a
    /// DNS label).
    #[test]
    fn every_script_substitution_is_quoted() {
        const NOT_SHELL_WORDS: [&str; 3] = [
            "| length }}",
            "{{ 600 if controller else 300 }}",
            "ETCD_INITIAL_CLUSTER_TOKEN={{ cluster.name }}-etcd",
        ];
        let mut checked = 0;
        let templates = crate::render::Templates::builtin();
        for name in crate::render::Templates::names() {
            if !name.starts_with("userdata/scripts/") {
                continue;
            }
            let src = templates.source(name).unwrap_or_default().to_owned();
            for (i, line) in src.lines().enumerate() {
                if line.trim_start().starts_with('#') || !line.contains("{{") {
                    continue;
                }
                let mut rest = line;
                while let Some(start) = rest.find("{{") {
                    let end = rest[start..]
                        .find("}}")
                        .map_or(rest.len(), |e| start + e + 2);
                    let sub = &rest[start..end];
                    checked += 1;
                    assert!(
                        sub.ends_with("| sh }}")
                            || NOT_SHELL_WORDS.iter().any(|w| line.contains(w)),
                        "{name}:{}: {sub} is not quoted with `| sh`",
                        i + 1
                    );
                    rest = &rest[end..];
                }
            }
        }
        assert!(checked >= 40, "only {checked} substitutions found");
    }

    #[test]
    fn quoting_table() {
        for (input, expected) in [
            ("eu-west-1", "'eu-west-1'"),
            ("", "''"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$(reboot)", "'$(reboot)'"),
            ("`id`;rm -rf /", "'`id`;rm -rf /'"),
            ("''", r"''\'''\'''"),
        ] {
            assert_eq!(quote(input), expected, "{input:?}");
        }
    }

    /// The real shell reads each quoted word back as exactly the value, and runs none of it.
    #[test]
    fn the_shell_reads_back_exactly_the_value() {
        let hostile = [
            "plain",
            "it's",
            "$(touch /tmp/kubeline-pwned)",
            "`touch /tmp/kubeline-pwned`",
            "a\nb; touch /tmp/kubeline-pwned",
            "\\'\"$HOME*?[a]{b,c}~ #",
            "",
        ];
        for value in hostile {
            let script = format!("printf '%s' {}", quote(value));
            let out = std::process::Command::new("sh")
                .args(["-c", &script])
                .output()
                .expect("run sh");
            assert!(out.status.success(), "{script}");
            assert_eq!(String::from_utf8_lossy(&out.stdout), value, "{script}");
        }
        assert!(!std::path::Path::new("/tmp/kubeline-pwned").exists());
    }
}
