//! Deterministic site data: one quarter-hour record per bucket from installation to "now",
//! and every coarser view (hours, days, ..., totals, overview) derived from those records.
//!
//! The quarter-hour is the only thing generated; everything else is a sum, mean or last
//! value of quarter-hours, so every resolution agrees with every other by construction.
//! Each record balances exactly the way V2's overview block describes:
//! production = self-consumption + to storage + export and
//! consumption = from PV + from storage + import.
//!
//! Randomness is a hash of (seed, site, stream, index), never a stateful generator, so any
//! bucket can be recomputed alone and two simulators with the same seed agree. The battery
//! is the one stateful part (its charge integrates over time), which is why records are
//! generated sequentially and cached per site; a year of quarter-hours takes a few
//! milliseconds.

use crate::scenario::{MeterKind, SiteSpec};
use crate::time::{self, Res};
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use chrono_tz::Tz;

/// One quarter-hour of a site. Energies in Wh, rounded to 1 mWh as they are reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct Quarter {
    /// PV production; `None` while the inverters sleep (night).
    pub pv: Option<f64>,
    pub load: f64,
    pub self_use: f64,
    pub to_storage: f64,
    pub export: f64,
    pub from_storage: f64,
    pub import: f64,
    /// Battery remaining energy at the end of the bucket.
    pub remaining: f64,
    /// Mains voltage and frequency seen by the inverters (noise shared by all inverters).
    pub voltage: f64,
    pub frequency: f64,
}

/// How a coarser bucket is made from quarter-hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agg {
    Sum,
    Mean,
    Last,
}

/// Every series the simulator can report, in base units (W, Wh, V, A, Hz, fraction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    SiteEnergy,
    SitePower,
    InverterEnergy(usize),
    InverterPower(usize),
    InverterVoltage(usize),
    InverterCurrent(usize),
    InverterFrequency(usize),
    /// What the inverter draws from the grid for itself (`consumedAcPower`, `consumedAcEnergy`):
    /// a few watts while it is not producing, nothing while it is (reference §6.1).
    InverterConsumedPower(usize),
    InverterConsumedEnergy(usize),
    /// Meter metric by what it measures: production, consumption, import or export.
    MeterEnergy(MeterKind),
    MeterPower(MeterKind),
    ChargePower,
    DischargePower,
    ChargeEnergy,
    DischargeEnergy,
    RemainingEnergy,
    /// Always a 0–1 fraction here; the wire scale is applied by the API layer.
    StateOfEnergy,
}

impl Metric {
    pub fn agg(self) -> Agg {
        match self {
            Metric::SiteEnergy
            | Metric::InverterEnergy(_)
            | Metric::InverterConsumedEnergy(_)
            | Metric::MeterEnergy(_)
            | Metric::ChargeEnergy
            | Metric::DischargeEnergy => Agg::Sum,
            Metric::RemainingEnergy | Metric::StateOfEnergy => Agg::Last,
            _ => Agg::Mean,
        }
    }

    /// Voltage, current and frequency: the series the documented shape stamps at the
    /// bucket end (reference §8.10) and a live-looking body at the start (§6.1); see
    /// [`TelemetryStamp`].
    pub fn is_electrical(self) -> bool {
        matches!(
            self,
            Metric::InverterVoltage(_) | Metric::InverterCurrent(_) | Metric::InverterFrequency(_)
        )
    }

    /// Energies exist at every resolution; power, electrical values and battery levels only
    /// at QUARTER_HOUR and HOUR.
    pub fn supports(self, res: Res) -> bool {
        match self.agg() {
            Agg::Sum => true,
            _ => matches!(res, Res::QuarterHour | Res::Hour),
        }
    }
}

/// Where inverter voltage, current and frequency are stamped (reference §8.10 vs §6.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryStamp {
    /// At the bucket end, as documented (default).
    End,
    /// At the bucket start, the same instants as `power`, as in a body that looks captured live.
    Start,
}

/// One reported bucket.
#[derive(Clone, Debug, PartialEq)]
pub struct Bucket {
    /// Bucket start.
    pub start: DateTime<Utc>,
    /// The timestamp printed on the wire (start, or end for end-stamped metrics).
    pub stamp: DateTime<Utc>,
    pub value: Option<f64>,
}

/// Sums over a window for `/overview`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OverviewSums {
    pub any: bool,
    pub production: f64,
    pub self_use: f64,
    pub to_storage: f64,
    pub export: f64,
    pub load: f64,
    pub from_storage: f64,
    pub import: f64,
}

/// Knobs that change what the data looks like.
#[derive(Clone, Copy, Debug)]
pub struct GenOptions {
    pub seed: u64,
    /// Each quarter-hour becomes visible between 0 and this many minutes after it ends.
    pub late_max_minutes: u32,
    /// Where voltage, current and frequency are stamped.
    pub telemetry_stamp: TelemetryStamp,
}

/// Cached records of one site.
pub struct SiteModel {
    pub spec: SiteSpec,
    pub tz: Tz,
    pub install: DateTime<Utc>,
    /// From here on the site reports nothing (`SiteSpec::silent_after_hours`).
    silent_from: Option<DateTime<Utc>>,
    opts: GenOptions,
    quarters: Vec<Quarter>,
    /// Normalised inverter shares, summing to 1.
    shares: Vec<f64>,
}

const QH: i64 = 900;

fn r3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// splitmix64 finaliser: a good 64-bit mix, enough for reproducible noise.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from (seed, site, stream, index).
pub fn unit(seed: u64, site: i64, stream: u64, index: i64) -> f64 {
    let h = mix(mix(mix(seed ^ site as u64) ^ stream.wrapping_mul(0x100_0000_01B3)) ^ index as u64);
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Relative household consumption per local hour (evening peak, morning bump, low night).
const LOAD_SHAPE: [f64; 24] = [
    0.50, 0.45, 0.40, 0.40, 0.40, 0.50, 0.90, 1.30, 1.20, 0.90, 0.80, 0.80, 0.90, 0.85, 0.80, 0.85,
    1.00, 1.40, 1.70, 1.60, 1.40, 1.10, 0.80, 0.60,
];

impl SiteModel {
    pub fn new(spec: SiteSpec, sim_start: DateTime<Utc>, opts: GenOptions) -> SiteModel {
        let tz = spec.tz();
        let install = spec.installation(sim_start);
        let total: f64 = spec.inverters.iter().map(|i| i.share.max(0.0)).sum();
        let shares = spec
            .inverters
            .iter()
            .map(|i| {
                if total > 0.0 {
                    i.share.max(0.0) / total
                } else {
                    0.0
                }
            })
            .collect();
        let silent_from = spec
            .silent_after_hours
            .map(|h| sim_start + Duration::hours(h));
        SiteModel {
            spec,
            tz,
            install,
            silent_from,
            opts,
            quarters: Vec::new(),
            shares,
        }
    }

    /// Index of the quarter-hour starting at `t` (which must be aligned) or containing it.
    pub fn index_of(&self, t: DateTime<Utc>) -> i64 {
        (t.timestamp() - self.install.timestamp()).div_euclid(QH)
    }

    pub fn start_of(&self, i: i64) -> DateTime<Utc> {
        self.install + Duration::seconds(i * QH)
    }

    /// Generate records up to and including the quarter-hour containing `until`.
    pub fn ensure(&mut self, until: DateTime<Utc>) {
        if !self.spec.has_data() {
            return;
        }
        let want = self.index_of(until) + 1;
        while (self.quarters.len() as i64) < want {
            let i = self.quarters.len() as i64;
            let prev = self.quarters.last().map(|q| q.remaining);
            let q = self.generate(i, prev);
            self.quarters.push(q);
        }
    }

    /// The record of quarter `i` if it exists (after installation, generated).
    pub fn quarter(&self, i: i64) -> Option<&Quarter> {
        usize::try_from(i).ok().and_then(|i| self.quarters.get(i))
    }

    fn generate(&self, i: i64, prev_remaining: Option<f64>) -> Quarter {
        let spec = &self.spec;
        let seed = self.opts.seed;
        let start = self.start_of(i);
        let mid = start + Duration::seconds(QH / 2);
        let local = mid.with_timezone(&self.tz);
        let day_index = (mid.timestamp() + i64::from(time::offset_minutes(mid, self.tz)) * 60)
            .div_euclid(86_400);

        // Sun: elevation from latitude, declination and hour angle (equation of time ignored).
        let doy = f64::from(mid.ordinal());
        let decl =
            (23.44f64).to_radians() * (2.0 * std::f64::consts::PI * (284.0 + doy) / 365.0).sin();
        let utc_hours = f64::from(mid.hour()) + f64::from(mid.minute()) / 60.0;
        let solar_hours = utc_hours + spec.longitude / 15.0;
        let hour_angle = ((solar_hours - 12.0) * 15.0).to_radians();
        let lat = spec.latitude.to_radians();
        let sin_el = lat.sin() * decl.sin() + lat.cos() * decl.cos() * hour_angle.cos();

        // Weather: a cloudiness per local day, varied per hour and per quarter.
        let day_clear = 0.25 + 0.75 * unit(seed, spec.id, 1, day_index).powf(0.6);
        let hour_var = 0.8 + 0.2 * unit(seed, spec.id, 2, day_index * 24 + i64::from(local.hour()));
        let q_var = 0.9 + 0.1 * unit(seed, spec.id, 3, i);
        // The inverter wakes in twilight, a little before sunrise, and reports 0.0 until
        // the sun is up (L04: nulls until 05:45, 0.0 from 06:00). Four degrees is more
        // than the sun climbs in a quarter-hour anywhere, so every day has a 0.0 at dawn
        // and at dusk.
        let silent = self.silent_from.is_some_and(|t| start >= t);
        let awake = sin_el > (-4.0f64).to_radians().sin() && !silent;
        let pv = if awake {
            let kw = spec.peak_kw * 0.82 * sin_el.max(0.0).powf(1.1) * day_clear * hour_var * q_var;
            Some(r3(kw * 250.0))
        } else {
            None
        };

        // Household: a daily shape, more in the local winter, with noise.
        let shape_sum: f64 = LOAD_SHAPE.iter().sum();
        let winter_peak_doy = if spec.latitude >= 0.0 { 15.0 } else { 197.0 };
        let season =
            1.0 + 0.25 * (2.0 * std::f64::consts::PI * (doy - winter_peak_doy) / 365.0).cos();
        let noise = 0.8 + 0.4 * unit(seed, spec.id, 4, i);
        let load = r3(
            spec.consumption_kwh_per_day * 1000.0 * LOAD_SHAPE[local.hour() as usize]
                / shape_sum
                / 4.0
                * season
                * noise,
        );

        // Energy balance, battery first for both surplus and deficit.
        let pv_wh = pv.unwrap_or(0.0);
        let self_use = pv_wh.min(load);
        let surplus = pv_wh - self_use;
        let deficit = load - self_use;
        let (mut to_storage, mut from_storage, mut remaining) = (0.0, 0.0, 0.0);
        if let Some(b) = &spec.battery {
            let cap = b.capacity_kwh * 1000.0;
            let reserve = cap * 0.1;
            let step = b.max_power_kw * 250.0;
            remaining = prev_remaining.unwrap_or(cap * 0.5);
            to_storage = r3(surplus.min(step).min((cap - remaining).max(0.0)));
            remaining += to_storage;
            from_storage = r3(deficit.min(step).min((remaining - reserve).max(0.0)));
            remaining = r3(remaining - from_storage);
        }
        let export = r3(surplus - to_storage);
        let import = r3(deficit - from_storage);

        let voltage = r3(spec.grid_voltage + 3.0 * (unit(seed, spec.id, 5, i) - 0.5));
        let frequency = r3(spec.grid_frequency + 0.06 * (unit(seed, spec.id, 6, i) - 0.5));
        Quarter {
            pv,
            load,
            self_use: r3(self_use),
            to_storage,
            export,
            from_storage,
            import,
            remaining,
            voltage,
            frequency,
        }
    }

    /// Whether quarter `i` has reached the API at `now`: it must have ended, plus a per-bucket
    /// delivery delay of up to `late_max_minutes`.
    pub fn visible(&self, i: i64, now: DateTime<Utc>) -> bool {
        let end = self.start_of(i + 1);
        let late = (unit(self.opts.seed, self.spec.id, 7, i)
            * f64::from(self.opts.late_max_minutes)
            * 60.0) as i64;
        end + Duration::seconds(late) <= now
    }

    /// Value of `metric` in quarter `i` as reported once visible, in base units.
    pub fn quarter_value(&self, metric: Metric, i: i64) -> Option<f64> {
        let q = self.quarter(i)?;
        let inv_energy = |j: usize| -> Option<f64> {
            let pv = q.pv?;
            let n = self.shares.len();
            if j + 1 < n {
                Some(r3(pv * self.shares[j]))
            } else {
                let others: f64 = (0..n - 1).map(|k| r3(pv * self.shares[k])).sum();
                Some(r3(pv - others))
            }
        };
        let has_meter = |kind: MeterKind| self.spec.meters.iter().any(|m| m.kind == kind);
        let battery = self.spec.battery.as_ref();
        match metric {
            Metric::SiteEnergy => q.pv,
            Metric::SitePower => q.pv.map(|e| r3(e * 4.0)),
            Metric::InverterEnergy(j) => inv_energy(j),
            Metric::InverterPower(j) => inv_energy(j).map(|e| r3(e * 4.0)),
            Metric::InverterVoltage(_) => q.pv.map(|_| q.voltage),
            Metric::InverterCurrent(j) => inv_energy(j).map(|e| r3(e * 4.0 / q.voltage)),
            Metric::InverterFrequency(_) => q.pv.map(|_| q.frequency),
            Metric::InverterConsumedEnergy(j) => Some(self.consumed_wh(j, i, inv_energy(j))),
            Metric::InverterConsumedPower(j) => {
                Some(r3(self.consumed_wh(j, i, inv_energy(j)) * 4.0))
            }
            Metric::MeterEnergy(kind) | Metric::MeterPower(kind) => {
                if !has_meter(kind) {
                    return None;
                }
                // Meters never sleep: they report 0.0 at night where the inverter says null.
                let e = match kind {
                    MeterKind::Production => q.pv.unwrap_or(0.0),
                    MeterKind::Consumption => q.load,
                    MeterKind::FeedIn => q.export,
                    MeterKind::Purchased => q.import,
                    MeterKind::SelfConsumption => q.self_use,
                };
                Some(if matches!(metric, Metric::MeterPower(_)) {
                    r3(e * 4.0)
                } else {
                    e
                })
            }
            Metric::ChargePower => battery.map(|_| r3(q.to_storage * 4.0)),
            Metric::DischargePower => battery.map(|_| r3(q.from_storage * 4.0)),
            Metric::ChargeEnergy => battery.map(|_| q.to_storage),
            Metric::DischargeEnergy => battery.map(|_| q.from_storage),
            Metric::RemainingEnergy => battery.map(|_| q.remaining),
            Metric::StateOfEnergy => battery.map(|b| q.remaining / (b.capacity_kwh * 1000.0)),
        }
    }

    /// What inverter `j` drew from the grid in quarter `i`, in Wh, given what it produced.
    ///
    /// While it produces it feeds itself from the panels (0.0); otherwise (night, or awake
    /// in twilight with no output) its electronics draw 3 to 5 W. Unlike the other inverter
    /// series this one is reported at night too: the draw is what the night is about. The
    /// energy is the power integrated over the quarter-hour, and the power is generated as
    /// energy first so that power = 4 × energy holds exactly, as for every other pair.
    fn consumed_wh(&self, j: usize, i: i64, produced: Option<f64>) -> f64 {
        if produced.is_some_and(|e| e > 0.0) {
            return 0.0;
        }
        let watts = 3.0 + 2.0 * unit(self.opts.seed, self.spec.id, 10 + j as u64, i);
        r3(watts * 0.25)
    }

    /// Aggregate visible quarters in [from, to) (UTC instants, quarter-aligned).
    fn aggregate(
        &self,
        metric: Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Option<f64> {
        let lo = self.index_of(from.max(self.install)).max(0);
        let hi = self.index_of(to - Duration::seconds(1)) + 1;
        let mut sum = 0.0;
        let mut n = 0u32;
        let mut last = None;
        for i in lo..hi {
            if !self.visible(i, now) {
                continue;
            }
            if let Some(v) = self.quarter_value(metric, i) {
                sum += v;
                n += 1;
                last = Some(v);
            }
        }
        match (metric.agg(), n) {
            (_, 0) => None,
            (Agg::Sum, _) => Some(sum),
            (Agg::Mean, _) => Some(sum / f64::from(n)),
            (Agg::Last, _) => last,
        }
    }

    /// The buckets of `metric` at `res` for a [from, to) request answered at `now`.
    ///
    /// Buckets start from the bucket containing `from` (never before the installation's
    /// bucket), stop before `to` and never lie in the future; the quarter-hour still
    /// running at `now` is present with a `null` value, a coarser running bucket with the
    /// quarters that have arrived so far. Quarters that have not arrived yet (late) count
    /// as missing, so a freshly closed hour or day can be partial until they arrive.
    pub fn series(
        &mut self,
        metric: Metric,
        res: Res,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<Bucket> {
        assert!(res != Res::Total, "TOTAL is answered by total()");
        if !self.spec.has_data() {
            return Vec::new();
        }
        self.ensure(now);
        let tz = self.tz;
        let mut b = time::floor(from, res, tz).max(time::floor(self.install, res, tz));
        let mut out = Vec::new();
        while b < to && b <= now {
            let e = time::next(b, res, tz);
            // The running quarter-hour is not reported yet (L04: null for the open
            // bucket); a running hour, day, month or year holds what has arrived so far
            // (S4: today's overview equals today's DAY bucket).
            let value = if e > now && res == Res::QuarterHour {
                None
            } else {
                self.aggregate(metric, b, e, now)
            };
            let end_stamped =
                metric.is_electrical() && self.opts.telemetry_stamp == TelemetryStamp::End;
            let stamp = if end_stamped { e } else { b };
            out.push(Bucket {
                start: b,
                stamp,
                value,
            });
            b = e;
        }
        out
    }

    /// TOTAL: one bucket covering [max(from, install), min(to, now)); returns the covered
    /// period and the value (`None` when nothing was reported in it).
    pub fn total(
        &mut self,
        metric: Metric,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> (DateTime<Utc>, DateTime<Utc>, Option<f64>) {
        let lo = from.max(self.install);
        let hi = to.min(now);
        if !self.spec.has_data() || lo >= hi {
            return (lo, hi.max(lo), None);
        }
        self.ensure(now);
        // Quarters whose start lies in [lo, hi).
        let first = time::floor(lo, Res::QuarterHour, self.tz);
        let first = if first < lo {
            first + Duration::minutes(15)
        } else {
            first
        };
        (lo, hi, self.aggregate(metric, first, hi, now))
    }

    /// Sums for `/overview` over quarters starting in [from, to), visible at `now`.
    pub fn overview(
        &mut self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> OverviewSums {
        let mut s = OverviewSums::default();
        if !self.spec.has_data() {
            return s;
        }
        self.ensure(now);
        let lo = self.index_of(from.max(self.install)).max(0);
        let hi = self.index_of(to.min(now) - Duration::seconds(1)) + 1;
        for i in lo..hi {
            if !self.visible(i, now) {
                continue;
            }
            let Some(q) = self.quarter(i) else { continue };
            s.any = true;
            s.production += q.pv.unwrap_or(0.0);
            s.self_use += q.self_use;
            s.to_storage += q.to_storage;
            s.export += q.export;
            s.load += q.load;
            s.from_storage += q.from_storage;
            s.import += q.import;
        }
        s
    }

    /// The latest generated quarter at `now` (used by power flow, which is "live").
    pub fn live(&mut self, now: DateTime<Utc>) -> Option<Quarter> {
        if !self.spec.has_data() || now < self.install {
            return None;
        }
        self.ensure(now);
        self.quarter(self.index_of(now)).copied()
    }

    /// Start of the latest quarter that has arrived, for `lastUpdateTime`.
    pub fn last_update(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if !self.spec.has_data() || now < self.install {
            return None;
        }
        self.ensure(now);
        let mut i = self.index_of(now);
        while i >= 0 {
            let silent = self.silent_from.is_some_and(|t| self.start_of(i) >= t);
            if self.visible(i, now) && !silent {
                return Some(self.start_of(i));
            }
            i -= 1;
        }
        None
    }
}

/// One alert of a site.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRec {
    pub alert_id: i64,
    pub site_id: i64,
    pub alert_type: &'static str,
    pub category: &'static str,
    pub impact: i64,
    pub open: bool,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub component_name: String,
    pub component_serial: Option<String>,
    pub error_codes: Vec<i64>,
}

const ALERT_TYPES: [(&str, &str, i64); 5] = [
    ("SITE_COMMUNICATION_FAULT", "COMMUNICATION", 5),
    ("INVERTER_BELOW_THRESHOLD_LIMIT", "PRODUCTION", 3),
    ("PANEL_COMMUNICATION_FAULT", "EQUIPMENT", 2),
    ("SNOW_ON_SITE", "WEATHER", 1),
    ("DC_ISOLATION", "EQUIPMENT", 7),
];

/// Alerts raised up to `now`, newest first. Alert k fires about k × `alert_every_days`
/// after installation; it is OPEN until three days after its last trigger.
pub fn alerts(model: &SiteModel, now: DateTime<Utc>) -> Vec<AlertRec> {
    let spec = &model.spec;
    let mut out = Vec::new();
    if spec.alert_every_days == 0 || spec.inverters.is_empty() {
        return out;
    }
    let seed = model.opts.seed;
    for k in 1i64.. {
        let jitter = (unit(seed, spec.id, 8, k) * 86_400.0 * 5.0) as i64;
        let first = model.install
            + Duration::days(k * i64::from(spec.alert_every_days))
            + Duration::seconds(jitter);
        if first > now {
            break;
        }
        let (alert_type, category, impact) = ALERT_TYPES
            [(mix(seed ^ spec.id as u64 ^ k as u64) % ALERT_TYPES.len() as u64) as usize];
        let span = (unit(seed, spec.id, 9, k) * 86_400.0 * 2.0) as i64;
        let last = (first + Duration::seconds(span)).min(now);
        let inv = &spec.inverters[(k as usize) % spec.inverters.len()];
        out.push(AlertRec {
            alert_id: (spec.id % 1_000_000) * 10_000 + k,
            site_id: spec.id,
            alert_type,
            category,
            impact,
            open: now < last + Duration::days(3),
            first: time::trunc_secs(first),
            last: time::trunc_secs(last),
            component_name: format!("Inverter {}", (k as usize) % spec.inverters.len() + 1),
            component_serial: Some(inv.serial.clone()),
            error_codes: vec![(mix(k as u64) % 200) as i64],
        });
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests;
