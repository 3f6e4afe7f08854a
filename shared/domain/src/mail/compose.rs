//! The mail Loket sends, composed as raw MIME (with `mail-builder`) so that threading
//! and loop-defence headers are ours and tested here:
//!
//! - `From` the agency's service address; `Reply-To` the ticket's signed plus address;
//! - subject tag `[#JIP-2026-000123]`;
//! - our own Message-ID, repeated in `References` after the acknowledgement's id, and
//!   the ticket number in `X-Loket-Ticket` (SES replaces `Message-ID`);
//! - `Auto-Submitted: auto-replied` (answers to a requester's mail) or `auto-generated`
//!   (notifications), and `X-Auto-Response-Suppress: All`, so that well-behaved systems
//!   never answer us.

use jiff::Timestamp;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use serde::{Deserialize, Serialize};

use crate::agency::Agency;
use crate::mail::classify::LOOP_HEADER;
use crate::mail::thread::ThreadKeys;
use crate::roles::Role;
use crate::sop::{Milestone, Procedure};
use crate::ticket::{StaffRef, Ticket};

/// A staff member's id as it stands in a mail's key: letters and digits.
fn recipient_key(to: &StaffRef) -> String {
    to.id.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

/// What a mail is, for the outbox and the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    Acknowledgement,
    Milestone,
    StaffNotice,
    Escalation,
    Refusal,
}

/// A composed mail, ready for `SendRawEmail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    /// Stable key of this mail within its ticket (also in its Message-ID).
    pub key: String,
    pub kind: MailKind,
    /// Our Message-ID, without angle brackets.
    pub message_id: String,
    pub to: Vec<String>,
    pub subject: String,
    pub raw: Vec<u8>,
}

/// Where links point: the public pages and the staff console.
#[derive(Debug, Clone)]
pub struct Links {
    /// Base URL of the public pages (form, status), without a trailing slash.
    pub public_base: String,
    /// Base URL of the staff console, without a trailing slash.
    pub console_base: String,
}

/// Everything needed to compose a ticket's mail.
#[derive(Debug, Clone, Copy)]
pub struct Composer<'a> {
    pub agency: &'a Agency,
    pub keys: &'a ThreadKeys,
    pub links: &'a Links,
}

fn local_time(agency: &Agency, at: Timestamp) -> String {
    let dt = agency.calendar.local(at);
    let month = crate::calendar::MONTH_NAMES.get(usize::try_from(dt.month() - 1).unwrap_or(0)).copied().unwrap_or("");
    format!("{} {} {} pukul {:02}.{:02} {}", dt.day(), month, dt.year(), dt.hour(), dt.minute(), agency.zone_label)
}

impl Composer<'_> {
    /// The Message-ID of a ticket's acknowledgement: the root of its thread.
    pub fn root_id(&self, ticket: &Ticket) -> String {
        self.keys.message_id(&self.agency.mail_domain, &ticket.number, "ack")
    }

    pub fn status_link(&self, ticket: &Ticket, token: &str) -> String {
        format!("{}/status/{}?t={token}", self.links.public_base, ticket.number)
    }

    /// A one-time decision link for one staff member and one outcome.
    pub fn decision_link(&self, ticket: &Ticket, step: &str, outcome: &str, staff_id: &str) -> String {
        let visit = ticket.current_visit();
        let sig = self.keys.decision_link_sig(&ticket.number, step, visit, outcome, staff_id);
        format!(
            "{}/keputusan/{}?s={step}&o={outcome}&v={visit}&p={staff_id}&k={sig}",
            self.links.public_base, ticket.number
        )
    }

    pub fn console_link(&self, ticket: &Ticket) -> String {
        format!("{}/tiket/{}", self.links.console_base, ticket.number)
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        ticket: &Ticket,
        key: &str,
        kind: MailKind,
        to: Vec<String>,
        subject_text: &str,
        body: String,
        auto: &str,
        now: Timestamp,
    ) -> Outgoing {
        let message_id = self.keys.message_id(&self.agency.mail_domain, &ticket.number, key);
        let root = self.root_id(ticket);
        let subject = format!("[#{}] {subject_text}", ticket.number);
        let mut references = vec![root.clone()];
        if message_id != root {
            references.push(message_id.clone());
        }
        let builder = MessageBuilder::new()
            .from(Address::new_address(Some(self.agency.sender_name.as_str()), self.agency.service_address.as_str()))
            .to(Address::new_list(to.iter().map(|a| Address::new_address(None::<&str>, a.as_str())).collect()))
            .reply_to(Address::new_address(
                Some(self.agency.sender_name.as_str()),
                self.keys.plus_address(&self.agency.service_address, &ticket.number),
            ))
            .subject(subject.as_str())
            .message_id(message_id.as_str())
            .date(now.as_second())
            .header(LOOP_HEADER, Raw::new(ticket.number.as_str()))
            .header("Auto-Submitted", Raw::new(auto))
            .header("X-Auto-Response-Suppress", Raw::new("All"))
            .text_body(body);
        let builder = if message_id == root {
            builder
        } else {
            builder.in_reply_to(root.as_str()).references(MessageId::new_list(references.iter().map(String::as_str)))
        };
        // Writing to a Vec cannot fail.
        let raw = builder.write_to_vec().unwrap_or_default();
        Outgoing { key: key.to_string(), kind, message_id, to, subject, raw }
    }

    fn signature(&self) -> String {
        format!(
            "\n\nBalas email ini untuk menambahkan keterangan pada tiket Anda; nomor tiket pada judul email\nmenjaga balasan Anda tetap pada tiket yang sama.\n\nSalam,\n{}\n{}\n",
            self.agency.sender_name, self.agency.name
        )
    }

    /// The acknowledgement of a new request: ticket number, status link, how to reply.
    pub fn acknowledgement(
        &self,
        ticket: &Ticket,
        procedure: &Procedure,
        token: &str,
        now: Timestamp,
    ) -> Option<Outgoing> {
        let to = ticket.requester.email.clone()?;
        let current = ticket.current_step().and_then(|s| procedure.step(s));
        let standard = procedure
            .service_limit
            .as_ref()
            .map(|s| format!("\nStandar waktu layanan: {} kerja.", s.limit.label()))
            .unwrap_or_default();
        let body = format!(
            "Yth. {name},\n\nPermohonan Anda telah kami terima dan dicatat dengan nomor tiket {number}.\n\nLayanan: {service}{standard}\nPerihal: {subject}\nDiterima: {at}\nLangkah berikutnya: {step}\n\nPantau perkembangan tiket Anda di:\n{link}\n\nSimpan tautan tersebut; tautan ini hanya untuk Anda.{sig}",
            name = ticket.requester.name,
            number = ticket.number,
            service = procedure.name,
            subject = ticket.subject,
            at = local_time(self.agency, ticket.created_at),
            step = current.map_or("-", |s| s.public_label.as_str()),
            link = self.status_link(ticket, token),
            sig = self.signature(),
        );
        Some(self.build(
            ticket,
            "ack",
            MailKind::Acknowledgement,
            vec![to],
            &format!("Permohonan diterima: {}", ticket.subject),
            body,
            "auto-replied",
            now,
        ))
    }

    /// A milestone the requester is told about.
    pub fn milestone(
        &self,
        ticket: &Ticket,
        procedure: &Procedure,
        milestone: Milestone,
        event_seq: u64,
        now: Timestamp,
    ) -> Option<Outgoing> {
        let to = ticket.requester.email.clone()?;
        let current = ticket.current_step().and_then(|s| procedure.step(s));
        let (title, text) = match milestone {
            Milestone::Received => ("Permohonan diterima", "Permohonan Anda telah kami terima.".to_string()),
            Milestone::Approved => ("Permohonan disetujui", "Permohonan Anda telah disetujui dan akan ditindaklanjuti oleh tim kami.".to_string()),
            Milestone::ScheduleSet => {
                let when = ticket.fields.get("jadwal_pemasangan").map(String::as_str).unwrap_or("-");
                let confirm = if ticket.is_waiting_on_requester() {
                    "\n\nMohon konfirmasi jadwal tersebut dengan membalas email ini dengan kata SETUJU (atau YA).\nJika jadwal tidak sesuai, balas dengan usulan jadwal lain."
                } else {
                    ""
                };
                ("Jadwal pelaksanaan", format!("Jadwal pelaksanaan untuk permohonan Anda: {when}.{confirm}"))
            }
            Milestone::InfoRequested => {
                let question = ticket
                    .current
                    .as_ref()
                    .and_then(|c| c.waiting.as_ref())
                    .and_then(|w| match &w.reason {
                        crate::ticket::WaitReason::InfoRequested { question } => Some(question.clone()),
                        crate::ticket::WaitReason::RequesterStep => None,
                    })
                    .unwrap_or_else(|| current.map_or_else(String::new, |s| s.public_label.clone()));
                ("Mohon tanggapan Anda", format!("Kami memerlukan tanggapan Anda untuk melanjutkan tiket ini:\n\n{question}\n\nBalas email ini untuk menjawab."))
            }
            Milestone::Postponed => (
                "Permohonan ditunda",
                format!("Permohonan Anda ditunda dengan pertimbangan:\n\n{}", ticket.end_reason.as_deref().unwrap_or("-")),
            ),
            Milestone::PlannedWork => (
                "Dimasukkan dalam program kegiatan",
                format!(
                    "Permasalahan yang Anda laporkan memerlukan penanganan lanjutan dan dimasukkan dalam program kegiatan kami.\n\nKeterangan: {}",
                    ticket.end_reason.as_deref().unwrap_or("-")
                ),
            ),
            Milestone::Closed => ("Tiket ditutup", "Permohonan Anda telah selesai ditangani dan tiket ditutup. Terima kasih.\nBila masih ada kendala, balas email ini dalam 14 hari untuk membuka kembali tiket.".to_string()),
            Milestone::Reopened => ("Tiket dibuka kembali", "Tiket Anda dibuka kembali dan akan ditindaklanjuti.".to_string()),
        };
        let body = format!(
            "Yth. {name},\n\n{text}\n\nNomor tiket: {number}\nLayanan: {service}\nStatus: {status}{step}{sig}",
            name = ticket.requester.name,
            number = ticket.number,
            service = procedure.name,
            status = ticket.status.label(),
            step = current.map(|s| format!("\nLangkah saat ini: {}", s.public_label)).unwrap_or_default(),
            sig = self.signature(),
        );
        let key = format!("e{event_seq}-{}", milestone_key(milestone));
        Some(self.build(ticket, &key, MailKind::Milestone, vec![to], title, body, "auto-generated", now))
    }

    /// Tells staff that work waits for them at a step. A decision step's notice goes to each
    /// decision-maker separately, with their own one-time decision links.
    pub fn staff_notice(
        &self,
        ticket: &Ticket,
        procedure: &Procedure,
        roles: &[Role],
        recipients: &[StaffRef],
        event_seq: u64,
        now: Timestamp,
    ) -> Vec<Outgoing> {
        let step = ticket.current_step().unwrap_or("none");
        let key = format!("e{event_seq}-staff-{step}");
        let decision = ticket.current_step().and_then(|s| procedure.step(s)).is_some_and(|s| s.is_decision());
        if decision {
            recipients
                .iter()
                .filter_map(|r| {
                    let person: String = r.id.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                    self.staff_notice_keyed(
                        ticket,
                        procedure,
                        roles,
                        std::slice::from_ref(r),
                        &format!("{key}-{person}"),
                        now,
                    )
                })
                .collect()
        } else {
            self.staff_notice_keyed(ticket, procedure, roles, recipients, &key, now).into_iter().collect()
        }
    }

    fn staff_notice_keyed(
        &self,
        ticket: &Ticket,
        procedure: &Procedure,
        roles: &[Role],
        recipients: &[StaffRef],
        key: &str,
        now: Timestamp,
    ) -> Option<Outgoing> {
        if recipients.is_empty() {
            return None;
        }
        let step = ticket.current_step().and_then(|s| procedure.step(s))?;
        let due = ticket.due_at().map_or_else(|| "menunggu pemohon".to_string(), |d| local_time(self.agency, d));
        let role_names: Vec<&str> = roles.iter().map(|r| r.label()).collect();
        let decision = if step.is_decision() {
            let words: Vec<String> = step
                .outcomes
                .iter()
                .map(|o| {
                    if o.reason_required {
                        format!("{} <alasan> ({})", o.keyword, o.label)
                    } else {
                        format!("{} ({})", o.keyword, o.label)
                    }
                })
                .collect();
            // One recipient per decision notice: their own links.
            let links: Vec<String> = match recipients {
                [person] => step
                    .outcomes
                    .iter()
                    .map(|o| format!("  {}: {}", o.label, self.decision_link(ticket, &step.id, &o.id, &person.id)))
                    .collect(),
                _ => Vec::new(),
            };
            let links = if links.is_empty() {
                String::new()
            } else {
                format!("\nAtau buka tautan keputusan (sekali pakai, hanya untuk Anda):\n{}\n", links.join("\n"))
            };
            format!(
                "\nAnda dapat memutuskan langsung dengan membalas email ini. Tulis di baris pertama salah satu dari:\n  {}\nBiarkan kode berikut tetap ada dalam balasan: {}\n{links}",
                words.join("\n  "),
                self.keys.decision_code(&ticket.number, &step.id, ticket.current_visit())
            )
        } else {
            String::new()
        };
        let body = format!(
            "Tiket {number} menunggu tindakan {roles}.\n\nLangkah: {no}. {label}\nBatas waktu: {limit} (jatuh tempo {due})\nPemohon: {requester}, {unit}\nPerihal: {subject}\n{decision}\nBuka tiket: {link}\n\n{agency}\n",
            number = ticket.number,
            roles = role_names.join(" / "),
            no = step.no,
            label = step.label,
            limit = step.limit.label(),
            requester = ticket.requester.name,
            unit = ticket.requester.unit,
            subject = ticket.subject,
            link = self.console_link(ticket),
            agency = self.agency.sender_name,
        );
        let to = recipients.iter().map(|s| s.email.clone()).collect();
        Some(self.build(
            ticket,
            key,
            MailKind::StaffNotice,
            to,
            &format!("Menunggu tindakan: {}", step.label),
            body,
            "auto-generated",
            now,
        ))
    }
}

impl Composer<'_> {
    /// Tells a staff member why their reply was not taken as a decision.
    pub fn refusal(&self, ticket: &Ticket, to: &StaffRef, why: &str, event_seq: u64, now: Timestamp) -> Outgoing {
        let body = format!(
            "Yth. {name},\n\nBalasan Anda untuk tiket {number} tidak diproses sebagai keputusan:\n\n  {why}\n\nBalasan Anda dicatat sebagai catatan internal pada tiket. Buka tiket untuk memutuskan:\n{link}\n\n{agency}\n",
            name = to.name,
            number = ticket.number,
            link = self.console_link(ticket),
            agency = self.agency.sender_name,
        );
        self.build(
            ticket,
            &format!("e{event_seq}-refusal"),
            MailKind::Refusal,
            vec![to.email.clone()],
            "Balasan tidak diproses sebagai keputusan",
            body,
            "auto-replied",
            now,
        )
    }
}

fn milestone_key(m: Milestone) -> &'static str {
    match m {
        Milestone::Received => "received",
        Milestone::Approved => "approved",
        Milestone::ScheduleSet => "schedule",
        Milestone::InfoRequested => "info",
        Milestone::Postponed => "postponed",
        Milestone::PlannedWork => "planned",
        Milestone::Closed => "closed",
        Milestone::Reopened => "reopened",
    }
}

impl Composer<'_> {
    /// The mail an applied action implies: a milestone mail to the requester for each
    /// milestone, a notice to the staff of the roles that now have work (`staff` gives
    /// the members of a role), and one to a new assignee.
    pub fn mails_for(
        &self,
        applied: &crate::workflow::Applied,
        procedure: &Procedure,
        staff: &dyn Fn(Role) -> Vec<StaffRef>,
        now: Timestamp,
    ) -> Vec<Outgoing> {
        use crate::workflow::Effect;
        let ticket = &applied.ticket;
        let seq = applied.event.seq;
        let mut out = Vec::new();
        for effect in &applied.effects {
            let mail = match effect {
                // The acknowledgement carries the status link; it is composed at creation.
                Effect::NotifyRequester { milestone: Milestone::Received } => None,
                Effect::NotifyRequester { milestone } => self.milestone(ticket, procedure, *milestone, seq, now),
                Effect::NotifyStaff { roles, .. } => {
                    // Whoever just acted and holds the next step's role carries on with it
                    // (it is in their queue): no mail to them or their colleagues about it.
                    // Mail is the largest part of the running cost (BENCHMARKS.md).
                    let actor = &applied.event.actor;
                    if actor.kind == crate::ticket::ActorKind::Staff && actor.roles.iter().any(|r| roles.contains(r)) {
                        continue;
                    }
                    let mut people: Vec<StaffRef> = roles.iter().flat_map(|r| staff(*r)).collect();
                    people.sort_by(|a, b| a.email.cmp(&b.email));
                    people.dedup_by(|a, b| a.email == b.email);
                    out.extend(self.staff_notice(ticket, procedure, roles, &people, seq, now));
                    None
                }
                Effect::NotifyAssignee { staff: person } => {
                    let roles: Vec<Role> = ticket
                        .current_step()
                        .and_then(|s| procedure.step(s))
                        .map(|s| s.staff_roles())
                        .unwrap_or_default();
                    let key = format!("e{seq}-assigned");
                    self.staff_notice_keyed(ticket, procedure, &roles, std::slice::from_ref(person), &key, now)
                }
            };
            out.extend(mail);
        }
        out
    }
}

impl Composer<'_> {
    /// The warning or escalation mail for one recipient: threaded on its ticket when it is
    /// about one alert, a digest listing every alert otherwise (one mail per recipient per
    /// sweep, not one per late step).
    pub fn alert_mail(&self, to: &StaffRef, alerts: &[&crate::sla::DueAlert], now: Timestamp) -> Option<Outgoing> {
        use crate::escalation::AlertLevel;
        let first = alerts.first()?;
        let mut body = format!("Yth. {},\n\n", to.name);
        body.push_str(if alerts.len() == 1 {
            "Langkah berikut memerlukan perhatian Anda:\n"
        } else {
            "Langkah-langkah berikut memerlukan perhatian Anda:\n"
        });
        for alert in alerts {
            let roles: Vec<&str> = alert.performers.iter().map(|r| r.label()).collect();
            let state = if alert.level == AlertLevel::Warning {
                "akan melewati batas waktu".to_string()
            } else {
                format!("terlambat {}", crate::calendar::describe_working(alert.lateness, self.agency.working_day()))
            };
            let told = if alert.told_before.is_empty() { "-".to_string() } else { alert.told_before.join(", ") };
            body.push_str(&format!(
                "\n{level} — {number}\n  Unit: {unit}\n  Perihal: {subject}\n  Langkah: {what}\n  Pelaksana: {roles}\n  Batas waktu: {due} ({state})\n  Sudah diberi tahu sebelumnya: {told}\n  Buka tiket: {link}/tiket/{number}\n",
                level = alert.level.label(),
                number = alert.number,
                unit = if alert.unit.is_empty() { "-" } else { alert.unit.as_str() },
                subject = alert.subject,
                what = alert.what,
                roles = roles.join(" / "),
                due = local_time(self.agency, alert.due),
                link = self.links.console_base,
            ));
        }
        body.push_str(&format!(
            "\nWaktu dihitung dalam jam kerja {} (hari libur nasional dan cuti bersama tidak dihitung).\n\n{}\n",
            self.agency.zone_label, self.agency.sender_name
        ));

        let recipient_key = recipient_key(to);
        let (number, key, subject, references) = if alerts.len() == 1 {
            let scope = match &first.scope {
                crate::sla::Scope::Step { visit, .. } => format!("v{visit}"),
                crate::sla::Scope::Service { round } => format!("s{round}"),
            };
            let key = format!("alert-{scope}-{}-{recipient_key}", first.level.as_str());
            let subject = format!("[#{}] {}: {}", first.number, first.level.label(), first.what);
            let root = self.keys.message_id(&self.agency.mail_domain, &first.number, "ack");
            (first.number.clone(), key, subject, vec![root])
        } else {
            let key = format!("digest-{}-{recipient_key}", now.as_second());
            let subject = format!("[Loket] {} langkah memerlukan perhatian", alerts.len());
            let mut roots: Vec<String> =
                alerts.iter().map(|a| self.keys.message_id(&self.agency.mail_domain, &a.number, "ack")).collect();
            roots.dedup();
            (first.number.clone(), key, subject, roots)
        };
        let message_id = self.keys.message_id(&self.agency.mail_domain, &number, &key);
        let mut all_refs = references.clone();
        all_refs.push(message_id.clone());
        let loop_value = if alerts.len() == 1 { number.to_string() } else { "digest".to_string() };
        let raw = self
            .staff_mail(to, &subject, &message_id, loop_value, now)
            .in_reply_to(references[0].as_str())
            .references(MessageId::new_list(all_refs.iter().map(String::as_str)))
            .text_body(body)
            .write_to_vec()
            .unwrap_or_default();
        Some(Outgoing { key, kind: MailKind::Escalation, message_id, to: vec![to.email.clone()], subject, raw })
    }

    /// A generated mail to one staff member, not on a ticket's thread (alerts, notices),
    /// with the loop-defence headers; `loop_value` goes in the loop header.
    fn staff_mail<'x>(
        &'x self,
        to: &'x StaffRef,
        subject: &'x str,
        message_id: &'x str,
        loop_value: String,
        now: Timestamp,
    ) -> MessageBuilder<'x> {
        MessageBuilder::new()
            .from(Address::new_address(Some(self.agency.sender_name.as_str()), self.agency.service_address.as_str()))
            .to(Address::new_address(Some(to.name.as_str()), to.email.as_str()))
            .subject(subject)
            .message_id(message_id)
            .date(now.as_second())
            .header(LOOP_HEADER, Raw::new(loop_value))
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .header("X-Auto-Response-Suppress", Raw::new("All"))
    }

    /// Tells an admin what the working-time calendar lacks (no ticket: it is about every
    /// deadline the agency counts).
    pub fn calendar_notice(&self, to: &StaffRef, gaps: &[crate::calendar::CalendarGap], now: Timestamp) -> Outgoing {
        let mut body = format!(
            "Yth. {},\n\nData kalender kerja Loket ({}, {}) perlu dilengkapi:\n",
            to.name, self.agency.name, self.agency.zone_label
        );
        for gap in gaps {
            body.push_str(&format!("\n- {}\n", gap.describe()));
        }
        body.push_str(&format!(
            "\nBatas waktu setiap langkah dihitung dengan kalender ini. Pesan ini dikirim sekali untuk \
             setiap kekurangan.\n\n{}\n",
            self.agency.sender_name
        ));
        let keys: Vec<String> = gaps.iter().map(|g| g.key()).collect();
        let key = format!("calendar-{}-{}", keys.join("-"), recipient_key(to));
        let message_id = format!("loket.{key}.{}@{}", now.as_second(), self.agency.mail_domain);
        let subject = "[Loket] Data kalender kerja perlu dilengkapi".to_string();
        let raw = self
            .staff_mail(to, &subject, &message_id, "calendar".to_string(), now)
            .text_body(body)
            .write_to_vec()
            .unwrap_or_default();
        Outgoing { key, kind: MailKind::StaffNotice, message_id, to: vec![to.email.clone()], subject, raw }
    }
}
