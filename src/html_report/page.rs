//! The HTML page of a [`Report`]: one file with its style inline, charts as inline SVG,
//! no script and nothing fetched, laid out in one column that narrows to a phone's width.
//!
//! Every figure a test (or a script) may want to check carries its exact value in a
//! `data-` attribute beside the rounded text a person reads: `#lifetime-SITE[data-kwh]`,
//! `tr.day[data-date][data-kwh]`, `tr.month[data-month][data-kwh]`,
//! `span.cov[data-date][data-buckets][data-expected]`, `tr.meter[data-date]`.

use super::svg::{self, Bar, Points};
use super::{Report, SiteReport};
use crate::display;
use chrono::NaiveDate;
use std::fmt::Write as _;

/// Text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
:root{color-scheme:light dark;--fg:#1b1f23;--bg:#fff;--mut:#667;--bar:#f2a516;--ok:#2e9d4f;\
--part:#e0b33c;--none:#ccc;--line:#d0d4d8}\
@media (prefers-color-scheme:dark){:root{--fg:#e6e6e6;--bg:#16181b;--mut:#99a;--line:#3a3f44}}\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--fg);\
background:var(--bg);margin:0 auto;max-width:60rem;padding:0.75rem;line-height:1.4}\
h1{font-size:1.4rem;margin:0.2rem 0}h2{font-size:1.2rem;margin:1.5rem 0 0.3rem;\
border-top:2px solid var(--line);padding-top:0.8rem}h3{font-size:1rem;margin:1rem 0 0.2rem}\
.meta,small,.note{color:var(--mut)}\
.cards{display:flex;flex-wrap:wrap;gap:0.5rem}.card{border:1px solid var(--line);\
border-radius:6px;padding:0.4rem 0.7rem;min-width:8rem}.card b{display:block;font-size:1.3rem}\
.chart{width:100%;height:auto;display:block}.axis{stroke:var(--mut)}.grid{stroke:var(--line);\
stroke-dasharray:3 3}.yl{font-size:16px;text-anchor:end;fill:var(--mut)}\
.xl{font-size:16px;text-anchor:middle;fill:var(--mut)}.bar{fill:var(--bar)}\
.bar.partial{fill:var(--part);opacity:0.6}.line{fill:none;stroke-width:2}.s0{stroke:#e07b00}\
.s1{stroke:#2a7fd4}.s2{stroke:#2e9d4f}.s3{stroke:#b03fb0}\
.covs{display:flex;flex-wrap:wrap;gap:2px}.cov{width:0.9rem;height:0.9rem;border-radius:2px;\
background:var(--none)}.cov.ok{background:var(--ok)}.cov.part{background:var(--part)}\
table{border-collapse:collapse;font-variant-numeric:tabular-nums}td,th{padding:0.1rem 0.6rem;\
text-align:right;border-bottom:1px solid var(--line)}td:first-child,th:first-child{text-align:left}\
.scroll{overflow-x:auto}";

/// The whole page.
pub fn render(report: &Report) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let generated = report.generated_at.format("%Y-%m-%d %H:%M UTC");
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>SolarEdge report {generated}</title><style>{STYLE}</style></head><body>\
         <h1>SolarEdge report</h1><p class=\"meta\">Generated <time id=\"generated-at\" \
         datetime=\"{}\">{generated}</time> by seh {} from the local copy of the \
         Monitoring API. Days and months are the site's local ones; a light bar is still \
         growing.</p>",
        report.generated_at.format("%Y-%m-%dT%H:%M:%SZ"),
        env!("CARGO_PKG_VERSION"),
    );
    if report.sites.is_empty() {
        out.push_str("<p id=\"no-sites\">No sites are stored yet: run <code>seh sync</code>.</p>");
    }
    for site in &report.sites {
        render_site(&mut out, site);
    }
    out.push_str("</body></html>\n");
    out
}

fn render_site(out: &mut String, s: &SiteReport) {
    let id = s.site_id;
    let name = s.name.clone().unwrap_or_else(|| format!("Site {id}"));
    let _ = write!(
        out,
        "<section class=\"site\" id=\"site-{id}\" data-site=\"{id}\"><h2>{} <small>{id}{}</small></h2>",
        esc(&name),
        s.timezone
            .as_deref()
            .map(|z| format!(" · {}", esc(z)))
            .unwrap_or_default()
    );
    cards(out, s);
    let Some((from, to)) = s.period else {
        out.push_str("<p class=\"note\">No energy is stored for this site yet.</p></section>");
        return;
    };
    curve(out, s);
    daily(out, s, from, to);
    coverage(out, s);
    meters(out, s);
    monthly(out, s);
    out.push_str("</section>");
}

fn cards(out: &mut String, s: &SiteReport) {
    let id = s.site_id;
    out.push_str("<div class=\"cards\">");
    match s.lifetime_kwh {
        Some(v) => {
            let _ = write!(
                out,
                "<div class=\"card\">Lifetime<b id=\"lifetime-{id}\" data-kwh=\"{v}\">{}</b></div>",
                display::kwh(v)
            );
        }
        None => {
            let _ = write!(
                out,
                "<div class=\"card\">Lifetime<b id=\"lifetime-{id}\">unknown</b></div>"
            );
        }
    }
    if let Some((from, to)) = s.period {
        let total: f64 = s.days.iter().map(|d| d.kwh).sum();
        let _ = write!(
            out,
            "<div class=\"card\">{from} to {to}<b id=\"period-{id}\" data-kwh=\"{total}\">{}</b></div>",
            display::kwh(total)
        );
        let days = (to - from).num_days() + 1;
        let complete = s.coverage.iter().filter(|c| c.complete()).count();
        let _ = write!(
            out,
            "<div class=\"card\">Complete days<b id=\"complete-{id}\" data-days=\"{complete}\">\
             {complete} of {days}</b></div>"
        );
    }
    out.push_str("</div>");
}

fn points(q: &[crate::store::QuarterHour]) -> Points {
    q.iter().map(|p| (p.local_time.clone(), p.value)).collect()
}

fn curve(out: &mut String, s: &SiteReport) {
    let id = s.site_id;
    let Some(c) = &s.curve else {
        out.push_str("<p class=\"note\">No quarter-hour data in this period.</p>");
        return;
    };
    let which = if c.complete {
        "the last complete day"
    } else {
        "the newest day, incomplete"
    };
    let peak = c
        .power
        .iter()
        .filter_map(|p| p.value)
        .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))));
    let _ = write!(
        out,
        "<h3>Power on <span id=\"curve-date-{id}\">{}</span> <small>({which}{})</small></h3>",
        c.date,
        peak.map(|p| format!(", peak {} W", display::thousands(p.round() as i64)))
            .unwrap_or_default()
    );
    let series = [("power", points(&c.power))];
    out.push_str(&svg::day_lines(
        &format!("power-{id}"),
        "power over the day",
        "W",
        &series,
        c.slots as usize,
        None,
    ));
    if c.batteries.is_empty() {
        return;
    }
    let _ = write!(out, "<h3>Battery state of energy on {}</h3>", c.date);
    let series: Vec<(&str, Points)> = c
        .batteries
        .iter()
        .map(|(key, q)| (key.as_str(), points(q)))
        .collect();
    out.push_str(&svg::day_lines(
        &format!("soe-{id}"),
        "battery state of energy",
        "%",
        &series,
        c.slots as usize,
        Some(100.0),
    ));
    out.push_str("<p class=\"note\">");
    for (key, q) in &c.batteries {
        let last = q
            .iter()
            .rev()
            .find_map(|p| p.value.map(|v| (&p.local_time, v)));
        if let Some((at, v)) = last {
            let _ = write!(
                out,
                "<span class=\"soe\" data-battery=\"{}\" data-pct=\"{v}\">{}: {v:.0} % at {}</span> ",
                esc(key),
                esc(key),
                esc(at)
            );
        }
    }
    out.push_str("</p>");
}

fn daily(out: &mut String, s: &SiteReport, from: NaiveDate, to: NaiveDate) {
    let id = s.site_id;
    let _ = write!(out, "<h3>Energy per day, {from} to {to}</h3>");
    let bars: Vec<Bar> = s
        .days
        .iter()
        .map(|d| Bar {
            label: d.date.format("%m-%d").to_string(),
            value: d.kwh,
            partial: d.partial,
        })
        .collect();
    out.push_str(&svg::bars(
        &format!("daily-{id}"),
        "energy per day",
        "kWh",
        &bars,
        6,
    ));
    let _ = write!(
        out,
        "<details><summary>Table</summary><div class=\"scroll\"><table id=\"days-{id}\">\
         <tr><th>Day</th><th>kWh</th></tr>"
    );
    for d in &s.days {
        let mark = if d.partial { " (so far)" } else { "" };
        let _ = write!(
            out,
            "<tr class=\"day\" data-date=\"{}\" data-kwh=\"{}\"><td>{}</td><td>{:.2}{mark}</td></tr>",
            d.date, d.kwh, d.date, d.kwh
        );
    }
    out.push_str("</table></div></details>");
}

fn coverage(out: &mut String, s: &SiteReport) {
    let id = s.site_id;
    let _ = write!(
        out,
        "<h3>Quarter-hour coverage</h3><p class=\"note\">One square per day: green when every \
         quarter-hour of energy is stored (92, 96 or 100 on the days the clock changes), \
         yellow when some are, grey when none.</p><div class=\"covs\" id=\"coverage-{id}\">"
    );
    for c in &s.coverage {
        let class = match c.buckets {
            0 => "cov",
            _ if c.complete() => "cov ok",
            _ => "cov part",
        };
        let _ = write!(
            out,
            "<span class=\"{class}\" data-date=\"{d}\" data-buckets=\"{b}\" \
             data-expected=\"{e}\" title=\"{d}: {b} of {e}\"></span>",
            d = c.date,
            b = c.buckets,
            e = c.expected
        );
    }
    out.push_str("</div>");
}

fn meters(out: &mut String, s: &SiteReport) {
    if s.meters.is_empty() {
        return;
    }
    let id = s.site_id;
    let _ = write!(
        out,
        "<h3>Meters per day (kWh)</h3><details><summary>Table</summary><div class=\"scroll\">\
         <table id=\"meters-{id}\"><tr><th>Day</th><th>Production</th><th>Consumption</th>\
         <th>Import</th><th>Export</th></tr>"
    );
    let cell = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
    for m in &s.meters {
        let attr = |name: &str, v: Option<f64>| {
            v.map(|v| format!(" data-{name}=\"{v}\""))
                .unwrap_or_default()
        };
        let _ = write!(
            out,
            "<tr class=\"meter\" data-date=\"{}\"{}{}{}{}><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            m.date,
            attr("production", m.production_kwh),
            attr("consumption", m.consumption_kwh),
            attr("import", m.import_kwh),
            attr("export", m.export_kwh),
            m.date,
            cell(m.production_kwh),
            cell(m.consumption_kwh),
            cell(m.import_kwh),
            cell(m.export_kwh)
        );
    }
    out.push_str("</table></div></details>");
}

fn monthly(out: &mut String, s: &SiteReport) {
    let id = s.site_id;
    if s.months.is_empty() {
        return;
    }
    out.push_str("<h3>Energy per month</h3>");
    let bars: Vec<Bar> = s
        .months
        .iter()
        .map(|m| Bar {
            label: m.month.clone(),
            value: m.kwh,
            partial: m.partial,
        })
        .collect();
    out.push_str(&svg::bars(
        &format!("monthly-{id}"),
        "energy per month",
        "kWh",
        &bars,
        6,
    ));
    let _ = write!(
        out,
        "<details><summary>Table</summary><div class=\"scroll\"><table id=\"months-{id}\">\
         <tr><th>Month</th><th>kWh</th></tr>"
    );
    for m in &s.months {
        let mark = if m.partial { " (so far)" } else { "" };
        let _ = write!(
            out,
            "<tr class=\"month\" data-month=\"{}\" data-kwh=\"{}\"><td>{}</td><td>{:.1}{mark}</td></tr>",
            esc(&m.month),
            m.kwh,
            esc(&m.month),
            m.kwh
        );
    }
    out.push_str("</table></div></details>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_empty_report_says_how_to_fill_it() {
        let r = Report {
            generated_at: chrono::Utc.with_ymd_and_hms(2026, 12, 3, 19, 0, 0).unwrap(),
            sites: Vec::new(),
        };
        let html = render(&r);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("2026-12-03 19:00 UTC") && html.contains("seh sync"));
        // Self-contained: nothing is fetched and nothing runs.
        for bad in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(bad), "{bad}");
        }
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
