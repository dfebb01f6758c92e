//! How often each job runs, and which jobs are due.
//!
//! A job's `schedule` key in `[jobs.<id>]` sets its interval: `hourly`, `daily`, `weekly`,
//! `<N>h`, `<N>d` or `manual`. PC Comprehensive Results runs weekly by default and every
//! other job daily. `pcsync run --due`, started by cron or a systemd timer, runs the active
//! jobs whose interval has passed since their last complete run, in chain order.

use std::fmt;

use chrono::{DateTime, Duration, Utc};

use crate::store::{RunState, Trigger};
use crate::{JobId, Pcsync};

/// The maximum interval a schedule accepts: ten years, in hours.
pub const MAX_INTERVAL_HOURS: u32 = 3650 * 24;

/// How often a job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Runs once this many hours have passed since its last complete run.
    EveryHours(u32),
    /// Runs only by hand.
    Manual,
}

impl Schedule {
    /// Returns the schedule a job has when its section sets none: weekly for PC Comprehensive
    /// Results, whose refresh of long-standing failures need not follow every delta, else daily.
    pub fn default_for(job: JobId) -> Schedule {
        match job {
            JobId::PcComprehensiveResults => Schedule::EveryHours(7 * 24),
            _ => Schedule::EveryHours(24),
        }
    }

    /// Parses `hourly`, `daily`, `weekly`, `<N>h`, `<N>d` or `manual`. An interval is at least
    /// one hour and at most [`MAX_INTERVAL_HOURS`].
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        let invalid = || {
            format!(
                "schedule {text:?} is invalid: use hourly, daily, weekly, a number of hours or days such as 12h or 3d (at most 3650d), or manual"
            )
        };
        let hours = match text.to_ascii_lowercase().as_str() {
            "manual" => return Ok(Schedule::Manual),
            "hourly" => 1,
            "daily" => 24,
            "weekly" => 7 * 24,
            other => {
                let (number, unit_hours) = if let Some(number) = other.strip_suffix('h') {
                    (number, 1)
                } else if let Some(number) = other.strip_suffix('d') {
                    (number, 24)
                } else {
                    return Err(invalid());
                };
                let number: u32 = number.trim().parse().map_err(|_| invalid())?;
                number
                    .checked_mul(unit_hours)
                    .filter(|hours| (1..=MAX_INTERVAL_HOURS).contains(hours))
                    .ok_or_else(invalid)?
            }
        };
        Ok(Schedule::EveryHours(hours))
    }

    /// Returns the time between two runs, or `None` for a job run only by hand.
    pub fn interval(self) -> Option<Duration> {
        match self {
            Schedule::EveryHours(hours) => Some(Duration::hours(i64::from(hours))),
            Schedule::Manual => None,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::EveryHours(1) => f.write_str("hourly"),
            Schedule::EveryHours(24) => f.write_str("daily"),
            Schedule::EveryHours(168) => f.write_str("weekly"),
            Schedule::EveryHours(hours) if hours % 24 == 0 => {
                write!(f, "every {} days", hours / 24)
            }
            Schedule::EveryHours(hours) => write!(f, "every {hours} hours"),
            Schedule::Manual => f.write_str("manual"),
        }
    }
}

/// The reason a job is due, or the time it will be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// It has never completed a run.
    NeverCompleted,
    /// A crash or a kill left its last run unfinished; the run resumes.
    Unfinished(u64),
    /// Its interval has passed since its last complete run started.
    IntervalPassed { last_complete: String },
    /// Not yet: its next run is due at this UTC time.
    NotUntil(String),
    /// It is inactive or runs only by hand.
    NotScheduled,
}

impl Due {
    pub fn is_due(&self) -> bool {
        matches!(
            self,
            Due::NeverCompleted | Due::Unfinished(_) | Due::IntervalPassed { .. }
        )
    }
}

impl Pcsync {
    /// Decides whether `job` is due at `now`: active, scheduled, and unfinished or past its
    /// interval since the start of its last complete run. Reprocess runs do not count.
    pub fn due(&self, job: JobId, now: DateTime<Utc>) -> anyhow::Result<Due> {
        let Some(interval) = self.config().schedule(job).interval() else {
            return Ok(Due::NotScheduled);
        };
        if !self.config().job_active(job) {
            return Ok(Due::NotScheduled);
        }
        let runs = self.store().runs(Some(job))?;
        let mut runs = runs.iter().filter(|run| run.trigger != Trigger::Reprocess);
        if let Some(run) = runs.clone().next()
            && !run.state.is_finished()
        {
            return Ok(Due::Unfinished(run.id));
        }
        let Some(last) = runs.find(|run| run.state == RunState::Complete) else {
            return Ok(Due::NeverCompleted);
        };
        let started = crate::time::parse_utc(&last.started_at)?;
        let Some(next) = started.checked_add_signed(interval) else {
            return Ok(Due::NotScheduled);
        };
        Ok(if next <= now {
            Due::IntervalPassed {
                last_complete: last.started_at.clone(),
            }
        } else {
            Due::NotUntil(crate::time::format_utc(next))
        })
    }

    /// Returns the jobs due at `now`, in chain order, with the reason for each.
    pub fn due_jobs(&self, now: DateTime<Utc>) -> anyhow::Result<Vec<(JobId, Due)>> {
        let mut due = Vec::new();
        for job in JobId::ALL {
            let state = self.due(job, now)?;
            if state.is_due() {
                due.push((job, state));
            }
        }
        Ok(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_and_numbers() {
        assert_eq!(Schedule::parse("weekly"), Ok(Schedule::EveryHours(168)));
        assert_eq!(Schedule::parse(" Daily "), Ok(Schedule::EveryHours(24)));
        assert_eq!(Schedule::parse("hourly"), Ok(Schedule::EveryHours(1)));
        assert_eq!(Schedule::parse("12h"), Ok(Schedule::EveryHours(12)));
        assert_eq!(Schedule::parse("3d"), Ok(Schedule::EveryHours(72)));
        assert_eq!(Schedule::parse("3650d"), Ok(Schedule::EveryHours(87_600)));
        assert_eq!(Schedule::parse("manual"), Ok(Schedule::Manual));
    }

    #[test]
    fn parse_rejects_zero_and_units() {
        for text in [
            "0h",
            "0d",
            "5m",
            "fortnightly",
            "",
            "-1d",
            "99999999999d",
            "100000000d",
            "4294967295h",
            "3651d",
        ] {
            let error = Schedule::parse(text).unwrap_err();
            assert!(error.contains(&format!("{text:?}")), "{error}");
            assert!(error.contains("use hourly, daily, weekly"), "{error}");
        }
    }

    #[test]
    fn comprehensive_default_is_weekly() {
        assert_eq!(
            Schedule::default_for(JobId::PcComprehensiveResults).to_string(),
            "weekly"
        );
        assert_eq!(Schedule::default_for(JobId::PcResults).to_string(), "daily");
        assert_eq!(Schedule::EveryHours(72).to_string(), "every 3 days");
        assert_eq!(Schedule::EveryHours(12).to_string(), "every 12 hours");
    }
}
