//! "Did you mean": the closest of a set of known names to what a user wrote, for messages about
//! unknown fields, time zones and the like.

/// The candidate closest to `word` within `max` edits (ignoring ASCII case). Distances are
/// optimal string alignment, so a swapped pair of letters (the commonest typo) is one edit.
pub fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    max: usize,
) -> Option<&'a str> {
    // Long words are never a typo of a short name; skipping them keeps the quadratic distance
    // cheap on hostile input.
    if word.len() > 64 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.len().abs_diff(word.len()) <= max)
        .map(|c| (strsim::osa_distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn suggests_within_the_edit_budget() {
        let names = ["owner", "outputs", "pipelines"];
        assert_eq!(closest("ownr", names, 3), Some("owner"));
        assert_eq!(closest("Pipleines", names, 3), Some("pipelines"));
        assert_eq!(closest("zzzzzzzz", names, 3), None);
        assert_eq!(closest(&"x".repeat(100), names, 3), None);
    }
}
