//! The classifier over the real-mail corpus in `../shared/mail-corpus/` (read at test
//! time, never copied): prints a confusion table and requires 100 % on bounce,
//! auto-reply and list or bulk, and 95 % overall. `LOKET_MAIL_CORPUS_VERBOSE=1` prints every
//! message with its class and reason.

use std::collections::BTreeMap;
use std::path::PathBuf;

use loket_domain::mail::classify::{MailClass, Us, Verdict, Verdicts, classify};
use mail_parser::MessageParser;

const CLASSES: [&str; 6] = ["new_request", "reply", "auto_reply", "bounce", "list_or_bulk", "loop"];

pub struct Sample {
    pub path: PathBuf,
    pub class: String,
    pub verdicts: Verdicts,
}

fn corpus_dir() -> PathBuf {
    std::env::var_os("LOKET_MAIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/mail-corpus"))
}

fn samples() -> Vec<Sample> {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv"))
        .unwrap_or_else(|e| panic!("read {}: {e} (set LOKET_MAIL_CORPUS)", dir.join("manifest.tsv").display()));
    let mut header: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (i, line) in manifest.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if i == 0 {
            header = cols;
            continue;
        }
        let col = |name: &str| header.iter().position(|h| *h == name).and_then(|i| cols.get(i)).copied().unwrap_or("");
        let mut verdicts = Verdicts::default();
        for pair in col("ses_verdicts").split([',', ' ']).filter(|p| !p.is_empty()) {
            if let Some((k, v)) = pair.split_once('=') {
                let v = Verdict::from_ses(v);
                match k {
                    "spam" => verdicts.spam = v,
                    "virus" => verdicts.virus = v,
                    "spf" => verdicts.spf = v,
                    "dkim" => verdicts.dkim = v,
                    "dmarc" => verdicts.dmarc = v,
                    _ => {}
                }
            }
        }
        out.push(Sample { path: dir.join(col("path")), class: col("class").to_string(), verdicts });
    }
    out
}

/// The corpus's own system address (the redmine samples' "loop" message).
const US: Us<'static> = Us { service_address: "redmine@example.net", mail_domain: "example.net" };

#[test]
fn corpus_confusion_table() {
    let samples = samples();
    assert!(samples.len() > 150, "corpus has {} messages", samples.len());
    let parser = MessageParser::default();
    let mut table: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut misses = Vec::new();
    let verbose = std::env::var_os("LOKET_MAIL_CORPUS_VERBOSE").is_some();
    // Bounces whose original Message-ID was found (the service marks its mail as failed by it).
    let (mut bounces, mut with_original) = (0, 0);
    // Each bounce, and whether it was read as a delay warning (nothing failed yet).
    let mut delays = Vec::new();
    for sample in &samples {
        let raw = std::fs::read(&sample.path).unwrap_or_else(|e| panic!("{}: {e}", sample.path.display()));
        let got = match parser.parse(&raw) {
            Some(message) => {
                let c = classify(&message, &sample.verdicts, &US);
                if let MailClass::Bounce { original, delayed } = &c.class {
                    bounces += 1;
                    with_original += usize::from(!original.is_empty());
                    // The corpus's delay warnings (sendmail's "Warning: could not send
                    // message for past …", Postfix's "Delayed Mail (still being retried)");
                    // "Returned mail: Cannot send message for 5 days" is the final failure.
                    let subject = message.subject().unwrap_or_default().to_ascii_lowercase();
                    let warning = subject.starts_with("warning: could not send") || subject.starts_with("delayed mail");
                    delays.push((sample.path.display().to_string(), *delayed, warning));
                }
                if verbose {
                    let original = match &c.class {
                        MailClass::Bounce { original, delayed } => format!(" original={original:?} delayed={delayed}"),
                        _ => String::new(),
                    };
                    println!("{:<14} {:<60} {}{original}", c.class.label(), sample.path.display(), c.reason);
                }
                if c.class.label() != sample.class {
                    misses.push(format!(
                        "{} expected {} got {} ({})",
                        sample.path.display(),
                        sample.class,
                        c.class.label(),
                        c.reason
                    ));
                }
                c.class.label().to_string()
            }
            None => {
                misses.push(format!("{} unparseable", sample.path.display()));
                "unparseable".to_string()
            }
        };
        *table.entry((sample.class.clone(), got)).or_default() += 1;
    }

    println!("\nexpected \\ got     {}", CLASSES.map(|c| format!("{c:>12}")).join(""));
    let mut per_class = BTreeMap::new();
    for expected in CLASSES {
        let row: Vec<usize> = CLASSES
            .iter()
            .map(|got| table.get(&(expected.to_string(), (*got).to_string())).copied().unwrap_or(0))
            .collect();
        let total: usize = table.iter().filter(|((e, _), _)| e == expected).map(|(_, n)| n).sum();
        let right = table.get(&(expected.to_string(), expected.to_string())).copied().unwrap_or(0);
        per_class.insert(expected, (right, total));
        println!("{expected:<18} {}   {right}/{total}", row.iter().map(|n| format!("{n:>12}")).collect::<String>());
    }
    for miss in &misses {
        println!("MISS {miss}");
    }
    let (right, total) = per_class.values().fold((0, 0), |(r, t), (a, b)| (r + a, t + b));
    let overall = right as f64 / total as f64;
    println!("overall {right}/{total} = {:.1} %", overall * 100.0);
    println!("bounces with the original's Message-ID: {with_original}/{bounces}");
    let wrong: Vec<_> = delays.iter().filter(|(_, delayed, warning)| delayed != warning).collect();
    assert!(wrong.is_empty(), "delay warnings read wrongly (path, delayed, is a warning): {wrong:?}");
    let warnings = delays.iter().filter(|(_, delayed, _)| *delayed).count();
    println!("bounces read as delay warnings (nothing failed yet): {warnings}/{bounces}");
    assert!(warnings >= 4, "the corpus holds four delay warnings, {warnings} found");
    for strict in ["bounce", "auto_reply", "list_or_bulk"] {
        let (r, t) = per_class[strict];
        assert_eq!(r, t, "{strict}: {r}/{t} must be 100 %");
    }
    assert!(overall >= 0.95, "overall {:.1} % is below 95 %", overall * 100.0);
}
