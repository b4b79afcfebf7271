//! "Did you mean ...?": the nearest name to a typo, shared by the shell
//! language's command and parameter checks.

/// The candidate nearest to `typed` (case-insensitive), if it is close enough
/// to be a plausible typo: Jaro-Winkler similarity of at least 0.8, or a
/// Damerau-Levenshtein distance of at most a third of the typed length.
/// Ties keep the first candidate.
pub fn nearest<'a>(typed: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let typed_lower = typed.to_lowercase();
    let max_distance = (typed_lower.chars().count() / 3).max(1);
    let mut best: Option<(f64, &'a str)> = None;
    for c in candidates {
        let lower = c.to_lowercase();
        let score = strsim::jaro_winkler(&typed_lower, &lower);
        let close =
            score >= 0.8 || strsim::damerau_levenshtein(&typed_lower, &lower) <= max_distance;
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `"; did you mean X?"` for the nearest candidate, or nothing.
pub fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    prefix: &str,
) -> String {
    nearest(typed, candidates)
        .map(|c| format!("; did you mean {prefix}{c}?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_transposition_and_a_missing_letter() {
        let params = ["DomainSecureEnabled", "Comment", "Port", "RequireTLS"];
        assert_eq!(
            nearest("DomainSecureEnabeld", params),
            Some("DomainSecureEnabled")
        );
        assert_eq!(nearest("Commnt", params), Some("Comment"));
        assert_eq!(nearest("requiretls", params), Some("RequireTLS"));
    }

    #[test]
    fn says_nothing_for_unrelated_names() {
        assert_eq!(nearest("Frobnicate", ["Port", "Comment"]), None);
        assert_eq!(did_you_mean("zz", ["Port"], "-"), "");
        assert_eq!(
            did_you_mean("Get-SendConector", ["Get-SendConnector"], ""),
            "; did you mean Get-SendConnector?"
        );
    }
}
