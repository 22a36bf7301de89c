//! Inline SVG charts for the report: bars (energy per day or month) and a line (a day's
//! quarter-hours). Pure text; no script, no fonts or styles from elsewhere. A chart scales
//! to its container (`viewBox`, width 100%), so it reads on a phone as on a desktop.
//! A missing value is a gap in the line or a missing bar, never a zero.

use super::page::esc;
use std::fmt::Write as _;

/// Drawing area in user units; the text margins lie outside it.
const W: f64 = 600.0;
const H: f64 = 180.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 26.0;
const TOP: f64 = 12.0;
/// Room for the last bar's label, centred under it.
const RIGHT: f64 = 36.0;

/// One bar: its label (shown for some bars), value, and whether it is still growing.
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub partial: bool,
}

/// The quarter-hours of one line: `(HH:MM, value)`, `None` where none was stored.
pub type Points = Vec<(String, Option<f64>)>;

/// A round upper bound for the axis: 1, 2 or 5 times a power of ten, at least `top`.
fn nice_max(top: f64) -> f64 {
    if top <= 0.0 || !top.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(top.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= top)
        .unwrap_or(10.0 * p)
}

/// `1234.5` → `1234.5`, `1200` → `1200`: axis labels without trailing zeros.
fn short(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

fn open(out: &mut String, title: &str, id: &str) {
    let _ = write!(
        out,
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {} {}\" role=\"img\" \
         aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        LEFT + W + RIGHT,
        TOP + H + BOTTOM,
        esc(title)
    );
}

/// Axes with the maximum and zero labelled, `unit` beside the maximum.
fn axes(out: &mut String, max: f64, unit: &str) {
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{y0}\" class=\"axis\"/>\
         <line x1=\"{LEFT}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" class=\"axis\"/>\
         <line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{x1}\" y2=\"{TOP}\" class=\"grid\"/>\
         <text x=\"{lx}\" y=\"{ty}\" class=\"yl\">{}</text>\
         <text x=\"{lx}\" y=\"{ty2}\" class=\"yl\">{}</text>\
         <text x=\"{lx}\" y=\"{y0}\" class=\"yl\">0</text>",
        short(max),
        esc(unit),
        y0 = TOP + H,
        x1 = LEFT + W,
        lx = LEFT - 4.0,
        ty = TOP + 4.0,
        ty2 = TOP + 22.0,
    );
}

fn x_label(out: &mut String, x: f64, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{}\" class=\"xl\">{}</text>",
        TOP + H + 20.0,
        esc(text)
    );
}

/// A bar chart; about `labels` of the bars get their label under the axis.
pub fn bars(id: &str, title: &str, unit: &str, bars: &[Bar], labels: usize) -> String {
    let mut out = String::new();
    open(&mut out, title, id);
    let max = nice_max(bars.iter().map(|b| b.value).fold(0.0, f64::max));
    axes(&mut out, max, unit);
    let n = bars.len().max(1) as f64;
    let slot = W / n;
    let every = bars.len().div_ceil(labels.max(1)).max(1);
    for (i, b) in bars.iter().enumerate() {
        let h = (b.value.max(0.0) / max * H).min(H);
        let x = LEFT + i as f64 * slot + slot * 0.1;
        let class = if b.partial { "bar partial" } else { "bar" };
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" class=\"{class}\">\
             <title>{}: {:.1} {}</title></rect>",
            TOP + H - h,
            slot * 0.8,
            esc(&b.label),
            b.value,
            esc(unit)
        );
        if i % every == 0 {
            x_label(&mut out, LEFT + (i as f64 + 0.5) * slot, &b.label);
        }
    }
    out.push_str("</svg>");
    out
}

/// One line over a day: `series` of `(name, points)`, each point a `(HH:MM, value)` of
/// one quarter-hour; `slots` is the day's number of quarter-hours, so the line spans the
/// day however many are stored. `max` fixes the axis (100 for percentages).
pub fn day_lines(
    id: &str,
    title: &str,
    unit: &str,
    series: &[(&str, Points)],
    slots: usize,
    max: Option<f64>,
) -> String {
    let mut out = String::new();
    open(&mut out, title, id);
    let top = series
        .iter()
        .flat_map(|(_, p)| p.iter().filter_map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let max = max.unwrap_or_else(|| nice_max(top));
    axes(&mut out, max, unit);
    let slots = slots.max(1) as f64;
    let minutes_of = |hhmm: &str| {
        hhmm.split_once(':')
            .and_then(|(h, m)| Some(h.parse::<f64>().ok()? * 60.0 + m.parse::<f64>().ok()?))
    };
    // Wall-clock position; on a day whose clock jumps (not 96 quarter-hours), the index
    // keeps buckets apart.
    let wall_clock = slots == 96.0;
    let x_of = |hhmm: &str, i: usize| -> f64 {
        let frac = match minutes_of(hhmm) {
            Some(m) if wall_clock => m / 1440.0,
            _ => i as f64 / slots,
        };
        LEFT + frac * W
    };
    for (k, (name, points)) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        let mut last_minute: Option<f64> = None;
        for (i, (hhmm, v)) in points.iter().enumerate() {
            let minute = minutes_of(hhmm);
            // A quarter-hour never stored is a gap too, not a straight line across it.
            if wall_clock && minute.zip(last_minute).is_some_and(|(m, l)| m - l > 15.0) {
                pen_down = false;
            }
            last_minute = minute;
            match v {
                Some(v) => {
                    let y = TOP + H - (v.max(0.0) / max * H).min(H);
                    let cmd = if pen_down { 'L' } else { 'M' };
                    let _ = write!(d, "{cmd}{:.1} {y:.1}", x_of(hhmm, i));
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let _ = write!(
            out,
            "<path d=\"{d}\" class=\"line s{}\"><title>{}</title></path>",
            k % 4,
            esc(name)
        );
    }
    for (h, label) in [
        (0.0, "00:00"),
        (0.25, "06:00"),
        (0.5, "12:00"),
        (0.75, "18:00"),
    ] {
        x_label(&mut out, LEFT + h * W, label);
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(5.0), 5.0);
        assert_eq!(nice_max(1234.0), 2000.0);
        assert_eq!(short(2000.0), "2000");
        assert_eq!(short(0.5), "0.5");
    }

    #[test]
    fn a_missing_value_breaks_the_line() {
        let pts = vec![
            ("00:00".to_string(), Some(1.0)),
            ("00:15".to_string(), None),
            ("00:30".to_string(), Some(1.0)),
        ];
        let svg = day_lines("c", "t", "W", &[("p", pts)], 96, None);
        // Two pieces, each starting with a move; no point drawn at zero for the gap.
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert!(!svg.contains('L'), "{svg}");
    }

    #[test]
    fn a_missing_quarter_hour_breaks_the_line() {
        let pts = vec![
            ("10:00".to_string(), Some(1.0)),
            ("10:15".to_string(), Some(1.0)),
            ("11:00".to_string(), Some(1.0)),
        ];
        let svg = day_lines("c", "t", "W", &[("p", pts)], 96, None);
        assert_eq!(svg.matches('M').count(), 2, "{svg}");
        assert_eq!(svg.matches('L').count(), 1, "{svg}");
    }

    #[test]
    fn bars_escape_their_labels() {
        let b = [Bar {
            label: "<x>".into(),
            value: 2.0,
            partial: true,
        }];
        let svg = bars("c", "t", "kWh", &b, 10);
        assert!(
            svg.contains("&lt;x&gt;") && svg.contains("bar partial"),
            "{svg}"
        );
        assert!(!svg.contains("<x>"), "{svg}");
    }
}
