//! `add_working` for a one-working-day limit that crosses the Idul Fitri cuti bersama
//! week of 2026 (target: under 2 µs per call), and a step-sized minute limit.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use jiff::Timestamp;
use loket_domain::WorkingCalendar;
use loket_domain::limit::TimeLimit;

fn bench(c: &mut Criterion) {
    let cal = WorkingCalendar::indonesia_default("Asia/Jakarta").expect("calendar");
    // Tuesday 17 March 2026, 14:00 WIB: the next working day is Wednesday 25 March.
    let start: Timestamp = "2026-03-17T07:00:00Z".parse().expect("instant");
    let due = cal.add_working(start, TimeLimit::WorkingDays(1));
    assert_eq!(due.to_string(), "2026-03-25T07:00:00Z");

    c.bench_function("add_working/1d_across_idul_fitri_cuti_bersama", |b| {
        b.iter(|| cal.add_working(black_box(start), black_box(TimeLimit::WorkingDays(1))))
    });
    c.bench_function("add_working/60m_over_lunch", |b| {
        let noon: Timestamp = "2026-11-23T04:30:00Z".parse().expect("instant");
        b.iter(|| cal.add_working(black_box(noon), black_box(TimeLimit::Minutes(60))))
    });
    c.bench_function("working_between/one_month", |b| {
        let from: Timestamp = "2026-03-01T00:00:00Z".parse().expect("instant");
        let to: Timestamp = "2026-04-01T00:00:00Z".parse().expect("instant");
        b.iter(|| cal.working_between(black_box(from), black_box(to)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
