//! Thread identity: how a reply finds its ticket, even after SES rewrites the
//! Message-ID of what we sent.
//!
//! - The Reply-To of everything we send is a signed plus address,
//!   `layanan+JIP-2026-000123.<sig>@<domain>`.
//! - Our Message-IDs carry the ticket number and a signature,
//!   `<loket.JIP-2026-000123.<key>.<sig>@<domain>>`, and we repeat ours in `References`
//!   (SES replaces the `Message-ID` header, but mail clients copy `References`).
//! - Signatures are HMAC-SHA256 of the ticket number under the deployment's secret, so
//!   neither can be forged to attach mail to someone else's ticket.
//!
//! Status tokens (the requester's key to the status page) are hashed here too.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ticket::TicketNumber;

type HmacSha256 = Hmac<Sha256>;

/// Hex characters of a signature: 48 bits, checked per ticket number.
const SIG_LEN: usize = 12;

/// The deployment's signing secret for thread identity.
#[derive(Clone)]
pub struct ThreadKeys {
    secret: Vec<u8>,
}

impl std::fmt::Debug for ThreadKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadKeys(..)")
    }
}

impl ThreadKeys {
    /// At least 16 bytes of secret; shorter secrets are refused.
    pub fn new(secret: impl Into<Vec<u8>>) -> Option<ThreadKeys> {
        let secret = secret.into();
        (secret.len() >= 16).then_some(ThreadKeys { secret })
    }

    fn sign(&self, purpose: &str, number: &TicketNumber) -> String {
        // A key of any length is accepted by HMAC; this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(number.as_str().as_bytes());
        hex(&mac.finalize().into_bytes())[..SIG_LEN].to_string()
    }

    fn check(&self, purpose: &str, number: &TicketNumber, sig: &str) -> bool {
        let expected = self.sign(purpose, number);
        expected.as_bytes().ct_eq(sig.to_ascii_lowercase().as_bytes()).into()
    }

    /// `layanan+JIP-2026-000123.<sig>@domain` for the service address `layanan@domain`.
    pub fn plus_address(&self, service_address: &str, number: &TicketNumber) -> String {
        let (local, domain) = service_address.split_once('@').unwrap_or((service_address, ""));
        format!("{local}+{number}.{}@{domain}", self.sign("reply-to", number))
    }

    /// The ticket of a signed plus address at our service address, if the signature holds.
    pub fn ticket_of_address(&self, service_address: &str, address: &str) -> Option<TicketNumber> {
        let (our_local, our_domain) = service_address.split_once('@')?;
        let (local, domain) = address.trim().split_once('@')?;
        if !domain.eq_ignore_ascii_case(our_domain) {
            return None;
        }
        let tag = local.strip_prefix(our_local).or_else(|| {
            local.to_ascii_lowercase().strip_prefix(&our_local.to_ascii_lowercase()).map(|_| &local[our_local.len()..])
        })?;
        let (number, sig) = tag.strip_prefix('+')?.rsplit_once('.')?;
        let number: TicketNumber = number.parse().ok()?;
        self.check("reply-to", &number, sig).then_some(number)
    }

    /// Our Message-ID (without angle brackets) for a mail about a ticket; `key` tells the
    /// mails of one ticket apart (e.g. `ack`, `e7-closed`) and must be stable for the
    /// same mail, so a resend carries the same id.
    pub fn message_id(&self, domain: &str, number: &TicketNumber, key: &str) -> String {
        let key: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
        format!("loket.{number}.{key}.{}@{domain}", self.sign("message-id", number))
    }

    /// The ticket one of our Message-IDs belongs to, if it is ours and its signature holds.
    pub fn ticket_of_message_id(&self, domain: &str, id: &str) -> Option<TicketNumber> {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let (local, id_domain) = id.rsplit_once('@')?;
        if !id_domain.eq_ignore_ascii_case(domain) {
            return None;
        }
        let rest = local.strip_prefix("loket.")?;
        let number: TicketNumber = rest.get(..15)?.parse().ok()?;
        let (_, sig) = rest.rsplit_once('.')?;
        self.check("message-id", &number, sig).then_some(number)
    }
}

impl ThreadKeys {
    /// The code that lets a staff member decide a step by email: bound to the ticket, the
    /// step and its visit (so a note or an auto-reply meanwhile leaves it valid, and it
    /// ends with the decision), e.g. `KODE-7-1a2b3c4d5e6f`.
    pub fn decision_code(&self, number: &TicketNumber, step: &str, visit: u64) -> String {
        format!("KODE-{visit}-{}", self.sign(&format!("decision:{step}:{visit}"), number))
    }

    /// The signature of a one-time decision link: bound to the ticket, the step and its
    /// visit, the outcome and the staff member it was sent to.
    pub fn decision_link_sig(
        &self,
        number: &TicketNumber,
        step: &str,
        visit: u64,
        outcome: &str,
        staff_id: &str,
    ) -> String {
        self.sign(&format!("link:{step}:{visit}:{outcome}:{staff_id}"), number)
    }

    pub fn check_decision_link(
        &self,
        number: &TicketNumber,
        step: &str,
        visit: u64,
        outcome: &str,
        staff_id: &str,
        sig: &str,
    ) -> bool {
        self.check(&format!("link:{step}:{visit}:{outcome}:{staff_id}"), number, sig)
    }

    /// A signed time stamp for a form (`<unix seconds>.<sig>`): proves when the form was
    /// served, so a submission that comes back too fast can be told from a person's.
    pub fn form_stamp(&self, at: jiff::Timestamp) -> String {
        let secs = at.as_second();
        format!("{secs}.{}", self.sign_text("form", &secs.to_string()))
    }

    /// When a stamp made by [`Self::form_stamp`] was made; `None` if it is not ours.
    pub fn check_form_stamp(&self, stamp: &str) -> Option<jiff::Timestamp> {
        let (secs, sig) = stamp.split_once('.')?;
        let expected = self.sign_text("form", secs);
        let ok: bool = expected.as_bytes().ct_eq(sig.as_bytes()).into();
        if ok { jiff::Timestamp::from_second(secs.parse().ok()?).ok() } else { None }
    }

    /// A full-length (256-bit) signature of `text` for `purpose` (e.g. the staff
    /// console's session cookie).
    pub fn sign_for(&self, purpose: &str, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(b"full:");
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(text.as_bytes());
        hex(&mac.finalize().into_bytes())
    }

    /// A short (80-bit) tag of `text` for `purpose`, for names that carry their own proof
    /// (a document's storage key).
    pub fn tag_for(&self, purpose: &str, text: &str) -> String {
        self.sign_for(purpose, text)[..20].to_string()
    }

    /// Whether `tag` is [`Self::tag_for`] of `text` for `purpose`, in constant time.
    pub fn check_tag_for(&self, purpose: &str, text: &str, tag: &str) -> bool {
        self.tag_for(purpose, text).as_bytes().ct_eq(tag.as_bytes()).into()
    }

    /// Whether `sig` is [`Self::sign_for`] of `text` for `purpose`, in constant time.
    pub fn check_for(&self, purpose: &str, text: &str, sig: &str) -> bool {
        self.sign_for(purpose, text).as_bytes().ct_eq(sig.as_bytes()).into()
    }

    fn sign_text(&self, purpose: &str, text: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable_hmac());
        mac.update(purpose.as_bytes());
        mac.update(b":");
        mac.update(text.as_bytes());
        hex(&mac.finalize().into_bytes())[..SIG_LEN].to_string()
    }

    /// The CSRF field of a ticket's status-page forms, bound to the ticket and its
    /// status token (by its hash).
    pub fn csrf(&self, number: &TicketNumber, token_hash: &str) -> String {
        self.sign(&format!("csrf:{token_hash}"), number)
    }

    pub fn check_csrf(&self, number: &TicketNumber, token_hash: &str, value: &str) -> bool {
        self.check(&format!("csrf:{token_hash}"), number, value)
    }

    /// The version a decision code found in `text` was made for, if one is valid for the
    /// ticket and step (codes for other steps or tickets are ignored).
    pub fn find_decision_code(&self, text: &str, number: &TicketNumber, step: &str) -> Option<u64> {
        let mut rest = text;
        while let Some(i) = rest.find("KODE-") {
            let candidate = &rest[i + 5..];
            let token: String = candidate.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            if let Some((version, sig)) = token.split_once('-')
                && let Ok(version) = version.parse::<u64>()
                && self.check(&format!("decision:{step}:{version}"), number, sig)
            {
                return Some(version);
            }
            rest = &rest[i + 5..];
        }
        None
    }
}

#[cold]
fn unreachable_hmac() -> HmacSha256 {
    // HMAC-SHA256 takes keys of any length; `new_from_slice` only fails for fixed-size MACs.
    panic!("HMAC-SHA256 refused a key")
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// The stored form of a status token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Compares a presented token with the stored hash in constant time.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    token_hash(token).as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Encodes 16+ random bytes (from the caller's CSPRNG) as a URL-safe token.
pub fn encode_token(random: &[u8]) -> String {
    hex(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ThreadKeys {
        ThreadKeys::new(b"0123456789abcdef-test-secret".to_vec()).expect("long enough")
    }

    fn number() -> TicketNumber {
        "JIP-2026-000123".parse().expect("number")
    }

    #[test]
    fn plus_addresses_round_trip_and_refuse_forgeries() {
        let k = keys();
        let addr = k.plus_address("layanan@kominfo.example.go.id", &number());
        assert!(addr.starts_with("layanan+JIP-2026-000123."), "{addr}");
        assert_eq!(k.ticket_of_address("layanan@kominfo.example.go.id", &addr), Some(number()));
        // Mail systems may lower-case the local part.
        assert_eq!(k.ticket_of_address("layanan@kominfo.example.go.id", &addr.to_lowercase()), Some(number()));
        let forged = addr.replace("000123", "000124");
        assert_eq!(k.ticket_of_address("layanan@kominfo.example.go.id", &forged), None);
        assert_eq!(
            k.ticket_of_address("layanan@kominfo.example.go.id", &addr.replace("example.go.id", "evil.test")),
            None
        );
        let other = ThreadKeys::new(b"another-secret-0123456789".to_vec()).expect("key");
        assert_eq!(other.ticket_of_address("layanan@kominfo.example.go.id", &addr), None);
        assert!(ThreadKeys::new(b"short".to_vec()).is_none());
    }

    #[test]
    fn message_ids_carry_a_signed_ticket() {
        let k = keys();
        let id = k.message_id("kominfo.example.go.id", &number(), "e7 closed");
        assert!(id.starts_with("loket.JIP-2026-000123.e7-closed."), "{id}");
        assert_eq!(k.ticket_of_message_id("kominfo.example.go.id", &format!("<{id}>")), Some(number()));
        assert_eq!(k.ticket_of_message_id("kominfo.example.go.id", "<abc@kominfo.example.go.id>"), None);
        assert_eq!(k.ticket_of_message_id("kominfo.example.go.id", "<0100018c@email.amazonses.com>"), None);
        let forged = id.replace("000123", "000777");
        assert_eq!(k.ticket_of_message_id("kominfo.example.go.id", &forged), None);
    }

    #[test]
    fn decision_codes_are_bound_to_ticket_step_and_visit() {
        let k = keys();
        let code = k.decision_code(&number(), "keputusan-kadis", 7);
        let reply = format!("SETUJU\n\n> Kode keputusan: {code}\n");
        assert_eq!(k.find_decision_code(&reply, &number(), "keputusan-kadis"), Some(7));
        assert_eq!(k.find_decision_code(&reply, &number(), "analisis"), None);
        let other: TicketNumber = "JIP-2026-000124".parse().expect("number");
        assert_eq!(k.find_decision_code(&reply, &other, "keputusan-kadis"), None);
        assert_eq!(k.find_decision_code(&reply.replace("KODE-7", "KODE-8"), &number(), "keputusan-kadis"), None);
        assert_eq!(k.find_decision_code("no code here", &number(), "keputusan-kadis"), None);
    }

    #[test]
    fn form_stamps_round_trip_and_refuse_forgeries() {
        let k = keys();
        let at = jiff::Timestamp::from_second(1_795_000_000).expect("t");
        let stamp = k.form_stamp(at);
        assert_eq!(k.check_form_stamp(&stamp), Some(at));
        assert_eq!(k.check_form_stamp(&stamp.replace("1795000000", "1795000100")), None);
        assert_eq!(k.check_form_stamp("nonsense"), None);
    }

    #[test]
    fn tokens_are_hashed_and_compared() {
        let token = encode_token(&[7u8; 16]);
        assert_eq!(token.len(), 32);
        let stored = token_hash(&token);
        assert_ne!(stored, token);
        assert!(token_matches(&token, &stored));
        assert!(!token_matches("0707", &stored));
    }
}
