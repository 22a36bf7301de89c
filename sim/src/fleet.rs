//! A generated fleet for installers' scale: `Scenario::generated(n, seed)` (the CLI's
//! `--fleet N`) builds N varied sites deterministically from the seed, so tests and
//! benchmarks can ask for 500 or 5,000 sites without a scenario file.
//!
//! Variety a harvester must meet at scale: zones on both hemispheres (and one with a
//! 45-minute offset), ages from a week to ten years, one or two inverters, about half
//! with a production/consumption meter pair, a third with a battery, and a few sites
//! pending or inactive (no data).

use crate::rng::SplitMix64;
use crate::scenario::{BatterySpec, InverterSpec, MeterKind, MeterSpec, Scenario, SiteSpec};

/// Zones with their latitude and longitude (production follows the sun there).
const PLACES: [(&str, f64, f64); 10] = [
    ("Europe/Berlin", 52.5, 13.4),
    ("Europe/Lisbon", 38.7, -9.1),
    ("America/New_York", 40.7, -74.0),
    ("America/Denver", 39.7, -105.0),
    ("America/Sao_Paulo", -23.5, -46.6),
    ("Australia/Sydney", -33.9, 151.2),
    ("Pacific/Auckland", -36.8, 174.8),
    ("Asia/Kathmandu", 27.7, 85.3),
    ("Africa/Johannesburg", -26.2, 28.0),
    ("Asia/Tokyo", 35.7, 139.7),
];

/// First site id of a generated fleet (ids count up from here).
pub const FIRST_ID: i64 = 7_000_001;

impl Scenario {
    /// `n` sites made from `seed`: the same arguments give the same fleet.
    pub fn generated(n: usize, seed: u64) -> Scenario {
        let mut rng = SplitMix64::new(seed ^ 0xF1EE7);
        let sites = (0..n).map(|k| site(k, &mut rng)).collect();
        Scenario { sites }
    }
}

fn pick(rng: &mut SplitMix64, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

fn site(k: usize, rng: &mut SplitMix64) -> SiteSpec {
    let id = FIRST_ID + k as i64;
    let (zone, lat, lon) = PLACES[pick(rng, PLACES.len())];
    let status = match pick(rng, 100) {
        0 | 1 => "PENDING",
        2 => "INACTIVE",
        _ => "ACTIVE",
    };
    let peak_kw = 3.0 + (rng.next_f64() * 17.0 * 10.0).round() / 10.0;
    let n_inverters = 1 + usize::from(peak_kw > 12.0);
    let inverters: Vec<InverterSpec> = (0..n_inverters)
        .map(|j| InverterSpec {
            serial: format!("GEN{id:07}-{j}"),
            model: "SE5K-RWS48BEN4".into(),
            part_number: String::new(),
            share: 1.0,
            optimizers: 10 + pick(rng, 12) as u32,
            communication: "ETHERNET".into(),
        })
        .collect();
    let meters = if pick(rng, 2) == 0 {
        vec![
            MeterSpec {
                serial: Some(format!("MTR{id:07}P")),
                name: "Production Meter".into(),
                kind: MeterKind::Production,
                connected_to: Some(inverters[0].serial.clone()),
                model: Some("SE-MTR-1P".into()),
            },
            MeterSpec {
                serial: Some(format!("MTR{id:07}C")),
                name: "Consumption Meter".into(),
                kind: MeterKind::Consumption,
                connected_to: Some(inverters[0].serial.clone()),
                model: Some("SE-MTR-1P".into()),
            },
        ]
    } else {
        Vec::new()
    };
    let battery = (pick(rng, 3) == 0).then(|| BatterySpec {
        serial: format!("BAT{id:07}"),
        model: "SolarEdge Home Battery 48V 9.2kWh".into(),
        capacity_kwh: 9.2,
        max_power_kw: 5.0,
        modules: 2,
        connected_to: Some(inverters[0].serial.clone()),
    });
    SiteSpec {
        id,
        name: format!("Fleet site {}", k + 1),
        account_id: 20_001,
        timezone: zone.into(),
        latitude: lat,
        longitude: lon,
        peak_kw,
        // A week to ten years, most of them a few years.
        installed_days_ago: 7 + pick(rng, 3_650) as u32,
        activation_status: status.into(),
        note: String::new(),
        address: String::new(),
        city: String::new(),
        state: String::new(),
        zip: String::new(),
        country: String::new(),
        grid_voltage: if lat < 0.0 || zone.starts_with("Europe") {
            230.0
        } else {
            120.0
        },
        grid_frequency: if zone.starts_with("America") || zone == "Asia/Tokyo" {
            60.0
        } else {
            50.0
        },
        consumption_kwh_per_day: 6.0 + rng.next_f64() * 20.0,
        inverters,
        battery,
        meters,
        extra_devices: Vec::new(),
        alert_every_days: 30 + pick(rng, 120) as u32,
        silent_after_hours: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_fleet_is_valid_varied_and_repeatable() {
        let a = Scenario::generated(500, 7);
        a.validate().expect("valid");
        assert_eq!(a.sites.len(), 500);
        let b = Scenario::generated(500, 7);
        let key = |s: &Scenario| {
            s.sites
                .iter()
                .map(|x| {
                    (
                        x.id,
                        x.timezone.clone(),
                        x.installed_days_ago,
                        x.meters.len(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&a), key(&b), "same seed, same fleet");
        assert_ne!(key(&a), key(&Scenario::generated(500, 8)));
        let zones: std::collections::BTreeSet<_> = a.sites.iter().map(|s| &s.timezone).collect();
        assert_eq!(zones.len(), PLACES.len());
        assert!(
            a.sites.iter().any(|s| s.latitude < 0.0) && a.sites.iter().any(|s| s.latitude > 0.0)
        );
        assert!(
            a.sites.iter().any(|s| !s.has_data()),
            "some pending or inactive"
        );
        assert!(a.sites.iter().any(|s| s.battery.is_some()));
        assert!(a.sites.iter().any(|s| s.meters.is_empty()));
        assert!(a.sites.iter().any(|s| s.installed_days_ago > 3_000));
        assert!(a.sites.iter().any(|s| s.installed_days_ago < 60));
    }
}
