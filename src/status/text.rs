//! `seh status` for people: a few lines per site in its local time, fitting 80 columns;
//! `-v` adds the table of every family and the row counts per table. A sparkline of the
//! last days' production only on a terminal (`tty`), plain numbers when piped.

use super::{local_range, short_resolution, Facts, FamilyFacts, SiteFacts};
use crate::budget::BudgetView;
use crate::clock;
use crate::display::{kwh, sparkline, thousands, wrap, WIDTH};
use crate::model::Resolution;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// How to render.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// Every family's cursor, rows and last success; the table sizes.
    pub verbose: bool,
    /// Standard output is a terminal: draw the sparkline.
    pub tty: bool,
}

fn utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Pushes `text` wrapped to the width, continuation lines indented by `indent`.
fn line(out: &mut String, text: &str, indent: &str) {
    let _ = writeln!(out, "{}", wrap(text, WIDTH, indent));
}

/// The credit lines `status` and `plan` share.
pub fn credits(b: &BudgetView) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &format!(
            "credits: {} of {} used this cycle (since {}), {} kept in reserve, {} left; \
             the allowance renews {}",
            thousands(b.used as i64),
            thousands(b.budget.monthly_credits as i64),
            b.cycle_start.format("%Y-%m-%d"),
            thousands(b.budget.reserve as i64),
            thousands(b.left() as i64),
            utc(&b.next_reset)
        ),
        "  ",
    );
    line(
        &mut out,
        &format!(
            "budget line: {} credits may be spent by now (the allowance spread evenly \
             over the cycle); backfill spends only below it",
            thousands(b.line() as i64)
        ),
        "  ",
    );
    out
}

pub fn render(f: &Facts, style: Style) -> String {
    let mut out = String::new();
    line(
        &mut out,
        &format!("database {}", f.database.display()),
        "  ",
    );
    last_run(&mut out, f);
    out.push_str(&credits(&f.budget));
    if let Some(b) = f.blocked_until {
        line(
            &mut out,
            &format!(
                "SolarEdge refused calls for exhausted credits: no calls until {} (one \
                 check every 3 h)",
                utc(&b)
            ),
            "  ",
        );
    }
    if let Some(off) = f.clock_offset {
        line(
            &mut out,
            &format!(
                "clock: at the last answer {}; seh follows SolarEdge's time",
                clock::describe_offset(off)
            ),
            "  ",
        );
    }
    if f.unreadable > 0 {
        line(
            &mut out,
            &format!(
                "{} archived responses seh could not read (kept; `seh reprocess` retries \
                 them after an update)",
                thousands(f.unreadable)
            ),
            "  ",
        );
        if let Some(newest) = &f.newest_unreadable {
            line(&mut out, &format!("  newest: {newest}"), "    ");
        }
    }
    for s in &f.sites {
        out.push('\n');
        site(&mut out, f, s, style);
    }
    if style.verbose {
        if !f.account.is_empty() {
            out.push('\n');
            let _ = writeln!(out, "The account (times in UTC)");
            table(&mut out, &f.account, None);
        }
        out.push('\n');
        let _ = writeln!(out, "Rows per table");
        for (table, n) in &f.tables {
            let _ = writeln!(out, "  {table:<28} {:>12}", thousands(*n));
        }
    }
    out
}

fn last_run(out: &mut String, f: &Facts) {
    let Some(run) = &f.last_run else {
        line(out, "last sync: none yet; run `seh sync`", "  ");
        return;
    };
    match (&run.finished, f.running) {
        (None, true) => line(
            out,
            &format!("a sync is running (since {})", utc(&run.started_at)),
            "  ",
        ),
        (Some(done), running) => {
            let summary = done.summary.strip_prefix("sync: ").unwrap_or(&done.summary);
            line(
                out,
                &format!("last sync ({}): {summary}", utc(&done.finished_at)),
                "  ",
            );
            if running {
                line(out, "a sync or reprocess is running now", "  ");
            }
        }
        (None, false) => line(
            out,
            &format!(
                "last sync: started {} and stopped before it finished (killed, or the \
                 power went); what it saved is kept and the next run goes on from there",
                utc(&run.started_at)
            ),
            "  ",
        ),
    }
}

fn site(out: &mut String, f: &Facts, s: &SiteFacts, style: Style) {
    let zone = s.tz.map_or_else(
        || "time zone unknown".to_string(),
        |tz| tz.name().to_string(),
    );
    line(out, &format!("{}, {zone}", s.label()), "  ");
    if s.zoneless {
        line(
            out,
            &format!(
                "  no time zone from SolarEdge, so nothing is fetched; set [sites] timezone \
                 = {{ {} = \"Area/City\" }}",
                s.id
            ),
            "    ",
        );
    }
    if f.unlisted.contains(&s.id) {
        line(
            out,
            "  not in the Fleet key's site list: data kept, nothing fetched",
            "    ",
        );
    }
    if !s.active {
        line(
            out,
            &format!(
                "  not active yet ({}): only its details and devices are read",
                s.status.as_deref().unwrap_or("?")
            ),
            "    ",
        );
    }
    energy(out, s, style);
    coverage(out, s);
    for fam in s.families.iter().filter(|x| x.failing()) {
        let what = match fam.state.resolution {
            Some(r) => format!("{} {}", fam.state.family, short_resolution(Some(r))),
            None => fam.state.family.clone(),
        };
        line(
            out,
            &format!(
                "  ! {what}: {}",
                fam.state.last_error.as_deref().unwrap_or("failed")
            ),
            "    ",
        );
    }
    if style.verbose {
        table(out, &s.families, s.tz);
    }
}

fn energy(out: &mut String, s: &SiteFacts, style: Style) {
    let mut parts = Vec::new();
    if let Some(t) = &s.today {
        parts.push(format!(
            "today {}{}",
            kwh(t.kwh),
            if t.partial { " so far" } else { "" }
        ));
    }
    if let Some(y) = s.yesterday {
        parts.push(format!("yesterday {}", kwh(y)));
    }
    if let Some(l) = s.lifetime_kwh {
        parts.push(format!("lifetime {}", kwh(l)));
    }
    if !parts.is_empty() {
        line(out, &format!("  {}", parts.join(", ")), "    ");
    }
    let values: Vec<Option<f64>> = s.week.iter().map(|(_, v)| *v).collect();
    let (Some((first, _)), Some((last, _))) = (s.week.first(), s.week.last()) else {
        return;
    };
    if values.iter().all(Option::is_none) {
        return;
    }
    let span = format!("{} to {}", first.format("%m-%d"), last.format("%m-%d"));
    if style.tty {
        let known: Vec<f64> = values.iter().flatten().copied().collect();
        let lo = known.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = known.iter().copied().fold(0.0, f64::max);
        line(
            out,
            &format!(
                "  last {} days {} {lo:.1} to {hi:.1} kWh a day ({span})",
                values.len(),
                sparkline(&values)
            ),
            "    ",
        );
    } else {
        let plain: Vec<String> = values
            .iter()
            .map(|v| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}")))
            .collect();
        line(
            out,
            &format!(
                "  last {} days, kWh ({span}): {}",
                values.len(),
                plain.join(" ")
            ),
            "    ",
        );
    }
}

fn coverage(out: &mut String, s: &SiteFacts) {
    let range = |res: Resolution| {
        s.families
            .iter()
            .find(|f| f.state.family == "energy" && f.state.resolution == Some(res))
            .and_then(|f| local_range(&f.state, s.tz))
    };
    let mut parts = Vec::new();
    if let Some((a, b)) = range(Resolution::QuarterHour) {
        parts.push(format!("quarter-hours {a} to {b}"));
    }
    if let Some((a, b)) = range(Resolution::Day) {
        parts.push(format!("days {a} to {b}"));
    }
    if parts.is_empty() {
        return;
    }
    line(out, &format!("  stored: {}", parts.join(", ")), "    ");
}

/// Every family: covered range in local time, rows stored, last success.
fn table(out: &mut String, families: &[FamilyFacts], tz: Option<Tz>) {
    let _ = writeln!(
        out,
        "  {:<18} {:<5} {:<16} {:<16} {:>7} last ok",
        "family", "res", "from", "through", "rows"
    );
    let zone = tz.unwrap_or(chrono_tz::UTC);
    for fam in families {
        let st = &fam.state;
        let (from, through) = local_range(st, tz).unwrap_or_default();
        let ok = st.last_success.map_or_else(
            || "never".to_string(),
            |t| t.with_timezone(&zone).format("%m-%d %H:%M").to_string(),
        );
        let row = format!(
            "  {:<18} {:<5} {:<16} {:<16} {:>7} {}",
            st.family,
            short_resolution(st.resolution),
            from,
            through,
            thousands(fam.rows),
            ok
        );
        let _ = writeln!(out, "{}", row.trim_end());
        if fam.unavailable() {
            line(out, "    not offered at this API tier", "    ");
        } else if let Some(e) = st.last_error.as_deref().filter(|_| fam.failing()) {
            line(out, &format!("    ! {e}"), "      ");
        }
        let gaps = st.gaps();
        if !gaps.is_empty() {
            line(
                out,
                &format!("    {} gaps to fetch again", gaps.len()),
                "      ",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Budget;
    use crate::status::Facts;
    use crate::store::{DayEnergy, Run, RunSummary, SyncState};
    use chrono::{Duration, NaiveDate, TimeZone};

    fn facts(run: Option<Run>, running: bool) -> Facts {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap();
        let tz: Tz = "Europe/Berlin".parse().unwrap();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let mut energy = SyncState::new(1, "energy", Some(Resolution::QuarterHour));
        energy.covered_from = Some(Utc.with_ymd_and_hms(2026, 11, 19, 11, 0, 0).unwrap());
        energy.covered_to = Some(now);
        energy.last_success = Some(now);
        let mut power = SyncState::new(1, "power", Some(Resolution::QuarterHour));
        power.last_error = Some(
            "server error 503 on /v2/sites/1/power three times in a row; the next run tries \
             again"
                .into(),
        );
        power.last_error_at = Some(now);
        Facts {
            database: "/var/lib/seh/seh.db".into(),
            now,
            clock_offset: None,
            budget: BudgetView::new(Budget::default(), now, 120),
            calls: 120,
            credits: 120,
            blocked_until: None,
            last_run: run,
            running,
            unreadable: 0,
            newest_unreadable: None,
            unlisted: vec![],
            sites: vec![SiteFacts {
                id: 1,
                name: Some("A house with a very long name that goes on and on and on".into()),
                tz: Some(tz),
                zoneless: false,
                active: true,
                status: Some("Active".into()),
                today: Some(DayEnergy {
                    date: day(26),
                    kwh: 3.25,
                    partial: true,
                }),
                yesterday: Some(12.0),
                week: (19..=25)
                    .map(|d| (day(d), (d != 21).then_some(f64::from(d - 18))))
                    .collect(),
                lifetime_kwh: Some(24_427.3),
                families: vec![
                    FamilyFacts {
                        state: energy,
                        rows: 672,
                    },
                    FamilyFacts {
                        state: power,
                        rows: 0,
                    },
                ],
            }],
            account: vec![],
            tables: vec![("seh_energy", 672)],
            rows_counted: true,
        }
    }

    fn started() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 11, 58, 0).unwrap()
    }

    #[test]
    fn a_terminal_gets_a_sparkline_and_a_pipe_plain_numbers() {
        let f = facts(None, false);
        let tty = render(
            &f,
            Style {
                verbose: false,
                tty: true,
            },
        );
        assert!(
            tty.contains("last 7 days ▂▃ ▅▆▇█ 1.0 to 7.0 kWh a day (11-19 to 11-25)"),
            "{tty}"
        );
        let piped = render(&f, Style::default());
        assert!(
            piped.contains("last 7 days, kWh (11-19 to 11-25): 1.0 2.0 - 4.0 5.0 6.0 7.0"),
            "{piped}"
        );
        assert!(!piped.contains('▁'), "{piped}");
        assert!(
            piped.contains("today 3.2 kWh so far, yesterday 12.0 kWh, lifetime 24,427 kWh"),
            "{piped}"
        );
        // Local dates: Berlin's day starts at 23:00 UTC, shown as the local 00:00.
        assert!(
            piped.contains("quarter-hours 2026-11-19 12:00 to 2026-11-26 12:45"),
            "{piped}"
        );
        assert!(
            piped.contains("  ! power 15min: server error 503"),
            "{piped}"
        );
    }

    #[test]
    fn every_line_fits_80_columns() {
        for verbose in [false, true] {
            for tty in [false, true] {
                let text = render(&facts(None, false), Style { verbose, tty });
                for l in text.lines() {
                    assert!(
                        l.chars().count() <= WIDTH,
                        "{} > 80: {l}",
                        l.chars().count()
                    );
                }
            }
        }
    }

    #[test]
    fn a_running_sync_is_not_a_crash_and_a_dead_one_is_explained() {
        let run = |finished| Run {
            run_id: 1,
            started_at: started(),
            finished,
        };
        let text = render(&facts(Some(run(None)), true), Style::default());
        assert!(
            text.contains("a sync is running (since 2026-11-26 11:58 UTC)"),
            "{text}"
        );
        assert!(
            !text.contains("did not finish") && !text.contains("stopped"),
            "{text}"
        );
        let text = render(&facts(Some(run(None)), false), Style::default());
        assert!(
            text.contains("started 2026-11-26 11:58 UTC and stopped before it finished"),
            "{text}"
        );
        let done = RunSummary {
            finished_at: started() + Duration::minutes(1),
            exit_code: 0,
            calls: 3,
            credits: 3,
            rows: 10,
            summary: "sync: 3 calls, 3 credits, 10 rows in 1.0 s; 0 failed, exit 0".into(),
        };
        let text = render(&facts(Some(run(Some(done))), false), Style::default());
        assert!(
            text.contains("last sync (2026-11-26 11:59 UTC): 3 calls, 3 credits, 10 rows"),
            "{text}"
        );
        let text = render(&facts(None, false), Style::default());
        assert!(text.contains("last sync: none yet"), "{text}");
    }
}
