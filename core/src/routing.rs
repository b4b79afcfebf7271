//! Send-connector choice, shared by the engine's router and the queue
//! cmdlets (which must show the same next hop the engine will use): the
//! enabled connector with the most specific matching address space wins, then
//! the lowest cost, then the name (for determinism).

use crate::model::SendConnector;
use crate::types::AddressSpace;

/// The best-matching address space of `c` for `domain`, if any.
fn best_space<'a>(c: &'a SendConnector, domain: &str) -> Option<&'a AddressSpace> {
    c.address_spaces
        .iter()
        .filter(|s| s.domain.matches(domain))
        .max_by(|a, b| {
            a.domain
                .specificity()
                .cmp(&b.domain.specificity())
                .then(b.cost.cmp(&a.cost))
        })
}

/// The enabled connector for `domain` (see the module docs), if any.
pub fn select_connector<'a>(
    domain: &str,
    connectors: &'a [SendConnector],
) -> Option<&'a SendConnector> {
    // U-labels route like their A-labels (crate::idn).
    let domain = crate::idn::comparison_key(domain.trim_end_matches('.'));
    connectors
        .iter()
        .filter(|c| c.enabled)
        .filter_map(|c| best_space(c, &domain).map(|s| (c, s)))
        .min_by(|(ca, sa), (cb, sb)| {
            sb.domain
                .specificity()
                .cmp(&sa.domain.specificity())
                .then(sa.cost.cmp(&sb.cost))
                .then_with(|| {
                    ca.name
                        .to_ascii_lowercase()
                        .cmp(&cb.name.to_ascii_lowercase())
                })
                .then_with(|| ca.name.cmp(&cb.name))
        })
        .map(|(c, _)| c)
}
