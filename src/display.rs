//! Formatting for people: numbers with thousands separators, energy, sparklines and
//! wrapping, so `status`, `plan` and the demo say things the same way and fit 80 columns.
//! Pure.

/// Width every human-facing output fits (a default terminal).
pub const WIDTH: usize = 80;

/// `47492` → `47,492`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Energy for a person: one decimal below 1,000 kWh, whole kWh with separators above.
pub fn kwh(v: f64) -> String {
    if v.abs() < 1000.0 {
        format!("{v:.1} kWh")
    } else {
        format!("{} kWh", thousands(v.round() as i64))
    }
}

/// One block character per value, scaled to the largest (`▁` is zero); a missing value is
/// a space.
pub fn sparkline(values: &[Option<f64>]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let top = values.iter().flatten().fold(0.0_f64, |a, &b| a.max(b));
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if top <= 0.0 => BARS[0],
            Some(v) => {
                let i = ((v.max(0.0) / top) * (BARS.len() - 1) as f64).round() as usize;
                BARS[i.min(BARS.len() - 1)]
            }
        })
        .collect()
}

/// Units [`wrap`] keeps on the line of the number before them.
const UNITS: &[&str] = &["h", "min", "day", "days", "kWh", "Wh", "W", "kW", "s", "%"];

/// `text` broken at spaces into lines of at most `width` characters, every line after the
/// first starting with `indent` (which counts toward the width). A word longer than the
/// room is cut.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    // Leading spaces are the first line's own indent.
    let lead = &text[..text.len() - text.trim_start().len()];
    let text = text.trim_start();
    let rest = width.saturating_sub(indent.chars().count()).max(1);
    let narrow = rest.min(width).max(1);
    // A unit stays with its number ("8 h", "12.3 kWh"); words wider than any line are cut
    // into pieces that fit.
    let mut glued: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match glued.last_mut() {
            Some(prev) if UNITS.contains(&word.trim_end_matches([',', ';', '.', ')'])) => {
                prev.push(' ');
                prev.push_str(word);
            }
            _ => glued.push(word.to_string()),
        }
    }
    let mut words: Vec<String> = Vec::new();
    for word in &glued {
        let chars: Vec<char> = word.chars().collect();
        for piece in chars.chunks(narrow) {
            words.push(piece.iter().collect());
        }
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = lead.to_string();
    for word in words {
        let room = if lines.is_empty() { width } else { rest };
        let len = line.chars().count();
        let fresh = line.trim().is_empty();
        if !fresh && len + 1 + word.chars().count() > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.trim().is_empty() {
        lines.push(line);
    }
    lines.join(&format!("\n{indent}"))
}

/// Help text (argh's, which puts each doc comment on one line) fitted to [`WIDTH`]: a long
/// line is wrapped, its continuation aligned under the description when the line is a
/// `  name   description` entry, else under its own first word.
pub fn fit_help(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        if line.chars().count() <= WIDTH {
            out.push_str(line);
        } else {
            let lead = line.len() - line.trim_start().len();
            // A gap of two or more spaces after the first word starts a description.
            let body = &line[lead..];
            let column = body
                .find("  ")
                .and_then(|gap| {
                    let rest = &body[gap..];
                    let desc = rest.len() - rest.trim_start().len();
                    (gap + desc < WIDTH / 2).then_some(lead + gap + desc)
                })
                .unwrap_or(lead);
            // The name and the gap stay as they are; the description is wrapped.
            let (name, description) = line.split_at(column);
            let indent = " ".repeat(column);
            let wrapped = wrap(&format!("{indent}{description}"), WIDTH, &indent);
            out.push_str(name);
            out.push_str(&wrapped[column..]);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(47_492), "47,492");
        assert_eq!(thousands(-1_234_567), "-1,234,567");
    }

    #[test]
    fn energy_reads_naturally() {
        assert_eq!(kwh(12.34), "12.3 kWh");
        assert_eq!(kwh(0.0), "0.0 kWh");
        assert_eq!(kwh(31_234.4), "31,234 kWh");
    }

    #[test]
    fn sparkline_scales_to_the_largest_value() {
        assert_eq!(sparkline(&[Some(0.0), Some(5.0), Some(10.0), None]), "▁▅█ ");
        assert_eq!(sparkline(&[Some(0.0), Some(0.0)]), "▁▁");
        assert_eq!(sparkline(&[]), "");
    }

    #[test]
    fn help_lines_wrap_under_their_description() {
        let help = "Options:\n  --config          configuration file (default: search $SEH_CONFIG, ./seh.toml, ~/.config/seh, /etc/seh)\nshort\n";
        let fitted = fit_help(help);
        assert_eq!(
            fitted,
            "Options:\n  --config          configuration file (default: search $SEH_CONFIG, ./seh.toml,\n                    ~/.config/seh, /etc/seh)\nshort\n"
        );
        let long = format!("{} end", "word ".repeat(30));
        assert!(fit_help(&long).lines().all(|l| l.chars().count() <= WIDTH));
    }

    #[test]
    fn wrap_breaks_at_spaces_and_indents() {
        let text = "power flow needs a higher API tier; skipped until seh sync --full";
        let w = wrap(text, 30, "    ");
        assert_eq!(
            w,
            "power flow needs a higher API\n    tier; skipped until seh\n    sync --full"
        );
        assert!(w.lines().all(|l| l.chars().count() <= 30), "{w}");
        assert_eq!(wrap("abcdefghij", 4, ""), "abcd\nefgh\nij");
        assert_eq!(wrap("", 10, ""), "");
        assert_eq!(wrap("alerts every 8 h", 15, "  "), "alerts every\n  8 h");
        assert_eq!(wrap("took 3 min; ok", 10, ""), "took\n3 min; ok");
        assert_eq!(wrap("  ! a b c", 6, "    "), "  ! a\n    b\n    c");
    }
}
