//! Unit normalisation: every power value is stored in W and every energy value in Wh, with
//! the unit the API sent kept beside it (the server may not honour the `unit` we ask for).
//!
//! Ratios (`PERCENTAGE`, `PERCENTAGE_100`) are deliberately left alone: whether
//! `stateOfEnergy` is 0–1 or 0–100 is an open question, so the raw value and unit are kept.
//! Pure, no IO.

/// Returns `(factor, normalised unit)`: multiply an API value by `factor` to get a value in
/// the normalised unit. Matching is case-insensitive; unknown units come back unchanged with
/// factor 1.
pub fn normalise(api_unit: &str) -> (f64, String) {
    let known = match api_unit.trim().to_ascii_uppercase().as_str() {
        "W" => Some((1.0, "W")),
        "KW" => Some((1e3, "W")),
        "MW" => Some((1e6, "W")),
        "GW" => Some((1e9, "W")),
        "WH" => Some((1.0, "Wh")),
        "KWH" => Some((1e3, "Wh")),
        "MWH" => Some((1e6, "Wh")),
        "GWH" => Some((1e9, "Wh")),
        "V" | "VOLT" => Some((1.0, "V")),
        "A" | "AMPERE" => Some((1.0, "A")),
        "HZ" | "HERTZ" => Some((1.0, "Hz")),
        _ => None,
    };
    match known {
        Some((factor, unit)) => (factor, unit.to_string()),
        None => (1.0, api_unit.to_string()),
    }
}

/// Like [`normalise`] for an optional unit: a missing unit gives factor 1 and an empty
/// normalised unit (nothing is known, nothing is scaled).
pub fn normalise_opt(api_unit: Option<&str>) -> (f64, String) {
    match api_unit {
        Some(u) => normalise(u),
        None => (1.0, String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_and_energy_scale_to_w_and_wh() {
        let cases = [
            ("W", 1.0, "W"),
            ("kW", 1e3, "W"),
            ("KW", 1e3, "W"),
            ("MW", 1e6, "W"),
            ("WH", 1.0, "Wh"),
            ("Wh", 1.0, "Wh"),
            ("kWh", 1e3, "Wh"),
            ("KWH", 1e3, "Wh"),
            ("MWH", 1e6, "Wh"),
            ("GWH", 1e9, "Wh"),
        ];
        for (input, factor, unit) in cases {
            assert_eq!(normalise(input), (factor, unit.to_string()), "{input}");
        }
    }

    #[test]
    fn electrical_units_are_renamed() {
        assert_eq!(normalise("VOLT"), (1.0, "V".to_string()));
        assert_eq!(normalise("AMPERE"), (1.0, "A".to_string()));
        assert_eq!(normalise("HERTZ"), (1.0, "Hz".to_string()));
        assert_eq!(normalise("hertz"), (1.0, "Hz".to_string()));
    }

    #[test]
    fn ratios_and_unknown_units_stay_raw() {
        for raw in ["PERCENTAGE", "PERCENTAGE_100", "METRIC", "furlongs", ""] {
            assert_eq!(normalise(raw), (1.0, raw.to_string()));
        }
        assert_eq!(normalise_opt(None), (1.0, String::new()));
    }
}
