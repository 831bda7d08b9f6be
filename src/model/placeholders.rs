//! `{placeholder}` expansion in template formats (`{organization}-{domain}-{product}-{layer}`).
//!
//! A bracketed part holding placeholders is optional: `{organization}-{domain}[-{stage}]` emits
//! `-{stage}` only when every placeholder inside has a non-empty value, so a template without a
//! stage gets `acme-messaging` and one with `stage: dev` gets `acme-messaging-dev`. Brackets
//! without a placeholder inside are kept literally.

use std::collections::BTreeMap;

/// Values placeholders expand to. Only the names present here are accepted in a format, so a
/// typo such as `{prodcut}` is an error instead of a literal in a bucket name.
#[derive(Debug, Clone, Default)]
pub struct Vars(BTreeMap<&'static str, String>);

impl Vars {
    pub fn new() -> Self {
        Vars(BTreeMap::new())
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.0.insert(key, value.into());
        self
    }

    pub fn set(&mut self, key: &'static str, value: impl Into<String>) {
        self.0.insert(key, value.into());
    }

    /// Expands every `{name}` in `format`, and every optional `[...{name}...]` part whose
    /// placeholders all have a value. Unknown names and unbalanced braces are errors.
    pub fn expand(&self, format: &str) -> Result<String, String> {
        let mut out = String::with_capacity(format.len() + 32);
        let mut rest = format;
        while let Some(open) = rest.find('[') {
            let Some((inner, after)) = optional_part(&rest[open + 1..]) else {
                break;
            };
            out.push_str(&self.expand_plain(&rest[..open], format)?);
            let all_set = used(inner)
                .iter()
                .all(|k| self.0.get(k).is_some_and(|v| !v.is_empty()));
            let expanded = self.expand_plain(inner, format)?;
            if all_set {
                out.push_str(&expanded);
            }
            rest = after;
        }
        out.push_str(&self.expand_plain(rest, format)?);
        Ok(out)
    }

    /// Expands `{name}`s in `part` of `format` (for messages).
    fn expand_plain(&self, part: &str, format: &str) -> Result<String, String> {
        let mut out = String::with_capacity(part.len() + 32);
        let mut rest = part;
        while let Some(open) = rest.find(['{', '}']) {
            out.push_str(&rest[..open]);
            if rest[open..].starts_with('}') {
                return Err(format!("unbalanced '}}' in \"{format}\""));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in \"{format}\""))?;
            let key = &after[..close];
            match self.0.get(key) {
                Some(value) => out.push_str(value),
                None => {
                    let known: Vec<String> = self.0.keys().map(|k| format!("{{{k}}}")).collect();
                    return Err(format!(
                        "unknown placeholder {{{key}}} in \"{format}\"; known: {}",
                        known.join(", ")
                    ));
                }
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// After an opening `[`: the optional part up to the matching `]` and the text after it, when
/// the part holds a placeholder (otherwise the bracket is literal text).
fn optional_part(after_open: &str) -> Option<(&str, &str)> {
    let close = after_open.find(']')?;
    let inner = &after_open[..close];
    if inner.contains('[') || !inner.contains('{') {
        return None;
    }
    Some((inner, &after_open[close + 1..]))
}

/// The placeholder names a format uses, in order of appearance (unknown ones included).
pub fn used(format: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = format;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                names.push(&after[..close]);
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars::new()
            .with("domain", "messaging")
            .with("product", "events")
    }

    #[test]
    fn expands_known_placeholders() {
        assert_eq!(
            vars().expand("{domain}-{product}-x").unwrap(),
            "messaging-events-x"
        );
        assert_eq!(vars().expand("plain").unwrap(), "plain");
    }

    #[test]
    fn rejects_unknown_and_unbalanced() {
        assert!(vars()
            .expand("{prodcut}")
            .unwrap_err()
            .contains("{prodcut}"));
        assert!(vars().expand("{domain").unwrap_err().contains("unclosed"));
        assert!(vars().expand("domain}").unwrap_err().contains("unbalanced"));
    }

    #[test]
    fn optional_parts_need_every_placeholder_set() {
        let with = vars().with("stage", "dev");
        let without = vars().with("stage", "");
        assert_eq!(
            with.expand("acme-{domain}[-{stage}]").unwrap(),
            "acme-messaging-dev"
        );
        assert_eq!(
            without.expand("acme-{domain}[-{stage}]").unwrap(),
            "acme-messaging"
        );
        assert_eq!(
            without.expand("{domain}[-{stage}]-{product}").unwrap(),
            "messaging-events"
        );
        assert_eq!(
            without.expand("[{domain}-]{product}[_{stage}]").unwrap(),
            "messaging-events"
        );
        // Literal brackets stay; unknown placeholders inside are still errors.
        assert_eq!(without.expand("a[0]").unwrap(), "a[0]");
        assert!(without
            .expand("[-{stgae}]")
            .unwrap_err()
            .contains("{stgae}"));
    }

    #[test]
    fn lists_used_placeholders() {
        assert_eq!(used("{a}-{b}-c"), vec!["a", "b"]);
    }
}
