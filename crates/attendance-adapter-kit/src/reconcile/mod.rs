//! Reconciliation for any vendor: pushes are triggers, pulls are truth. A
//! vendor supplies a [`DayPuller`] (what its APIs say of some employees over
//! a window, by work date); the kit runs the pass (`pass.rs`: group by
//! tenant, cut the window into the spans the vendor allows, commit day by
//! day, signal each day covered), one app at a time across replicas
//! (`app.rs`), on a schedule and on request (`schedule.rs`).

mod app;
mod pass;
mod schedule;

pub use app::{ReconcilingApp, Roster};
pub use pass::{pull_delivery, run_pass, DayPuller, PassError, PassReport, PullError, Pulled};
pub use schedule::{reconcile_request, run_schedule, ReconcileRequestError, Schedule};

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;

/// The work days of a pass, inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Window {
    /// The last `days` work days up to today in `zone`.
    pub fn recent(zone: Tz, days: u32) -> Window {
        let today = Utc::now().with_timezone(&zone).date_naive();
        Window {
            first: today - Duration::days(i64::from(days.max(1)) - 1),
            last: today,
        }
    }

    /// The window cut into spans of at most `days` days, in order.
    pub fn spans(&self, days: i64) -> Vec<Window> {
        // No span is longer than the window (a vendor without a limit says
        // i64::MAX, which no date arithmetic survives).
        let days = days.clamp(1, (self.last - self.first).num_days().max(0) + 1);
        let mut spans = Vec::new();
        let mut first = self.first;
        while first <= self.last {
            let last = (first + Duration::days(days - 1)).min(self.last);
            spans.push(Window { first, last });
            first = last + Duration::days(1);
        }
        spans
    }

    /// Every day of the window, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.first
            .iter_days()
            .take_while(|day| *day <= self.last)
            .collect()
    }
}

/// The first instant (Unix seconds) of `date` in `zone`; a zone may skip
/// midnight (DST), and the day then starts later.
pub fn local_midnight(zone: Tz, date: NaiveDate) -> i64 {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    zone.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(midnight + Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.timestamp())
        .unwrap_or_else(|| midnight.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_split_into_spans_of_at_most_seven_days() {
        let day = |d: u32| NaiveDate::from_ymd_opt(2021, 1, d).unwrap();
        let spans = Window {
            first: day(1),
            last: day(16),
        }
        .spans(7);
        assert_eq!(
            spans,
            vec![
                Window {
                    first: day(1),
                    last: day(7)
                },
                Window {
                    first: day(8),
                    last: day(14)
                },
                Window {
                    first: day(15),
                    last: day(16)
                },
            ]
        );
        let one = Window {
            first: day(3),
            last: day(3),
        };
        assert_eq!(one.spans(7).len(), 1);
        assert_eq!(one.spans(i64::MAX), vec![one], "no limit, one span");
        assert_eq!(one.days(), vec![day(3)]);
    }

    #[test]
    fn a_day_starts_at_local_midnight() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        let day = NaiveDate::from_ymd_opt(2021, 3, 10).unwrap();
        assert_eq!(local_midnight(zone, day), 1_615_305_600);
    }
}
