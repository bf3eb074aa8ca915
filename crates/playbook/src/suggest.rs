//! "Did you mean" suggestions for misspelt keys and names.

/// The candidate closest to `word`, when one is close enough to be a likely typo.
pub(crate) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lowered = word.to_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let score = strsim::jaro_winkler(&lowered, &candidate.to_lowercase());
            let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_lowercase());
            (candidate, score, distance)
        })
        .filter(|(candidate, score, distance)| {
            let longest = candidate.chars().count().max(word.chars().count());
            *distance < longest && (*distance <= (longest / 3).max(1) || *score >= 0.9)
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(candidate, _, _)| candidate)
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_words_only() {
        let keys = ["timeout", "interval", "until_percent"];
        assert_eq!(did_you_mean("tmeout", keys), Some("timeout"));
        assert_eq!(did_you_mean("until_percnt", keys), Some("until_percent"));
        assert_eq!(did_you_mean("banana", keys), None);
    }
}
