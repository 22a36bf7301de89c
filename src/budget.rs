//! The credit budget: billing cycles, what is left, and how fast it may be spent.
//!
//! Pure arithmetic over numbers the caller reads from the ledger (`seh_api_calls`, the
//! single truth shared by every process using the database) and the configuration. On V2
//! every call costs one credit; the Free tier has 2,000 a month and 10 a minute, shared by
//! every application of the developer account, so seh keeps `reserve` credits back for the
//! end of the cycle and for manual use.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};

/// Budget settings (`[budget]` in the configuration).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub monthly_credits: u64,
    pub per_minute: u32,
    /// Day of month (1–28) on which the cycle renews, at 00:00 UTC.
    pub billing_day: u32,
    pub reserve: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            monthly_credits: 2000,
            per_minute: 10,
            billing_day: 1,
            reserve: 100,
        }
    }
}

fn billing_instant(y: i32, m: u32, day: u32) -> DateTime<Utc> {
    let d =
        NaiveDate::from_ymd_opt(y, m, day.clamp(1, 28)).expect("days 1-28 exist in every month");
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
}

impl Budget {
    /// Start of the cycle containing `now`.
    pub fn cycle_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let this = billing_instant(now.year(), now.month(), self.billing_day);
        if now >= this {
            this
        } else if now.month() == 1 {
            billing_instant(now.year() - 1, 12, self.billing_day)
        } else {
            billing_instant(now.year(), now.month() - 1, self.billing_day)
        }
    }

    /// When the cycle containing `now` ends and the credits renew.
    pub fn next_reset(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let start = self.cycle_start(now);
        if start.month() == 12 {
            billing_instant(start.year() + 1, 1, self.billing_day)
        } else {
            billing_instant(start.year(), start.month() + 1, self.billing_day)
        }
    }

    /// Credits seh may spend in a whole cycle.
    pub fn usable(&self) -> u64 {
        self.monthly_credits.saturating_sub(self.reserve)
    }
}

/// The budget at one instant: the cycle and what the ledger says was used in it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetView {
    pub budget: Budget,
    pub now: DateTime<Utc>,
    pub cycle_start: DateTime<Utc>,
    pub next_reset: DateTime<Utc>,
    /// Credits used this cycle (from the ledger).
    pub used: u64,
}

impl BudgetView {
    pub fn new(budget: Budget, now: DateTime<Utc>, used: u64) -> BudgetView {
        BudgetView {
            budget,
            now,
            cycle_start: budget.cycle_start(now),
            next_reset: budget.next_reset(now),
            used,
        }
    }

    /// Credits still spendable this cycle, reserve excluded.
    pub fn left(&self) -> u64 {
        self.budget.usable().saturating_sub(self.used)
    }

    /// Time until the credits renew.
    pub fn time_left(&self) -> Duration {
        (self.next_reset - self.now).max(Duration::zero())
    }

    pub fn cycle_len(&self) -> Duration {
        self.next_reset - self.cycle_start
    }

    /// How much of the usable budget a straight line from cycle start to reset allows to
    /// have been spent by now. Deep history spends only below this line, so the
    /// allowance lasts until the reset.
    pub fn line(&self) -> u64 {
        let total = self.cycle_len().num_seconds().max(1) as f64;
        let done = (self.now - self.cycle_start).num_seconds().max(0) as f64;
        (self.budget.usable() as f64 * (done / total).min(1.0)).floor() as u64
    }

    /// Credits below the line: what may be spent now on work that can wait.
    pub fn below_line(&self) -> u64 {
        self.line().saturating_sub(self.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn cycles_follow_the_billing_day() {
        let b = Budget {
            billing_day: 15,
            ..Budget::default()
        };
        assert_eq!(b.cycle_start(t(2026, 11, 26, 12)), t(2026, 11, 15, 0));
        assert_eq!(b.next_reset(t(2026, 11, 26, 12)), t(2026, 12, 15, 0));
        assert_eq!(b.cycle_start(t(2026, 11, 14, 23)), t(2026, 10, 15, 0));
        assert_eq!(b.cycle_start(t(2026, 1, 3, 0)), t(2025, 12, 15, 0));
        assert_eq!(b.next_reset(t(2026, 12, 20, 0)), t(2027, 1, 15, 0));
        // Exactly at the boundary the new cycle has begun.
        assert_eq!(b.cycle_start(t(2026, 11, 15, 0)), t(2026, 11, 15, 0));
        let first = Budget::default();
        assert_eq!(first.cycle_start(t(2026, 3, 1, 0)), t(2026, 3, 1, 0));
        assert_eq!(first.next_reset(t(2026, 2, 28, 23)), t(2026, 3, 1, 0));
    }

    #[test]
    fn billing_day_28_works_in_february() {
        let b = Budget {
            billing_day: 28,
            ..Budget::default()
        };
        assert_eq!(b.cycle_start(t(2026, 3, 1, 0)), t(2026, 2, 28, 0));
        assert_eq!(b.next_reset(t(2026, 2, 28, 1)), t(2026, 3, 28, 0));
    }

    #[test]
    fn left_and_the_line() {
        let b = Budget::default();
        let v = BudgetView::new(b, t(2026, 11, 16, 0), 500);
        assert_eq!(v.left(), 1400);
        // Half of November gone: the line allows 950 of the 1,900 usable credits.
        assert_eq!(v.line(), 950);
        assert_eq!(v.below_line(), 450);
        let over = BudgetView::new(b, t(2026, 11, 2, 0), 500);
        assert_eq!(over.below_line(), 0);
        let spent = BudgetView::new(b, t(2026, 11, 20, 0), 2000);
        assert_eq!(spent.left(), 0);
    }
}
