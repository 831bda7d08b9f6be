//! `{placeholder}` expansion in template formats (`{organization}-{domain}-{product}-{layer}`).

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

    /// Expands every `{name}` in `format`. Unknown names and unbalanced braces are errors.
    pub fn expand(&self, format: &str) -> Result<String, String> {
        let mut out = String::with_capacity(format.len() + 32);
        let mut rest = format;
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
    fn lists_used_placeholders() {
        assert_eq!(used("{a}-{b}-c"), vec!["a", "b"]);
    }
}
