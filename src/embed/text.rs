//! The text embedded for a `memory.ledger` entry, as the TypeScript server builds it
//! (`buildEmbeddingText`): the non-empty sections title, input, actions (joined with ". "),
//! lessons (". "), decisions (`choice: reason`, joined with ". ") and tags (" "), one per
//! line. Files, status, entry type and thinking insights are not embedded.

use crate::events::types::MemoryLedgerPayload;

/// The embedding text of one ledger entry; empty when every section is empty.
pub fn build_embedding_text(p: &MemoryLedgerPayload) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !p.title.is_empty() {
        parts.push(p.title.clone());
    }
    if !p.input.is_empty() {
        parts.push(p.input.clone());
    }
    if !p.actions.is_empty() {
        parts.push(p.actions.join(". "));
    }
    if !p.lessons.is_empty() {
        parts.push(p.lessons.join(". "));
    }
    if !p.decisions.is_empty() {
        let decisions: Vec<String> =
            p.decisions.iter().map(|d| format!("{}: {}", d.choice, d.reason)).collect();
        parts.push(decisions.join(". "));
    }
    if !p.tags.is_empty() {
        parts.push(p.tags.join(" "));
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::types::LedgerDecision;

    fn entry() -> MemoryLedgerPayload {
        MemoryLedgerPayload {
            title: "Add login".into(),
            input: "User wants OAuth".into(),
            actions: vec!["Wrote flow".into(), "Added test".into()],
            lessons: vec!["PKCE needs S256".into()],
            decisions: vec![LedgerDecision {
                choice: "PKCE".into(),
                reason: "no secret".into(),
                ..Default::default()
            }],
            tags: vec!["auth".into(), "oauth".into()],
            entry_type: "feature".into(),
            status: "completed".into(),
            thinking_insights: vec!["not embedded".into()],
            ..Default::default()
        }
    }

    #[test]
    fn sections_in_order_one_per_line() {
        assert_eq!(
            build_embedding_text(&entry()),
            "Add login\nUser wants OAuth\nWrote flow. Added test\nPKCE needs S256\nPKCE: no secret\nauth oauth"
        );
    }

    #[test]
    fn empty_sections_are_left_out() {
        let p = MemoryLedgerPayload { title: "Only".into(), tags: vec!["t".into()], ..Default::default() };
        assert_eq!(build_embedding_text(&p), "Only\nt");
        assert_eq!(build_embedding_text(&MemoryLedgerPayload::default()), "");
    }
}
