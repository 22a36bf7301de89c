//! Unit tests of `gen`: energy balance, resolutions agreeing with the quarter-hours,
//! night and current-bucket nulls, stamping options, late buckets and pending sites.
//! Tests only: nothing here may be reachable from a non-test build.

use super::*;
use crate::scenario::Scenario;
use chrono::{NaiveDate, TimeZone};

fn model(idx: usize) -> (SiteModel, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
    let spec = Scenario::default_fleet().sites[idx].clone();
    let m = SiteModel::new(
        spec,
        start,
        GenOptions {
            seed: 7,
            late_max_minutes: 45,
            telemetry_stamp: TelemetryStamp::End,
        },
    );
    (m, start)
}

#[test]
fn a_year_of_quarter_hours_generates_fast() {
    let (mut m, now) = model(0);
    let t = std::time::Instant::now();
    m.ensure(now);
    let elapsed = t.elapsed();
    assert!(m.quarters.len() > 100_000);
    // Three years in well under a second even in a debug build.
    assert!(elapsed.as_millis() < 1500, "{elapsed:?}");
}

#[test]
fn energy_balances_every_quarter() {
    let (mut m, now) = model(0);
    m.ensure(now);
    for q in &m.quarters {
        let p = q.pv.unwrap_or(0.0);
        assert!((p - (q.self_use + q.to_storage + q.export)).abs() < 1e-6);
        assert!((q.load - (q.self_use + q.from_storage + q.import)).abs() < 1e-6);
        assert!(q.remaining >= 0.0 && q.remaining <= 9200.0 + 1e-6);
    }
}

#[test]
fn resolutions_agree() {
    let (mut m, now) = model(0);
    let tz = m.tz;
    let from = time::local_midnight(NaiveDate::from_ymd_opt(2026, 10, 1).unwrap(), tz);
    let to = time::local_midnight(NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(), tz);
    let qh: f64 = m
        .series(Metric::SiteEnergy, Res::QuarterHour, from, to, now)
        .iter()
        .filter_map(|b| b.value)
        .sum();
    let hours: f64 = m
        .series(Metric::SiteEnergy, Res::Hour, from, to, now)
        .iter()
        .filter_map(|b| b.value)
        .sum();
    let days = m.series(Metric::SiteEnergy, Res::Day, from, to, now);
    assert_eq!(days.len(), 31);
    let days: f64 = days.iter().filter_map(|b| b.value).sum();
    let month = m.series(Metric::SiteEnergy, Res::Month, from, to, now);
    assert_eq!(month.len(), 1);
    let (_, _, total) = m.total(Metric::SiteEnergy, from, to, now);
    for v in [hours, days, month[0].value.unwrap(), total.unwrap()] {
        assert!((v - qh).abs() < 1e-6, "{v} vs {qh}");
    }
    // Inverters add up to the site.
    let inv: f64 = (0..2)
        .map(|j| {
            m.series(Metric::InverterEnergy(j), Res::Day, from, to, now)
                .iter()
                .filter_map(|b| b.value)
                .sum::<f64>()
        })
        .sum();
    assert!((inv - qh).abs() < 1e-6);
    // Power is four times quarter-hour energy.
    let e = m.series(Metric::SiteEnergy, Res::QuarterHour, from, to, now);
    let p = m.series(Metric::SitePower, Res::QuarterHour, from, to, now);
    for (e, p) in e.iter().zip(&p) {
        assert_eq!(e.value.map(|v| r3(v * 4.0)), p.value);
    }
}

#[test]
fn nights_are_null_days_report_zero_and_the_current_bucket_is_null() {
    let (mut m, now) = model(0);
    let tz = m.tz;
    let from = time::local_midnight(NaiveDate::from_ymd_opt(2026, 11, 26).unwrap(), tz);
    let s = m.series(
        Metric::SiteEnergy,
        Res::QuarterHour,
        from,
        now + Duration::days(1),
        now,
    );
    assert!(s.first().unwrap().value.is_none(), "midnight is night");
    assert!(
        s.iter().any(|b| b.value == Some(0.0)) || s.iter().any(|b| b.value.unwrap_or(0.0) > 0.0)
    );
    let last = s.last().unwrap();
    assert!(last.start <= now && last.start + Duration::minutes(15) > now);
    assert!(last.value.is_none());
    // Nothing after now.
    assert!(s.iter().all(|b| b.start <= now));
    // Nothing before installation.
    let s = m.series(
        Metric::SiteEnergy,
        Res::Day,
        m.install - Duration::days(40),
        m.install + Duration::days(2),
        now,
    );
    assert_eq!(s.first().unwrap().start, m.install);
}

#[test]
fn inverter_draws_a_few_watts_only_while_not_producing() {
    let (mut m, now) = model(0);
    let tz = m.tz;
    let from = time::local_midnight(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(), tz);
    let to = from + Duration::days(1);
    for j in 0..2 {
        let produced = m.series(Metric::InverterEnergy(j), Res::QuarterHour, from, to, now);
        let drawn = m.series(
            Metric::InverterConsumedEnergy(j),
            Res::QuarterHour,
            from,
            to,
            now,
        );
        let power = m.series(
            Metric::InverterConsumedPower(j),
            Res::QuarterHour,
            from,
            to,
            now,
        );
        assert_eq!(produced.len(), 96);
        let (mut night, mut day) = (0, 0);
        for ((p, e), w) in produced.iter().zip(&drawn).zip(&power) {
            assert_eq!(e.stamp, p.stamp, "start-stamped like energy");
            let (e, w) = (e.value.unwrap(), w.value.unwrap());
            assert_eq!(w, r3(e * 4.0), "power = 4 x quarter-hour energy");
            if p.value.is_some_and(|v| v > 0.0) {
                assert_eq!(e, 0.0);
                day += 1;
            } else {
                assert!((3.0..=5.0).contains(&w), "{w} W");
                night += 1;
            }
        }
        assert!(night > 40 && day > 20, "{night} {day}");
        // The day's energy is the sum of its quarter-hours.
        let daily = m.series(Metric::InverterConsumedEnergy(j), Res::Day, from, to, now);
        let sum: f64 = drawn.iter().filter_map(|b| b.value).sum();
        assert!((daily[0].value.unwrap() - sum).abs() < 1e-9);
    }
}

#[test]
fn electrical_series_are_stamped_where_the_option_says() {
    let (mut end, now) = model(2);
    let spec = end.spec.clone();
    let mut start = SiteModel::new(
        spec,
        now,
        GenOptions {
            seed: 7,
            late_max_minutes: 45,
            telemetry_stamp: TelemetryStamp::Start,
        },
    );
    let from = now - Duration::days(2);
    let to = from + Duration::hours(6);
    for res in [Res::QuarterHour, Res::Hour] {
        let power = start.series(Metric::InverterPower(0), res, from, to, now);
        for metric in [
            Metric::InverterVoltage(0),
            Metric::InverterCurrent(0),
            Metric::InverterFrequency(0),
        ] {
            let e = end.series(metric, res, from, to, now);
            let s = start.series(metric, res, from, to, now);
            assert_eq!(e.len(), s.len());
            for ((e, s), p) in e.iter().zip(&s).zip(&power) {
                assert_eq!(s.stamp, p.stamp, "start, like power");
                assert_eq!(e.stamp, time::next(e.start, res, end.tz), "end");
                assert_eq!((e.start, &e.value), (s.start, &s.value), "same data");
            }
        }
    }
}

#[test]
fn late_buckets_arrive_later() {
    let (mut m, now) = model(0);
    let from = now - Duration::hours(3);
    let early = m.series(
        Metric::MeterEnergy(MeterKind::Consumption),
        Res::QuarterHour,
        from,
        now,
        now,
    );
    let later = m.series(
        Metric::MeterEnergy(MeterKind::Consumption),
        Res::QuarterHour,
        from,
        now,
        now + Duration::hours(1),
    );
    let nulls_early = early.iter().filter(|b| b.value.is_none()).count();
    let nulls_later = later
        .iter()
        .take(early.len())
        .filter(|b| b.value.is_none())
        .count();
    assert!(nulls_early > nulls_later, "{nulls_early} {nulls_later}");
}

#[test]
fn pending_site_has_no_data_and_alerts_are_stable() {
    let (mut m, now) = model(3);
    assert!(m
        .series(
            Metric::SiteEnergy,
            Res::Day,
            now - Duration::days(5),
            now,
            now
        )
        .is_empty());
    let (m0, now0) = model(0);
    let a = alerts(&m0, now0);
    let b = alerts(&m0, now0);
    assert_eq!(a, b);
    assert!(!a.is_empty());
    assert!(a.windows(2).all(|w| w[0].first >= w[1].first));
}

#[test]
fn a_silent_site_reports_nothing_after_its_hour() {
    let (m0, start) = model(0);
    let mut spec = m0.spec.clone();
    spec.silent_after_hours = Some(-2);
    let mut m = SiteModel::new(
        spec,
        start,
        GenOptions {
            seed: 7,
            late_max_minutes: 0,
            telemetry_stamp: TelemetryStamp::End,
        },
    );
    let now = start + Duration::hours(1);
    let silent_from = start - Duration::hours(2);
    assert_eq!(
        m.last_update(now),
        Some(silent_from - Duration::minutes(15))
    );
    let qh = m.series(
        Metric::SiteEnergy,
        Res::QuarterHour,
        start - Duration::hours(4),
        now,
        now,
    );
    for b in &qh {
        // 12:00 UTC on a November day in Berlin: the sun is up throughout.
        assert_eq!(b.value.is_some(), b.start < silent_from, "{b:?}");
    }
}
