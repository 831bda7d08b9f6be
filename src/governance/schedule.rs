//! Validation of Kubernetes CronJob `schedule` strings.
//!
//! The API server checks schedules with robfig/cron v3's `ParseStandard`
//! (5 fields plus `@` descriptors) and additionally rejects any schedule
//! containing `TZ`. Checking the same rules here lets us report a precise,
//! actionable message before an apply fails server-side.
//!
//! Where robfig is looser than its documented grammar we deliberately stay
//! strict, because every such form is a likely typo and rejecting it early
//! can never produce a CronJob the API server refuses:
//! `?` outside day-of-month/day-of-week, signed numbers like `+5`, `*-5`,
//! empty list items like `1,,2`, and `@every` with a zero or negative duration.

/// One cron field's bounds and spelling rules.
struct Field {
    name: &'static str,
    min: u64,
    max: u64,
    /// Three-letter names, lowercase; `names[i]` stands for `min + i`.
    names: &'static [&'static str],
    names_hint: &'static str,
    allow_question: bool,
}

const FIELDS: [Field; 5] = [
    Field {
        name: "minute",
        min: 0,
        max: 59,
        names: &[],
        names_hint: "",
        allow_question: false,
    },
    Field {
        name: "hour",
        min: 0,
        max: 23,
        names: &[],
        names_hint: "",
        allow_question: false,
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        names_hint: "",
        allow_question: true,
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
        names_hint: " or a month name (JAN-DEC)",
        allow_question: false,
    },
    Field {
        name: "day-of-week",
        min: 0,
        max: 6,
        names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
        names_hint: " or a day name (SUN-SAT)",
        allow_question: true,
    },
];

const FIELD_LIST: &str = "minute hour day-of-month month day-of-week";

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

const DESCRIPTOR_LIST: &str = "@yearly, @annually, @monthly, @weekly, @daily, @midnight, \
                               @hourly or @every <duration> (e.g. @every 1h30m)";

/// An upper bound, in seconds, on the time between two runs of a valid schedule: the CronJob's
/// `startingDeadlineSeconds`. With it, a CronJob resumed after a pause starts the one most
/// recent missed run at once (it is always within this bound) and replays nothing older.
/// `None` for a schedule that does not check.
pub fn longest_gap_seconds(s: &str) -> Option<i64> {
    check_schedule(s).ok()?;
    const HOUR: i64 = 3600;
    const DAY: i64 = 24 * HOUR;
    if let Some(d) = s.strip_prefix("@every ") {
        let (_, nanos) = parse_go_duration(d).ok()?;
        return Some(((nanos / 1_000_000_000) as i64).max(1));
    }
    let descriptor = match s.to_ascii_lowercase().as_str() {
        "@hourly" => Some(HOUR),
        "@daily" | "@midnight" => Some(DAY),
        "@weekly" => Some(7 * DAY),
        "@monthly" => Some(31 * DAY),
        "@yearly" | "@annually" => Some(366 * DAY),
        _ => None,
    };
    if descriptor.is_some() {
        return descriptor;
    }
    let f: Vec<&str> = s.split_whitespace().collect();
    let any = |x: &str| x == "*" || x == "?";
    let every = |x: &str| x.strip_prefix("*/").and_then(|n| n.parse::<i64>().ok());
    Some(match (f[1], f[2], f[3], f[4]) {
        // Some minute of every hour (or of every n-th hour).
        (h, dom, mon, dow) if any(h) && any(dom) && any(mon) && any(dow) => HOUR,
        (h, dom, mon, dow) if every(h).is_some() && any(dom) && any(mon) && any(dow) => {
            every(h).unwrap_or(24).clamp(1, 24) * HOUR
        }
        // Some time of every day.
        (_, dom, mon, dow) if any(dom) && any(mon) && any(dow) => DAY,
        // Some days of every week.
        (_, dom, mon, _) if any(dom) && any(mon) => 7 * DAY,
        // Some days of every month; a day such as the 31st skips the months without it.
        (_, _, mon, _) if any(mon) => 62 * DAY,
        _ => 366 * DAY,
    })
}

/// Checks a CronJob schedule; Err carries a user-facing message saying what to change.
pub fn check_schedule(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!(
            "schedule is empty; write five fields ({FIELD_LIST}) such as \"0 3 * * *\", \
             or a descriptor such as @daily"
        ));
    }
    if has_time_zone(s) {
        return Err(
            "schedule must not contain a time zone (TZ= or CRON_TZ=): Kubernetes rejects time \
             zones in the schedule; remove it and set the CronJob's timeZone field instead"
                .to_string(),
        );
    }
    // robfig only recognises a descriptor when `@` is the very first byte.
    if s.starts_with('@') {
        return check_descriptor(s);
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() == 1 && fields[0].starts_with('@') {
        return Err(format!(
            "remove the whitespace before {}; Kubernetes only recognises a descriptor at the \
             very start of the schedule",
            fields[0]
        ));
    }
    match fields.len() {
        5 => {}
        6 => {
            return Err(format!(
                "schedule has 6 fields, but Kubernetes uses 5 ({FIELD_LIST}) and has no \
                 seconds field; remove the first field"
            ))
        }
        7 => {
            return Err(format!(
                "schedule has 7 fields, but Kubernetes uses 5 ({FIELD_LIST}) and has no \
                 seconds or year field; remove the first and last fields"
            ))
        }
        n => {
            return Err(format!(
                "schedule has {n} field{}, but Kubernetes needs exactly 5 ({FIELD_LIST}), \
                 e.g. \"0 3 * * *\"",
                if n == 1 { "" } else { "s" }
            ))
        }
    }
    for (text, field) in fields.iter().zip(FIELDS.iter()) {
        check_field(text, field)?;
    }
    Ok(())
}

/// Kubernetes rejects the substring `TZ` anywhere (case-sensitive); the
/// lowercase prefixes are caught too because the user's intent is the same
/// and the time-zone hint is more useful than a generic parse error.
fn has_time_zone(s: &str) -> bool {
    let head = s.trim_start().to_ascii_lowercase();
    s.contains("TZ") || head.starts_with("tz=") || head.starts_with("cron_tz=")
}

fn check_descriptor(s: &str) -> Result<(), String> {
    if DESCRIPTORS.contains(&s) {
        return Ok(());
    }
    // robfig requires exactly one ASCII space after `@every`.
    if let Some(duration) = s.strip_prefix("@every ") {
        return check_every(duration);
    }
    let trimmed = s.trim_end();
    if trimmed != s && (DESCRIPTORS.contains(&trimmed) || trimmed.starts_with("@every ")) {
        return Err(format!(
            "remove the whitespace after {trimmed}; Kubernetes does not accept it"
        ));
    }
    let lower = trimmed.to_lowercase();
    if DESCRIPTORS.contains(&lower.as_str()) {
        return Err(format!(
            "descriptors are case-sensitive; write {lower} instead of {trimmed}"
        ));
    }
    if lower.starts_with("@every") {
        return Err(
            "@every needs a single space and then a duration, e.g. @every 1h30m".to_string(),
        );
    }
    if lower == "@reboot" {
        return Err(format!(
            "@reboot is not supported by Kubernetes CronJobs; use {DESCRIPTOR_LIST}"
        ));
    }
    Err(format!(
        "unknown descriptor {:?}; use {DESCRIPTOR_LIST}",
        truncate(trimmed)
    ))
}

fn check_every(duration: &str) -> Result<(), String> {
    if duration.trim() != duration {
        return Err(format!(
            "remove the extra whitespace around the duration in \"@every {}\"; write e.g. \
             @every 1h30m",
            truncate(duration.trim())
        ));
    }
    let (negative, nanos) = parse_go_duration(duration).map_err(|why| {
        format!(
            "@every duration {:?} is not valid: {why}; write a Go duration such as 90s, 15m \
             or 1h30m",
            truncate(duration)
        )
    })?;
    if negative || nanos == 0 {
        return Err(format!(
            "@every duration must be greater than zero, got {:?}",
            truncate(duration)
        ));
    }
    Ok(())
}

/// Mirrors Go's `time.ParseDuration`: an optional sign, then one or more
/// `<number><unit>` pairs with optional decimal fractions, or a bare `0`.
/// Returns the sign and magnitude in nanoseconds.
fn parse_go_duration(s: &str) -> Result<(bool, u128), String> {
    // Go's Duration is an i64 of nanoseconds.
    const LIMIT: u128 = 1 << 63;
    const TOO_LARGE: &str = "it is too large (the maximum is about 2562047h)";

    let (negative, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok((negative, 0));
    }
    if rest.is_empty() {
        return Err("it is empty".to_string());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = |t: &str| t.bytes().take_while(u8::is_ascii_digit).count();
        let first = rest.as_bytes()[0];
        if first != b'.' && !first.is_ascii_digit() {
            return Err(format!("expected a number at {:?}", truncate(rest)));
        }
        let int_len = digits(rest);
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = digits(after_dot);
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err("a \".\" must be next to a digit".to_string());
        }
        // Digits and '.' are ASCII, so this index is always a char boundary.
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            // Go accepts both the micro sign (U+00B5) and Greek mu (U+03BC).
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => {
                return Err(format!(
                    "a unit is missing after {int_part} (units are ns, us, ms, s, m and h)"
                ))
            }
            other => {
                return Err(format!(
                    "unknown unit {:?} (units are ns, us, ms, s, m and h)",
                    truncate(other)
                ))
            }
        };
        let mut value: u128 = 0;
        for d in int_part.bytes() {
            value = value * 10 + u128::from(d - b'0');
            if value > LIMIT {
                return Err(TOO_LARGE.to_string());
            }
        }
        value *= unit_nanos;
        // Digits past the 20th are below a nanosecond even for hours; Go drops
        // them too, and ignoring them keeps the arithmetic inside u128.
        let (mut frac, mut scale) = (0u128, 1u128);
        for d in frac_part.bytes().take(20) {
            frac = frac * 10 + u128::from(d - b'0');
            scale *= 10;
        }
        value += frac * unit_nanos / scale;
        total += value;
        if total > LIMIT {
            return Err(TOO_LARGE.to_string());
        }
    }
    if !negative && total == LIMIT {
        return Err(TOO_LARGE.to_string());
    }
    Ok((negative, total))
}

fn check_field(text: &str, field: &Field) -> Result<(), String> {
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!(
                "{} field {:?} has an empty list item; remove the extra comma",
                field.name,
                truncate(text)
            ));
        }
        check_item(item, field)?;
    }
    Ok(())
}

fn check_item(item: &str, field: &Field) -> Result<(), String> {
    let name = field.name;
    if let Some(ext) = quartz_extension(item) {
        return Err(format!(
            "{name} {:?} uses the Quartz extension {ext}, which Kubernetes does not support; \
             use numbers, ranges (a-b), lists (a,b) and steps (*/n) instead",
            truncate(item)
        ));
    }
    let mut parts = item.split('/');
    let range = parts.next().unwrap_or_default();
    let step = parts.next();
    if parts.next().is_some() {
        return Err(format!(
            "{name} {:?} has more than one \"/\"; write a single step such as */15 or 0-30/5",
            truncate(item)
        ));
    }
    if let Some(step) = step {
        check_step(step, item, field)?;
    }
    match range {
        "*" => return Ok(()),
        "?" if field.allow_question => return Ok(()),
        "?" => {
            return Err(format!(
                "\"?\" is only allowed in day-of-month and day-of-week; use \"*\" in the {name} \
                 field"
            ))
        }
        _ => {}
    }
    if range.starts_with('-') {
        return Err(format!(
            "{name} {:?} is negative or missing the start of its range; values range {}-{}",
            truncate(item),
            field.min,
            field.max
        ));
    }
    let mut ends = range.split('-');
    let low = ends.next().unwrap_or_default();
    let high = ends.next();
    if ends.next().is_some() {
        return Err(format!(
            "{name} {:?} has more than one \"-\"; a range is written a-b",
            truncate(item)
        ));
    }
    let start = value(low, item, field)?;
    let end = match high {
        Some(high) => value(high, item, field)?,
        None => start,
    };
    if start > end {
        return Err(format!(
            "{name} range {:?} starts after it ends; ranges cannot wrap around, so put the \
             smaller value first or split it into two ranges joined by a comma",
            truncate(range)
        ));
    }
    Ok(())
}

fn check_step(step: &str, item: &str, field: &Field) -> Result<(), String> {
    if step.is_empty() || !step.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{} step {:?} in {:?} must be a whole number of at least 1, e.g. */15",
            field.name,
            truncate(step),
            truncate(item)
        ));
    }
    match step.parse::<i64>() {
        Ok(0) => Err(format!(
            "{} step in {:?} must be at least 1",
            field.name,
            truncate(item)
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "{} step in {:?} is too large",
            field.name,
            truncate(item)
        )),
    }
}

/// Parses one end of a range: a number within the field's bounds or a name.
fn value(text: &str, item: &str, field: &Field) -> Result<u64, String> {
    let name = field.name;
    if text.is_empty() {
        return Err(format!(
            "{name} {:?} is missing a value; write a number, a range a-b, or *",
            truncate(item)
        ));
    }
    if text == "*" || text == "?" {
        return Err(format!(
            "{name} {:?} combines {text} with a range; use {text} on its own, or a range of \
             values such as {}-{}",
            truncate(item),
            field.min,
            field.max
        ));
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        // Saturating keeps absurdly long numbers out of range instead of
        // overflowing; the message quotes the user's text, not this value.
        let n = text.bytes().fold(0u64, |acc, d| {
            acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
        });
        if n < field.min || n > field.max {
            let hint = if field.name == "day-of-week" && n == 7 {
                "; use 0 for Sunday, Kubernetes does not accept 7"
            } else {
                ""
            };
            return Err(format!(
                "{name} {} is out of range {}-{}{hint}",
                truncate(text),
                field.min,
                field.max
            ));
        }
        return Ok(n);
    }
    let lower = text.to_ascii_lowercase();
    if let Some(i) = field.names.iter().position(|n| *n == lower) {
        return Ok(field.min + i as u64);
    }
    Err(format!(
        "{name} value {:?} is not a number{}; values range {}-{}",
        truncate(text),
        field.names_hint,
        field.min,
        field.max
    ))
}

/// Recognises Quartz-only syntax so the user learns why it fails rather than
/// just that it is "not a number".
fn quartz_extension(item: &str) -> Option<&'static str> {
    let upper = item.to_ascii_uppercase();
    let is_number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if upper.contains('#') {
        return Some("\"#\" (nth weekday of the month)");
    }
    if upper == "L"
        || upper == "LW"
        || upper.starts_with("L-")
        || upper.strip_suffix('L').is_some_and(is_number)
    {
        return Some("\"L\" (last day)");
    }
    if upper.strip_suffix('W').is_some_and(is_number) {
        return Some("\"W\" (nearest weekday)");
    }
    None
}

/// Keeps error messages readable when the input is pathologically long.
fn truncate(s: &str) -> String {
    const MAX_CHARS: usize = 64;
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(MAX_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_longest_gap_bounds_the_time_between_runs() {
        let h = 3600;
        for (schedule, gap) in [
            ("*/5 * * * *", h),
            ("15 * * * *", h),
            ("0 */6 * * *", 6 * h),
            ("0 3 * * *", 24 * h),
            ("0 3,15 * * *", 24 * h),
            ("0 3 * * MON-FRI", 7 * 24 * h),
            ("0 3 1 * *", 62 * 24 * h),
            ("0 3 1 1 *", 366 * 24 * h),
            ("@daily", 24 * h),
            ("@every 90m", 5400),
        ] {
            assert_eq!(longest_gap_seconds(schedule), Some(gap), "{schedule}");
        }
        assert_eq!(longest_gap_seconds("not a schedule"), None);
    }

    use super::*;

    #[test]
    fn accepts_valid_schedules() {
        let cases = [
            "* * * * *",
            "0 3 * * *",
            "  0 3 * * *  ",
            "0\t3\t*\t*\t*",
            "0 3 * * *\n",
            "*/15 * * * *",
            "0 */2 * * *",
            "5/15 * * * *",
            "0-30/5 * * * *",
            "0,15,30,45 * * * *",
            "59 23 31 12 6",
            "0 0 1 1 0",
            "00 07 01 01 00",
            "0 9-17 * * 1-5",
            "0 9 * * MON-FRI",
            "0 9 * * mon,Wed,FRI",
            "0 0 1 JAN,jul *",
            "0 0 1 jan-DEC/3 *",
            "0 0 ? * *",
            "0 0 * * ?",
            "0 0 ?/5 * *",
            "0 0 1 * SUN/2",
            "*/100 * * * *",
            "0 0 1-1 * *",
            "0 0 * * 0-6",
            "1/1 * * * *",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@hourly",
            "@every 1h",
            "@every 1h30m",
            "@every 90s",
            "@every 1.5h",
            "@every .5h",
            "@every 1.h",
            "@every 500ms",
            "@every 1us",
            "@every 1\u{b5}s",
            "@every 1\u{3bc}s",
            "@every 1ns",
            "@every +5m",
            "@every 2562047h",
        ];
        for s in cases {
            assert_eq!(check_schedule(s), Ok(()), "{s:?} should be accepted");
        }
    }

    #[test]
    fn rejects_invalid_schedules() {
        let cases: &[(&str, &str)] = &[
            ("", "schedule is empty"),
            ("   ", "schedule is empty"),
            (
                "TZ=UTC 0 3 * * *",
                "set the CronJob's timeZone field instead",
            ),
            (
                "CRON_TZ=Europe/Paris 0 3 * * *",
                "Kubernetes rejects time zones in the schedule",
            ),
            ("  TZ=UTC 0 3 * * *", "timeZone"),
            ("tz=UTC 0 3 * * *", "timeZone"),
            ("0 3 * * * TZ", "timeZone"),
            ("0 0 3 * * *", "Kubernetes uses 5"),
            ("0 0 3 * * * 2024", "7 fields"),
            ("0 3 * *", "schedule has 4 fields"),
            ("0", "schedule has 1 field,"),
            ("0 0 L * *", "Quartz extension \"L\""),
            ("0 0 15W * *", "Quartz extension \"W\""),
            ("0 0 LW * *", "Quartz extension \"L\""),
            ("0 0 L-3 * *", "Quartz extension \"L\""),
            ("0 0 * * 5L", "Quartz extension \"L\""),
            ("0 0 * * 1#2", "Quartz extension \"#\""),
            ("0 0 * * FRI#3", "Quartz extension \"#\""),
            ("60 * * * *", "minute 60 is out of range 0-59"),
            ("0 24 * * *", "hour 24 is out of range 0-23"),
            ("0 0 0 * *", "day-of-month 0 is out of range 1-31"),
            ("0 0 32 * *", "day-of-month 32 is out of range 1-31"),
            ("0 0 1 13 *", "month 13 is out of range 1-12"),
            ("0 0 1 0 *", "month 0 is out of range 1-12"),
            (
                "0 0 * * 7",
                "day-of-week 7 is out of range 0-6; use 0 for Sunday",
            ),
            ("0 0 * * 1-7", "day-of-week 7 is out of range 0-6"),
            ("0 20-25 * * *", "hour 25 is out of range 0-23"),
            (
                "99999999999999999999999 * * * *",
                "minute 99999999999999999999999 is out of range",
            ),
            ("0 0 * * MON-SUN", "starts after it ends"),
            (
                "30-10 * * * *",
                "minute range \"30-10\" starts after it ends",
            ),
            ("*/0 * * * *", "minute step in \"*/0\" must be at least 1"),
            ("5/0 * * * *", "must be at least 1"),
            (
                "*/ * * * *",
                "minute step \"\" in \"*/\" must be a whole number",
            ),
            ("*/x * * * *", "must be a whole number"),
            ("*/-1 * * * *", "must be a whole number"),
            ("*/99999999999999999999 * * * *", "is too large"),
            ("*/5/2 * * * *", "more than one \"/\""),
            ("1-2-3 * * * *", "more than one \"-\""),
            (
                "? * * * *",
                "\"?\" is only allowed in day-of-month and day-of-week",
            ),
            ("0 ? * * *", "use \"*\" in the hour field"),
            ("0 0 * ? *", "\"?\" is only allowed"),
            ("*-5 * * * *", "combines * with a range"),
            ("-5 * * * *", "negative or missing the start"),
            ("5- * * * *", "is missing a value"),
            ("/5 * * * *", "is missing a value"),
            ("1,,2 * * * *", "has an empty list item"),
            (", * * * *", "has an empty list item"),
            ("1, * * * *", "has an empty list item"),
            ("+5 * * * *", "minute value \"+5\" is not a number"),
            (
                "0 0 1 JANUARY *",
                "month value \"JANUARY\" is not a number or a month name",
            ),
            ("0 0 * * MONDAY", "is not a number or a day name (SUN-SAT)"),
            ("0 0 MON * *", "day-of-month value \"MON\" is not a number;"),
            ("0 0 * JAN-FEB MON-JAN", "day-of-week value \"JAN\""),
            ("0 0 * * ５", "is not a number"),
            ("@Daily", "descriptors are case-sensitive; write @daily"),
            ("@daily ", "remove the whitespace after @daily"),
            (" @daily", "remove the whitespace before @daily"),
            ("@reboot", "@reboot is not supported"),
            ("@fortnightly", "unknown descriptor \"@fortnightly\""),
            ("@", "unknown descriptor"),
            ("@every", "@every needs a single space and then a duration"),
            ("@every1h", "@every needs a single space"),
            ("@every ", "is not valid: it is empty"),
            ("@every  1h", "remove the extra whitespace"),
            ("@every 1h ", "remove the extra whitespace"),
            ("@every 1h 30m", "unknown unit \"h \""),
            ("@every 0", "must be greater than zero"),
            ("@every 0s", "must be greater than zero"),
            ("@every -1h", "must be greater than zero"),
            ("@every 0.0000000001s", "must be greater than zero"),
            ("@every 1", "a unit is missing after 1"),
            ("@every 1d", "unknown unit \"d\""),
            ("@every 1H", "unknown unit \"H\""),
            ("@every h", "expected a number"),
            ("@every .h", "must be next to a digit"),
            ("@every 2562048h", "too large"),
            ("@every 99999999999999999999999ns", "too large"),
            ("0 @daily * * *", "hour value \"@daily\" is not a number"),
        ];
        for (input, want) in cases {
            match check_schedule(input) {
                Ok(()) => panic!("{input:?} should be rejected"),
                Err(e) => assert!(
                    e.contains(want),
                    "error for {input:?} should contain {want:?}, got {e:?}"
                ),
            }
        }
    }

    #[test]
    fn go_duration_matches_go_semantics() {
        let cases: &[(&str, Option<(bool, u128)>)] = &[
            ("0", Some((false, 0))),
            ("-0", Some((true, 0))),
            ("1h30m", Some((false, 5_400_000_000_000))),
            ("1.5s", Some((false, 1_500_000_000))),
            ("-2m", Some((true, 120_000_000_000))),
            ("9223372036854775807ns", Some((false, (1u128 << 63) - 1))),
            ("-9223372036854775808ns", Some((true, 1u128 << 63))),
            ("9223372036854775808ns", None),
            ("1.0000000001ns", Some((false, 1))),
            ("", None),
            ("+", None),
            ("1", None),
            ("s", None),
            ("1s1", None),
            ("1..5s", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_go_duration(input).ok(), *want, "{input:?}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let long = [
            "*".repeat(100_000),
            "1,".repeat(50_000),
            format!("@every {}", "9".repeat(10_000)),
            format!("@every 0.{}1s", "0".repeat(10_000)),
            format!("{}5 * * * *", "0".repeat(10_000)),
            "* ".repeat(50_000),
            "@".repeat(10_000),
        ];
        let odd = [
            "",
            " ",
            "@",
            "@every",
            "@every ",
            "@every -",
            "@every +",
            "@every .",
            "@every 1.",
            "@every 1µ",
            "@every 1µs",
            "@every µs",
            "@every 1\u{3bc}",
            "-",
            "/",
            ",",
            "*/",
            "/*",
            "- - - - -",
            "/ / / / /",
            ", , , , ,",
            "* * * * * *",
            "\u{85}* * * * *\u{a0}",
            "\u{3000}0\u{3000}0 * * *",
            "🦀 * * * *",
            "é * * * *",
            "0 0 * * é-ü",
            "0 0 ß * *",
            "\0 * * * *",
            "0 0 * * \u{130}",
            "*/\u{96b} * * * *",
            "L * * * *",
            "# # # # #",
            "W W W W W",
            "0-0-0 * * * *",
            "0/0/0 * * * *",
            "CRON_TZ=",
            "TZ=",
            "tz",
        ];
        for input in long.iter().map(String::as_str).chain(odd) {
            let result = std::panic::catch_unwind(|| check_schedule(input));
            assert!(
                result.is_ok(),
                "check_schedule panicked on {:?}",
                truncate(input)
            );
        }
        // Deterministic xorshift fuzzing over cron-ish fragments.
        let alphabet = [
            "*", "?", "/", "-", ",", " ", "0", "1", "7", "59", "60", "L", "W", "#", "@", "every",
            "h", "m", "s", "µ", ".", "MON", "jan", "é", "TZ=",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 20) as usize;
            let input: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            let _ = check_schedule(&input);
        }
    }
}
