//! Pure decisions of email intake: which procedure a new request is for, which ticket a
//! reply belongs to, what the requester actually wrote, and whether it confirms.

use mail_parser::{Address, Message};

use crate::agency::Agency;
use crate::mail::thread::ThreadKeys;
use crate::sop::{Catalog, Procedure};
use crate::ticket::TicketNumber;

/// How a message was tied to a ticket, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ThreadedBy {
    /// A signed plus address (our Reply-To) among the recipients.
    PlusAddress,
    /// One of our signed Message-IDs in In-Reply-To or References.
    MessageId,
    /// A subject tag `[#…]`; only valid when the sender is the ticket's requester.
    SubjectTag,
}

impl ThreadedBy {
    pub fn label(self) -> &'static str {
        match self {
            ThreadedBy::PlusAddress => "plus address",
            ThreadedBy::MessageId => "message id",
            ThreadedBy::SubjectTag => "subject tag",
        }
    }
}

fn addresses<'a>(list: Option<&'a Address<'a>>) -> impl Iterator<Item = &'a str> {
    list.into_iter().flat_map(|a| a.iter()).filter_map(|m| m.address())
}

/// Every ticket the message points at, strongest evidence first. SES-assigned
/// Message-IDs (which we cannot sign) are returned separately for a store lookup.
pub fn thread_candidates(
    message: &Message<'_>,
    keys: &ThreadKeys,
    agency: &Agency,
) -> (Vec<(TicketNumber, ThreadedBy)>, Vec<String>) {
    let mut found = Vec::new();
    let recipients = addresses(message.to()).chain(addresses(message.cc()));
    let delivered = message
        .headers_raw()
        .filter(|(name, _)| name.eq_ignore_ascii_case("Delivered-To") || name.eq_ignore_ascii_case("X-Original-To"))
        .map(|(_, v)| v.trim().trim_start_matches('<').trim_end_matches('>'));
    for address in recipients.chain(delivered) {
        if let Some(n) = keys.ticket_of_address(&agency.service_address, address) {
            found.push((n, ThreadedBy::PlusAddress));
        }
    }
    let mut foreign = Vec::new();
    let ids = message
        .in_reply_to()
        .as_text_list()
        .into_iter()
        .flatten()
        .chain(message.references().as_text_list().into_iter().flatten());
    for id in ids {
        match keys.ticket_of_message_id(&agency.mail_domain, id) {
            Some(n) => found.push((n, ThreadedBy::MessageId)),
            None => foreign.push(id.trim().trim_start_matches('<').trim_end_matches('>').to_string()),
        }
    }
    if let Some(n) = message.subject().and_then(subject_tag) {
        found.push((n, ThreadedBy::SubjectTag));
    }
    found.sort_by_key(|(_, by)| *by);
    found.dedup_by(|a, b| a.0 == b.0);
    (found, foreign)
}

/// The ticket number of a subject tag `[#JIP-2026-000123]`.
pub fn subject_tag(subject: &str) -> Option<TicketNumber> {
    let start = subject.find("[#")?;
    let rest = &subject[start + 2..];
    let end = rest.find(']')?;
    rest[..end].trim().parse().ok()
}

/// Scores each of the agency's procedures by keyword hits in the subject (counted twice)
/// and the body; the best wins, ties go to the order of the profile. `None` means no
/// keyword matched: the request goes to triage.
pub fn pick_procedure<'c>(agency: &Agency, catalog: &'c Catalog, subject: &str, body: &str) -> Option<&'c Procedure> {
    let subject = subject.to_lowercase();
    let body = body.chars().take(20_000).collect::<String>().to_lowercase();
    let mut best: Option<(usize, &Procedure)> = None;
    for procedure in agency.procedures(catalog) {
        let score: usize = procedure
            .keywords
            .iter()
            .map(|k| 2 * usize::from(contains_word(&subject, k)) + usize::from(contains_word(&body, k)))
            .sum();
        if score > 0 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, procedure));
        }
    }
    best.map(|(_, p)| p)
}

/// Whether `needle` occurs in `text` at word boundaries.
fn contains_word(text: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = text[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before = text[..start].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let after = text[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before && after {
            return true;
        }
        from = start + needle.len().max(1);
        if from >= text.len() {
            break;
        }
    }
    false
}

/// What the writer of a reply wrote: the text above the quoted message.
pub fn reply_text(body: &str) -> String {
    let mut out = Vec::new();
    for line in body.lines() {
        let trimmed = line.trim();
        let lower = trimmed.to_lowercase();
        let quote_intro = (lower.starts_with("on ") && lower.ends_with("wrote:"))
            || (lower.starts_with("pada ") && (lower.ends_with("menulis:") || lower.ends_with("wrote:")))
            || lower.starts_with("-----original message-----")
            || lower.starts_with("-----pesan asli-----")
            || lower.starts_with("________________")
            || (lower.starts_with("from:") && !out.is_empty());
        if quote_intro {
            break;
        }
        if trimmed.starts_with('>') {
            continue;
        }
        out.push(line.trim_end());
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    while out.first().is_some_and(|l| l.trim().is_empty()) {
        out.remove(0);
    }
    out.join("\n")
}

/// Whether a requester's reply confirms what a step waits for ("setuju", "ya", "oke"…):
/// the first words of the reply, not a "tidak setuju" or "belum".
pub fn confirms(reply: &str) -> bool {
    let first: String = reply.lines().find(|l| !l.trim().is_empty()).unwrap_or_default().to_lowercase();
    let words: Vec<&str> = first.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).take(6).collect();
    const NO: [&str; 6] = ["tidak", "belum", "jangan", "bukan", "no", "not"];
    const YES: [&str; 12] =
        ["setuju", "ya", "iya", "oke", "ok", "okay", "baik", "bersedia", "sepakat", "konfirmasi", "yes", "agree"];
    if words.iter().any(|w| NO.contains(w)) {
        return false;
    }
    words.iter().take(3).any(|w| YES.contains(w))
}

/// Whether a reply to a closed ticket only thanks (and so must not reopen it): short, a
/// word of thanks, and no word saying something is still wrong ("belum", "masih",
/// "gagal"...). Anything else from the requester reopens the ticket within the window.
pub fn only_thanks(reply: &str) -> bool {
    let text = reply.trim().to_lowercase();
    if text.is_empty() || text.chars().count() > 160 {
        return false;
    }
    let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    const THANKS: [&str; 9] = ["terimakasih", "makasih", "trims", "tks", "thanks", "thank", "thx", "nuwun", "suwun"];
    const TROUBLE: [&str; 21] = [
        "belum", "tidak", "tak", "masih", "gagal", "error", "eror", "mati", "putus", "lambat", "rusak", "gangguan",
        "kendala", "masalah", "mohon", "tolong", "not", "still", "again", "down", "problem",
    ];
    let thanked = text.contains("terima kasih") || words.iter().any(|w| THANKS.contains(w));
    thanked && !words.iter().any(|w| TROUBLE.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thanks_and_more_than_thanks() {
        for thanks in [
            "Terima kasih banyak, Pak.",
            "Sudah bisa, terima kasih sekali lagi",
            "makasih ya",
            "Thanks!",
            "Terimakasih atas bantuannya.\n\nSalam\nSari",
        ] {
            assert!(only_thanks(thanks), "{thanks}");
        }
        for more in [
            "Terima kasih, tapi internet masih mati",
            "Belum bisa, terima kasih",
            "Mohon dicek lagi, terima kasih",
            "Internetnya putus lagi",
            "",
            &format!("Terima kasih. {}", "Kami ingin menambah titik akses di lantai dua. ".repeat(4)),
        ] {
            assert!(!only_thanks(more), "{more}");
        }
    }

    #[test]
    fn confirmations_in_indonesian_and_english() {
        for yes in
            ["Setuju", "ya, jadwal cocok", "OKE siap", "Baik pak, kami bersedia", "Yes, agreed", "setuju.\n\n> jadwal"]
        {
            assert!(confirms(yes), "{yes}");
        }
        for no in
            ["Tidak setuju, mohon diganti", "belum bisa", "Jadwal hari Senin kurang cocok", "", "Mohon maaf, bukan ya"]
        {
            assert!(!confirms(no), "{no}");
        }
    }

    #[test]
    fn reply_text_drops_the_quote() {
        let body = "Setuju, silakan datang.\n\nSalam\nBudi\n\nPada Sen, 23 Nov 2026 pukul 09.00, Layanan menulis:\n> Jadwal: Rabu\n> dst";
        assert_eq!(reply_text(body), "Setuju, silakan datang.\n\nSalam\nBudi");
        assert_eq!(reply_text("> only quote\n"), "");
        assert_eq!(reply_text("Hi\nOn Mon, Nov 23, 2026 at 9:00 AM Layanan <x@y> wrote:\n> q"), "Hi");
    }

    #[test]
    fn subject_tags() {
        assert_eq!(
            subject_tag("Re: [#GJI-2026-000042] Internet mati").map(|n| n.to_string()).as_deref(),
            Some("GJI-2026-000042")
        );
        assert_eq!(subject_tag("[#nope]"), None);
        assert_eq!(subject_tag("GJI-2026-000042"), None);
    }

    #[test]
    fn words_match_at_boundaries() {
        assert!(contains_word("internet mati sejak pagi", "internet mati"));
        assert!(!contains_word("pemeliharaanx", "pemeliharaan"));
        assert!(contains_word("ups,", "ups"));
        assert!(!contains_word("groups", "ups"));
    }
}
