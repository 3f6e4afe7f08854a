//! The service-level report ([`SlaReport`]) as an HTML fragment for the staff console:
//! per procedure a table and an inline SVG bar chart of the share within each step's limit,
//! and per service the whole-service working time against its standard.
//!
//! Pure and self-contained so it works under the console's strict CSP
//! (`default-src 'none'`): no script, no external resources, no `style` attributes or
//! elements; the charts use SVG presentation attributes only. Every text value goes through
//! [`escape`]. The charts are images (`role="img"` with `<title>` and `<desc>`); the same
//! numbers are always in the tables next to them.

use std::fmt::Write as _;

use crate::html::escape;
use crate::report::{ServiceFigures, SlaReport, StepFigures};

/// Width of the whole chart (SVG user units).
const CHART_WIDTH: f64 = 640.0;
/// Width of a full (100 %) bar; the rest of the row holds the value text.
const TRACK_WIDTH: f64 = 480.0;
/// Height of one chart row: a label line above a bar.
const ROW_HEIGHT: f64 = 44.0;
const BAR_HEIGHT: f64 = 16.0;
/// Labels longer than this are shortened in the chart (the table has them in full).
const CHART_LABEL_CHARS: usize = 80;

const GREEN: &str = "#2e7d32";
const AMBER: &str = "#b26a00";
const RED: &str = "#c62828";
const TRACK: &str = "#e6e6e6";
const INK: &str = "#1f1f1f";
const GUIDE: &str = "#757575";

/// Share thresholds for the bar colours: at least 90 % green, at least 70 % amber, else red.
const GOOD_SHARE: f64 = 0.9;
const FAIR_SHARE: f64 = 0.7;

/// Renders the report for `period_label` (e.g. "Januari–Desember 2026"), with a download
/// link to the CSV at `csv_href`. A fragment: the caller wraps it in its page.
pub fn render(report: &SlaReport, period_label: &str, csv_href: &str) -> String {
    render_named(report, period_label, csv_href, &|_| None)
}

/// [`render`], with procedure names from `names` (e.g. the SOP catalog) where it knows them.
pub fn render_named(
    report: &SlaReport,
    period_label: &str,
    csv_href: &str,
    names: &dyn Fn(&str) -> Option<String>,
) -> String {
    let mut out = String::new();
    out.push_str("<section class=\"laporan-sla\">\n");
    let _ = writeln!(out, "<h2>Laporan tingkat layanan: {}</h2>", escape(period_label));
    let _ = writeln!(out, "<p><a href=\"{}\" download>Unduh CSV</a></p>", escape(&safe_href(csv_href)));
    if report.steps.is_empty() && report.services.is_empty() {
        out.push_str("<p>Belum ada tiket pada periode ini.</p>\n</section>\n");
        return out;
    }
    out.push_str(
        "<p>Waktu dihitung dalam waktu kerja (jam kantor): j = jam, m = menit. \
         Median dan P90: separuh dan 90 % kunjungan selesai dalam waktu tersebut.</p>\n",
    );
    if !report.steps.is_empty() {
        out.push_str("<h3>Per prosedur dan langkah</h3>\n");
        for (index, (procedure, steps)) in group_by_procedure(&report.steps).iter().enumerate() {
            let name = match names(procedure) {
                Some(name) => format!("{name} ({procedure})"),
                None => procedure_name(report, procedure),
            };
            render_procedure(&mut out, index, &name, steps);
        }
    }
    if !report.services.is_empty() {
        out.push_str("<h3>Waktu layanan keseluruhan</h3>\n");
        render_services(&mut out, &report.services);
    }
    out.push_str("</section>\n");
    out
}

/// Step figures grouped by procedure, procedures in order of first appearance.
fn group_by_procedure(steps: &[StepFigures]) -> Vec<(&str, Vec<&StepFigures>)> {
    let mut groups: Vec<(&str, Vec<&StepFigures>)> = Vec::new();
    for step in steps {
        match groups.iter_mut().find(|(id, _)| *id == step.procedure) {
            Some((_, list)) => list.push(step),
            None => groups.push((&step.procedure, vec![step])),
        }
    }
    groups
}

/// The procedure's name where the report knows it (from the whole-service figures), else its id.
fn procedure_name(report: &SlaReport, procedure: &str) -> String {
    match report.services.iter().find(|s| s.procedure == procedure) {
        Some(service) => format!("{} ({})", service.name, procedure),
        None => procedure.to_string(),
    }
}

fn render_procedure(out: &mut String, index: usize, name: &str, steps: &[&StepFigures]) {
    let name = escape(name);
    let _ = writeln!(out, "<h4>Prosedur: {name}</h4>");
    out.push_str("<table class=\"laporan-tabel\">\n");
    let _ = writeln!(out, "<caption>Langkah prosedur {name}</caption>");
    out.push_str(
        "<thead><tr><th scope=\"col\">No</th><th scope=\"col\">Langkah</th><th scope=\"col\">Batas waktu</th>\
         <th scope=\"col\">Jumlah</th><th scope=\"col\">Median</th><th scope=\"col\">P90</th>\
         <th scope=\"col\">Dalam batas waktu</th></tr></thead>\n<tbody>\n",
    );
    for step in steps {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            step.no,
            escape(&step.label),
            escape(&step.limit),
            escape(&count(step.count)),
            escape(&duration(step.median_working_secs)),
            escape(&duration(step.p90_working_secs)),
            escape(&percent(step.within_limit)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    step_chart(out, index, &name, steps);
}

/// One horizontal bar per step: the share of visits finished within the step's limit.
/// `name` is already escaped.
fn step_chart(out: &mut String, index: usize, name: &str, steps: &[&StepFigures]) {
    let id = format!("grafik-langkah-{index}");
    let top = 8.0;
    let height = top + ROW_HEIGHT * steps.len() as f64 + 20.0;
    let summary: Vec<String> =
        steps.iter().map(|s| format!("{}. {}: {}", s.no, escape(&s.label), escape(&percent(s.within_limit)))).collect();
    svg_open(out, &id, height);
    let _ = writeln!(out, "<title id=\"{id}-judul\">Persentase tepat waktu per langkah: {name}</title>");
    let _ = writeln!(
        out,
        "<desc id=\"{id}-uraian\">Satu batang per langkah, panjangnya persentase kunjungan yang selesai \
         dalam batas waktu (0 sampai 100 %). Hijau: paling sedikit 90 %, kuning: paling sedikit 70 %, \
         merah: di bawah 70 %. {}. Angka yang sama ada di tabel.</desc>",
        summary.join("; ")
    );
    // Guide lines at the colour thresholds and at 100 %.
    let bottom = top + ROW_HEIGHT * steps.len() as f64;
    for share in [FAIR_SHARE, GOOD_SHARE, 1.0] {
        let x = bar_width(share, TRACK_WIDTH);
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{top:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{GUIDE}\" \
             stroke-width=\"1\" stroke-dasharray=\"3 3\"/>"
        );
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{GUIDE}\">{}</text>",
            bottom + 14.0,
            escape(&whole_percent(share))
        );
    }
    for (row, step) in steps.iter().enumerate() {
        let y = top + ROW_HEIGHT * row as f64;
        let label = format!("{}. {}", step.no, shorten(&step.label, CHART_LABEL_CHARS));
        let _ = writeln!(out, "<g>");
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{:.1}\" font-size=\"13\" fill=\"{INK}\">{}</text>",
            y + 13.0,
            escape(&label)
        );
        bar_track(out, y + 18.0);
        if let Some(share) = clamp_share(step.within_limit) {
            let _ = writeln!(
                out,
                "<rect class=\"batang\" x=\"0\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT:.1}\" fill=\"{}\"/>",
                y + 18.0,
                bar_width(share, TRACK_WIDTH),
                share_colour(share)
            );
        }
        let value = match clamp_share(step.within_limit) {
            Some(_) => percent(step.within_limit),
            None => "— (tanpa batas waktu)".to_string(),
        };
        value_text(out, y + 31.0, &value);
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

fn render_services(out: &mut String, services: &[ServiceFigures]) {
    out.push_str("<table class=\"laporan-tabel\">\n<caption>Waktu layanan keseluruhan terhadap standar</caption>\n");
    out.push_str(
        "<thead><tr><th scope=\"col\">Layanan</th><th scope=\"col\">Standar</th><th scope=\"col\">Jumlah</th>\
         <th scope=\"col\">Median</th><th scope=\"col\">P90</th><th scope=\"col\">Dalam standar</th></tr></thead>\n\
         <tbody>\n",
    );
    for service in services {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&service.name),
            escape(&service.standard),
            escape(&count(service.count)),
            escape(&duration(service.median_working_secs)),
            escape(&duration(service.p90_working_secs)),
            escape(&percent(service.within_standard)),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    for (index, service) in services.iter().enumerate() {
        service_chart(out, index, service);
    }
}

/// Median and p90 whole-service working time as bars, with a vertical line at the standard.
fn service_chart(out: &mut String, index: usize, service: &ServiceFigures) {
    let id = format!("grafik-layanan-{index}");
    let name = escape(&service.name);
    let standard = escape(&service.standard);
    let median = service.median_working_secs.max(0);
    let p90 = service.p90_working_secs.max(0);
    let standard_secs = service.standard_secs.max(0);
    // Leave room past the longest bar or the standard line, whichever is further.
    let scale = (median.max(p90).max(standard_secs) as f64 * 1.15).max(1.0);
    let top = 24.0;
    let rows = [("Median", median), ("P90", p90)];
    let bottom = top + ROW_HEIGHT * rows.len() as f64;
    svg_open(out, &id, bottom + 8.0);
    let _ = writeln!(out, "<title id=\"{id}-judul\">Waktu layanan keseluruhan: {name}, standar {standard}</title>");
    let _ = writeln!(
        out,
        "<desc id=\"{id}-uraian\">Batang median dan P90 waktu kerja seluruh layanan; garis tegak menandai \
         standar {standard}. Median {}, P90 {}. Hijau: dalam standar, merah: melebihi standar. \
         Angka yang sama ada di tabel.</desc>",
        escape(&duration(median)),
        escape(&duration(p90))
    );
    for (row, (label, secs)) in rows.iter().enumerate() {
        let y = top + ROW_HEIGHT * row as f64;
        let colour = if *secs <= standard_secs { GREEN } else { RED };
        let _ = writeln!(out, "<g>");
        let _ = writeln!(out, "<text x=\"0\" y=\"{:.1}\" font-size=\"13\" fill=\"{INK}\">{label}</text>", y + 13.0);
        bar_track(out, y + 18.0);
        let _ = writeln!(
            out,
            "<rect class=\"batang\" x=\"0\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR_HEIGHT:.1}\" fill=\"{colour}\"/>",
            y + 18.0,
            bar_width(*secs as f64 / scale, TRACK_WIDTH)
        );
        value_text(out, y + 31.0, &duration(*secs));
        out.push_str("</g>\n");
    }
    let x = bar_width(standard_secs as f64 / scale, TRACK_WIDTH);
    let _ = writeln!(
        out,
        "<line x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\" stroke=\"{INK}\" stroke-width=\"2\"/>",
        top - 8.0
    );
    let _ = writeln!(
        out,
        "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"12\" text-anchor=\"middle\" fill=\"{INK}\">Standar {standard}</text>",
        top - 11.0
    );
    out.push_str("</svg>\n");
}

fn svg_open(out: &mut String, id: &str, height: f64) {
    let _ = writeln!(
        out,
        "<svg class=\"laporan-grafik\" role=\"img\" aria-labelledby=\"{id}-judul\" aria-describedby=\"{id}-uraian\" \
         xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 {CHART_WIDTH:.0} {height:.0}\" \
         font-family=\"sans-serif\">"
    );
}

fn bar_track(out: &mut String, y: f64) {
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"{y:.1}\" width=\"{TRACK_WIDTH:.1}\" height=\"{BAR_HEIGHT:.1}\" fill=\"{TRACK}\"/>"
    );
}

fn value_text(out: &mut String, y: f64, value: &str) {
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{y:.1}\" font-size=\"13\" fill=\"{INK}\">{}</text>",
        TRACK_WIDTH + 8.0,
        escape(value)
    );
}

/// Bar length for a share (0..=1) of the full width, clamped to 0..=full (NaN counts as 0).
fn bar_width(share: f64, full: f64) -> f64 {
    if share.is_nan() { 0.0 } else { share.clamp(0.0, 1.0) * full }
}

/// A share kept to 0..=1; `None` when absent or not a number.
fn clamp_share(share: Option<f64>) -> Option<f64> {
    share.filter(|v| !v.is_nan()).map(|v| v.clamp(0.0, 1.0))
}

fn share_colour(share: f64) -> &'static str {
    if share >= GOOD_SHARE {
        GREEN
    } else if share >= FAIR_SHARE {
        AMBER
    } else {
        RED
    }
}

/// A share as an Indonesian percentage with one decimal, e.g. "87,5 %"; "—" when absent.
fn percent(share: Option<f64>) -> String {
    match clamp_share(share) {
        Some(v) => format!("{:.1} %", v * 100.0).replace('.', ","),
        None => "—".to_string(),
    }
}

fn whole_percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// A count with Indonesian thousands separators, e.g. "1.234".
fn count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

/// Working time, human readable in hours and minutes ("1 j 20 m", "35 m", "2 j"), rounded
/// to the minute. No days: a working day has no fixed length (Ramadan days are shorter),
/// so "hari" would mislead. Under a minute (but not zero) is "< 1 m".
fn duration(secs: i64) -> String {
    if secs <= 0 {
        return "0 m".to_string();
    }
    if secs < 30 {
        return "< 1 m".to_string();
    }
    let minutes = (secs + 30) / 60;
    let (hours, minutes) = (minutes / 60, minutes % 60);
    match (hours, minutes) {
        (0, m) => format!("{m} m"),
        (h, 0) => format!("{} j", count(h as usize)),
        (h, m) => format!("{} j {m} m", count(h as usize)),
    }
}

/// The first `max` characters of `text`, with "…" when it was longer.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// The CSV link as given when it is a relative reference or http(s); anything else
/// (`javascript:`, `data:`, control characters) becomes "#".
fn safe_href(href: &str) -> String {
    if href.is_empty() || href.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return "#".to_string();
    }
    let scheme_end = href.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if href[i..].starts_with(':') => {
            let scheme = href[..i].to_ascii_lowercase();
            if scheme == "https" || scheme == "http" { href.to_string() } else { "#".to_string() }
        }
        _ => href.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: [&str; 3] = ["<script>alert(1)</script>", "\" onmouseover=\"x", "abc\u{202E}fdp.exe"];

    fn step(procedure: &str, no: u32, label: &str, within: Option<f64>) -> StepFigures {
        StepFigures {
            procedure: procedure.into(),
            step: format!("langkah-{no}"),
            no,
            label: label.into(),
            limit: "15 menit".into(),
            count: 8,
            median_working_secs: 35 * 60,
            p90_working_secs: 80 * 60,
            within_limit: within,
        }
    }

    fn service(procedure: &str, name: &str, standard: &str) -> ServiceFigures {
        ServiceFigures {
            procedure: procedure.into(),
            name: name.into(),
            standard: standard.into(),
            standard_secs: 8 * 3600,
            count: 1234,
            median_working_secs: 5 * 3600,
            p90_working_secs: 10 * 3600,
            within_standard: Some(0.875),
        }
    }

    fn assert_safe(html: &str) {
        let lower = html.to_lowercase();
        assert!(!lower.contains("style="), "{html}");
        assert!(!lower.contains("<style"), "{html}");
        assert!(!lower.contains("<script"), "{html}");
        assert!(!lower.contains("javascript:"), "{html}");
        assert_eq!(html.matches("<svg").count(), html.matches("</svg>").count());
        assert_eq!(html.matches("<table").count(), html.matches("</table>").count());
    }

    /// The `width` values of the value bars (class "batang"), in order.
    fn bar_widths(html: &str) -> Vec<f64> {
        html.split("<rect class=\"batang\"")
            .skip(1)
            .filter_map(|rest| {
                let start = rest.find(" width=\"")? + 8;
                let end = start + rest[start..].find('"')?;
                rest[start..end].parse().ok()
            })
            .collect()
    }

    #[test]
    fn durations_in_working_hours_and_minutes() {
        assert_eq!(duration(0), "0 m");
        assert_eq!(duration(-5), "0 m");
        assert_eq!(duration(20), "< 1 m");
        assert_eq!(duration(45), "1 m");
        assert_eq!(duration(35 * 60), "35 m");
        assert_eq!(duration(35 * 60 + 29), "35 m");
        assert_eq!(duration(59 * 60 + 40), "1 j");
        assert_eq!(duration(80 * 60), "1 j 20 m");
        assert_eq!(duration(8 * 3600), "8 j");
        assert_eq!(duration(51 * 3600 + 5 * 60), "51 j 5 m");
        assert_eq!(duration(1500 * 3600), "1.500 j");
    }

    #[test]
    fn numbers_in_indonesian_style() {
        assert_eq!(percent(Some(0.875)), "87,5 %");
        assert_eq!(percent(Some(1.0)), "100,0 %");
        assert_eq!(percent(Some(1.0 / 3.0)), "33,3 %");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(f64::NAN)), "—");
        assert_eq!(percent(Some(1.7)), "100,0 %");
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1234), "1.234");
        assert_eq!(count(1_234_567), "1.234.567");
    }

    #[test]
    fn empty_report_says_so() {
        let html = render(&SlaReport { steps: vec![], services: vec![] }, "2026", "/laporan.csv?tahun=2026");
        assert!(html.contains("Belum ada tiket pada periode ini."), "{html}");
        assert!(html.contains("Laporan tingkat layanan: 2026"));
        assert!(html.contains("<a href=\"/laporan.csv?tahun=2026\" download>Unduh CSV</a>"), "{html}");
        assert!(!html.contains("<table"));
        assert!(!html.contains("<svg"));
        assert_safe(&html);
    }

    #[test]
    fn tables_and_charts_per_procedure_and_service() {
        let report = SlaReport {
            steps: vec![
                step("layanan-a", 2, "Laporan ke Kasi", Some(0.95)),
                step("layanan-a", 3, "Disposisi", Some(0.8)),
                step("layanan-b", 2, "Perbaikan", Some(0.5)),
                step("layanan-a", 4, "Perbaikan", None),
            ],
            services: vec![service("layanan-a", "Gangguan internet", "8 jam")],
        };
        let html = render(&report, "Januari 2026", "/laporan.csv");
        // Two procedures, each a table and a chart; one service table and chart.
        assert_eq!(html.matches("<table").count(), 3);
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("role=\"img\"").count(), 3);
        assert_eq!(html.matches("<title id=").count(), 3);
        assert_eq!(html.matches("<desc id=").count(), 3);
        // Grouped in order of first appearance; layanan-a's three steps together.
        let a = html.find("Prosedur: Gangguan internet (layanan-a)").expect("procedure a");
        let b = html.find("Prosedur: layanan-b").expect("procedure b");
        assert!(a < b);
        assert_eq!(html[a..b].matches("<tr><td>").count(), 3);
        // Table figures.
        assert!(html.contains("<td>35 m</td><td>1 j 20 m</td><td>95,0 %</td>"), "{html}");
        assert!(html.contains("<td>35 m</td><td>1 j 20 m</td><td>—</td>"), "{html}");
        assert!(html.contains("<td>8 jam</td><td>1.234</td><td>5 j</td><td>10 j</td><td>87,5 %</td>"), "{html}");
        // Colours by threshold; no value bar for a step without a limit.
        assert!(html.contains(&format!("width=\"456.0\" height=\"16.0\" fill=\"{GREEN}\"")), "{html}");
        assert!(html.contains(&format!("width=\"384.0\" height=\"16.0\" fill=\"{AMBER}\"")), "{html}");
        assert!(html.contains(&format!("width=\"240.0\" height=\"16.0\" fill=\"{RED}\"")), "{html}");
        assert!(html.contains("— (tanpa batas waktu)"));
        // Service: scale is 1.15 × the longest of p90 (10 h) and the standard (8 h).
        let scale = 10.0 * 3600.0 * 1.15;
        let widths = bar_widths(&html);
        assert_eq!(widths.len(), 5, "{widths:?}");
        assert!((widths[3] - (5.0 * 3600.0 / scale * TRACK_WIDTH)).abs() < 0.06, "{widths:?}");
        assert!((widths[4] - (10.0 * 3600.0 / scale * TRACK_WIDTH)).abs() < 0.06, "{widths:?}");
        let standard_x = format!("x1=\"{:.1}\"", 8.0 * 3600.0 / scale * TRACK_WIDTH);
        assert!(html.contains(&standard_x), "{html}");
        assert!(html.contains(">Standar 8 jam</text>"));
        assert!(html.contains(&format!("width=\"{:.1}\" height=\"16.0\" fill=\"{RED}\"", widths[4])));
        assert!(!html.contains("Belum ada tiket"));
        assert_safe(&html);
    }

    #[test]
    fn bar_widths_are_proportional_and_clamped() {
        assert_eq!(bar_width(0.0, 400.0), 0.0);
        assert_eq!(bar_width(0.5, 400.0), 200.0);
        assert_eq!(bar_width(0.875, 400.0), 350.0);
        assert_eq!(bar_width(1.0, 400.0), 400.0);
        assert_eq!(bar_width(1.5, 400.0), 400.0);
        assert_eq!(bar_width(-0.2, 400.0), 0.0);
        assert_eq!(bar_width(f64::NAN, 400.0), 0.0);
        assert_eq!(bar_width(f64::INFINITY, 400.0), 400.0);

        let shares = [Some(0.25), Some(1.0), Some(1.4), Some(-0.3), Some(0.0)];
        let steps = shares.iter().enumerate().map(|(i, s)| step("p", i as u32 + 1, "L", *s)).collect();
        let html = render(&SlaReport { steps, services: vec![] }, "2026", "/x.csv");
        let widths = bar_widths(&html);
        assert_eq!(widths, vec![0.25 * TRACK_WIDTH, TRACK_WIDTH, TRACK_WIDTH, 0.0, 0.0]);
        assert!(widths.iter().all(|w| (0.0..=TRACK_WIDTH).contains(w)));
        assert!(html.contains("<td>100,0 %</td>") && html.contains("<td>0,0 %</td>"));
        assert_safe(&html);

        // Service bars never run past the track, even with odd figures.
        let mut odd = service("p", "S", "8 jam");
        odd.standard_secs = 0;
        odd.median_working_secs = -60;
        let html = render(&SlaReport { steps: vec![], services: vec![odd] }, "2026", "/x.csv");
        assert!(bar_widths(&html).iter().all(|w| (0.0..=TRACK_WIDTH).contains(w)));
        assert_safe(&html);
    }

    #[test]
    fn hostile_text_is_escaped_everywhere() {
        let mut steps = Vec::new();
        let mut services = Vec::new();
        for (i, bad) in HOSTILE.iter().enumerate() {
            let mut s = step(bad, i as u32 + 1, bad, Some(0.9));
            s.limit = (*bad).into();
            steps.push(s);
            services.push(service(bad, bad, bad));
        }
        let report = SlaReport { steps, services };
        let html = render(&report, HOSTILE[0], "/laporan.csv?a=1&b=\"><script>");
        assert!(!html.contains("<script>alert(1)</script>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("\" onmouseover=\"x"), "{html}");
        assert!(html.contains("&quot; onmouseover=&quot;x"));
        assert!(!html.contains('\u{202E}'), "{html}");
        assert!(html.contains("abc&lt;U+202E&gt;fdp.exe"));
        assert!(html.contains("href=\"/laporan.csv?a=1&amp;b=&quot;&gt;&lt;script&gt;\""), "{html}");
        // Tags are only the renderer's own.
        for tag in html.split('<').skip(1) {
            let name: String = tag.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '/').collect();
            let known = [
                "section", "/section", "h2", "/h2", "h3", "/h3", "h4", "/h4", "p", "/p", "a", "/a", "table", "/table",
                "caption", "/caption", "thead", "/thead", "tbody", "/tbody", "tr", "/tr", "th", "/th", "td", "/td",
                "svg", "/svg", "title", "/title", "desc", "/desc", "g", "/g", "rect", "text", "/text", "line",
            ];
            assert!(known.contains(&name.as_str()), "unexpected tag <{name}: {html}");
        }
        assert_safe(&html);
    }

    #[test]
    fn csv_link_only_relative_or_http() {
        assert_eq!(safe_href("/laporan.csv?dari=2026-01-01"), "/laporan.csv?dari=2026-01-01");
        assert_eq!(safe_href("laporan.csv"), "laporan.csv");
        assert_eq!(safe_href("https://loket.example.go.id/laporan.csv"), "https://loket.example.go.id/laporan.csv");
        assert_eq!(safe_href("/a:b"), "/a:b");
        assert_eq!(safe_href("javascript:alert(1)"), "#");
        assert_eq!(safe_href("JavaScript:alert(1)"), "#");
        assert_eq!(safe_href("java\tscript:alert(1)"), "#");
        assert_eq!(safe_href(" javascript:alert(1)"), "#");
        assert_eq!(safe_href("data:text/html,x"), "#");
        assert_eq!(safe_href(""), "#");
        let html = render(&SlaReport { steps: vec![], services: vec![] }, "2026", "javascript:alert(1)");
        assert!(html.contains("<a href=\"#\" download>"));
        assert_safe(&html);
    }

    #[test]
    fn long_labels_are_shortened_in_the_chart_only() {
        let long = "x".repeat(200);
        let html = render(&SlaReport { steps: vec![step("p", 1, &long, Some(1.0))], services: vec![] }, "2026", "/c");
        assert!(html.contains(&format!("<th scope=\"row\">{long}</th>")));
        assert!(html.contains(&format!(">1. {}…</text>", "x".repeat(CHART_LABEL_CHARS - 1))));
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("abcd", 3), "ab…");
    }
}
