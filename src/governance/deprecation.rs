//! The deprecation working agreement from the seeds: a sunset comes at least the template's
//! notice period after the announcement, and never before the end of the quarter that follows
//! the quarter of the announcement.

use jiff::civil::Date;
use jiff::ToSpan;

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let ok_shape = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    if !ok_shape {
        return Err(format!("\"{s}\" is not a date; write YYYY-MM-DD"));
    }
    s.parse::<Date>()
        .map_err(|_| format!("\"{s}\" is not a valid date; write YYYY-MM-DD"))
}

/// Last day of the quarter after the one `date` is in; `Date::MAX` past the calendar's end.
pub fn end_of_next_quarter(date: Date) -> Date {
    let quarter = (date.month() - 1) / 3; // 0..=3
    let (year, last_month) = if quarter == 3 {
        (date.year().saturating_add(1), 3)
    } else {
        (date.year(), (quarter + 2) * 3)
    };
    Date::new(year, last_month, 1)
        .map(|first| first.last_of_month())
        .unwrap_or(Date::MAX)
}

/// The earliest sunset allowed for an announcement.
pub fn earliest_sunset(announced: Date, notice_days: u32) -> Date {
    let by_notice = announced
        .checked_add(i64::from(notice_days).days())
        .unwrap_or(Date::MAX);
    by_notice.max(end_of_next_quarter(announced))
}

/// Checks a deprecation; `Err` says what to change.
pub fn check(
    announced: &str,
    sunset: &str,
    notice_days: u32,
) -> Result<(), (&'static str, String)> {
    let a = parse_date(announced).map_err(|e| ("announced", e))?;
    let s = parse_date(sunset).map_err(|e| ("sunset", e))?;
    let earliest = earliest_sunset(a, notice_days);
    if s < earliest {
        return Err((
            "sunset",
            format!(
                "sunset {s} is too early: announced {a}, the template's notice period is {notice_days} days and a sunset may not come before the end of the following quarter; set it to {earliest} or later"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn end_of_next_quarter_per_quarter() {
        assert_eq!(end_of_next_quarter(d("2026-01-15")), d("2026-06-30"));
        assert_eq!(end_of_next_quarter(d("2026-04-01")), d("2026-09-30"));
        assert_eq!(end_of_next_quarter(d("2026-09-30")), d("2026-12-31"));
        assert_eq!(end_of_next_quarter(d("2026-10-01")), d("2027-03-31"));
        assert_eq!(end_of_next_quarter(d("2026-12-31")), d("2027-03-31"));
    }

    #[test]
    fn notice_period_and_quarter_both_apply() {
        // Quarter end dominates.
        assert!(check("2026-10-01", "2027-03-31", 90).is_ok());
        assert!(check("2026-10-01", "2027-03-30", 90).is_err());
        // Notice period dominates.
        assert!(check("2026-01-01", "2026-06-30", 181).is_err());
        assert!(check("2026-01-01", "2026-06-30", 180).is_ok());
        assert!(check("2026-01-01", "2026-06-30", 90).is_ok());
        assert_eq!(earliest_sunset(d("2026-01-01"), 365), d("2027-01-01"));
    }

    #[test]
    fn the_end_of_the_calendar_is_a_message_not_a_panic() {
        assert_eq!(end_of_next_quarter(d("9999-10-01")), Date::MAX);
        // The last day of the calendar is the only sunset left.
        assert!(check("9999-10-01", "9999-12-30", 90).is_err());
        assert!(check("9999-10-01", "9999-12-31", 90).is_ok());
    }

    #[test]
    fn bad_dates_are_messages() {
        assert_eq!(
            check("2026-13-01", "2027-01-01", 90).unwrap_err().0,
            "announced"
        );
        assert_eq!(check("2026-01-01", "soon", 90).unwrap_err().0, "sunset");
    }
}
