//! Dates and time spans as .NET shows them on an en-US host: the default
//! display (`12/7/2031 1:24:37 PM`, `2.00:00:00`), `ToString(format)` with
//! .NET's standard and custom format strings, and the date texts
//! `[datetime]` and date parameters accept.
//!
//! Every date here is UTC: xshell has no local time zone (its hosts run on
//! UTC), so `ToLocalTime()` and `ToUniversalTime()` return the same instant
//! and the `o` and `K` formats write `Z`.

use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use xshell_core::types::ParseValueError;

/// .NET ticks (100 ns) from 0001-01-01 to the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 621_355_968_000_000_000;

const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The day of the week's English name (`DayOfWeek`).
pub fn day_name(t: OffsetDateTime) -> &'static str {
    DAYS[usize::from(t.weekday().number_days_from_monday())]
}

/// .NET's `Ticks`: 100-nanosecond intervals since 0001-01-01.
pub fn ticks(t: OffsetDateTime) -> i64 {
    let n = t.unix_timestamp_nanos() / 100;
    i64::try_from(n)
        .unwrap_or(i64::MAX)
        .saturating_add(UNIX_EPOCH_TICKS)
}

/// The default display, .NET's `G` on en-US: `12/7/2031 1:24:37 PM`.
pub fn display(t: OffsetDateTime) -> String {
    format(t, "G").unwrap_or_default()
}

/// The JSON form: ISO 8601 in UTC (`2031-12-07T13:24:37Z`, with a fraction
/// only when there is one).
pub fn iso(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| display(t))
}

/// A time span as .NET's `c` format writes it: `[-][d.]hh:mm:ss[.fffffff]`.
pub fn span_display(d: Duration) -> String {
    let neg = d.is_negative();
    let d = d.abs();
    let secs = d.whole_seconds();
    let ticks = d.subsec_nanoseconds() / 100;
    let (days, h, m, s) = (
        secs / 86_400,
        (secs % 86_400) / 3600,
        (secs % 3600) / 60,
        secs % 60,
    );
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if days > 0 {
        out.push_str(&format!("{days}."));
    }
    out.push_str(&format!("{h:02}:{m:02}:{s:02}"));
    if ticks > 0 {
        out.push_str(&format!(".{ticks:07}"));
    }
    out
}

/// A time span alone, as PowerShell lists one: its components and totals.
pub fn span_list(d: Duration) -> String {
    let secs = d.whole_seconds();
    let ticks = i64::try_from(d.whole_nanoseconds() / 100).unwrap_or(i64::MAX);
    let total = |unit: f64| crate::value::float_text(span_total(d, unit));
    let rows = [
        ("Days", (secs / 86_400).to_string()),
        ("Hours", ((secs / 3_600) % 24).to_string()),
        ("Minutes", ((secs / 60) % 60).to_string()),
        ("Seconds", (secs % 60).to_string()),
        ("Milliseconds", d.subsec_milliseconds().to_string()),
        ("Ticks", ticks.to_string()),
        ("TotalDays", total(86_400.0)),
        ("TotalHours", total(3_600.0)),
        ("TotalMinutes", total(60.0)),
        ("TotalSeconds", total(1.0)),
        ("TotalMilliseconds", total(0.001)),
    ];
    let mut out = String::from("\n");
    for (k, v) in rows {
        out.push_str(&format!("{k:<17} : {v}\n"));
    }
    out.push('\n');
    out
}

/// A whole number of .NET ticks as a span.
pub fn span_from_ticks(ticks: i64) -> Duration {
    Duration::nanoseconds_i128(i128::from(ticks) * 100)
}

/// A span's total in `unit` seconds, fractional (`TotalDays` etc.).
pub fn span_total(d: Duration, unit_secs: f64) -> f64 {
    d.as_seconds_f64() / unit_secs
}

fn hour12(h: u8) -> u8 {
    match h % 12 {
        0 => 12,
        x => x,
    }
}

/// A standard format's pattern on en-US, or `None` for a custom format.
fn standard(f: &str) -> Option<&'static str> {
    let mut c = f.chars();
    let (Some(ch), None) = (c.next(), c.next()) else {
        return None;
    };
    Some(match ch {
        'd' => "M/d/yyyy",
        'D' => "dddd, MMMM d, yyyy",
        'f' => "dddd, MMMM d, yyyy h:mm tt",
        'F' | 'U' => "dddd, MMMM d, yyyy h:mm:ss tt",
        'g' => "M/d/yyyy h:mm tt",
        'G' => "M/d/yyyy h:mm:ss tt",
        'm' | 'M' => "MMMM d",
        'o' | 'O' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
        'r' | 'R' => "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
        's' => "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
        't' => "h:mm tt",
        'T' => "h:mm:ss tt",
        'u' => "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
        'y' | 'Y' => "MMMM yyyy",
        _ => return Some(""),
    })
}

/// `DateTime.ToString(format)`: a standard format (one letter: `d`, `G`,
/// `o`, `s`, `u`, ...) or a custom one (`yyyy-MM-dd HH:mm:ss.fff tt`).
/// An unknown one-letter format is an error, as in .NET.
pub fn format(t: OffsetDateTime, f: &str) -> Result<String, String> {
    let t = t.to_offset(UtcOffset::UTC);
    let pattern = match standard(f) {
        Some("") => {
            return Err(format!(
                "'{f}' is not a date format: use a standard one (d, D, f, F, g, G, M, o, r, s, t, T, u, U, y) \
                 or a custom one such as yyyy-MM-dd HH:mm:ss"
            ));
        }
        Some(p) => p,
        None if f.is_empty() => "M/d/yyyy h:mm:ss tt",
        None => f,
    };
    Ok(custom(t, pattern))
}

fn custom(t: OffsetDateTime, pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let mut n = 1;
        while i + n < chars.len() && chars[i + n] == c {
            n += 1;
        }
        match c {
            '\'' | '"' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|x| *x == c)
                    .map_or(chars.len(), |p| i + 1 + p);
                out.extend(&chars[i + 1..end]);
                i = end + 1;
                continue;
            }
            '\\' => {
                if let Some(x) = chars.get(i + 1) {
                    out.push(*x);
                }
                i += 2;
                continue;
            }
            '%' => {
                i += 1;
                continue;
            }
            _ => {}
        }
        let field = match c {
            'd' => match n {
                1 => t.day().to_string(),
                2 => format!("{:02}", t.day()),
                3 => day_name(t)[..3].to_string(),
                _ => day_name(t).to_string(),
            },
            'M' => {
                let m = u8::from(t.month());
                let name = MONTHS[usize::from(m - 1)];
                match n {
                    1 => m.to_string(),
                    2 => format!("{m:02}"),
                    3 => name[..3].to_string(),
                    _ => name.to_string(),
                }
            }
            'y' => {
                let y = t.year();
                match n {
                    1 => (y % 100).to_string(),
                    2 => format!("{:02}", y % 100),
                    _ => format!("{y:0n$}"),
                }
            }
            'h' => two(hour12(t.hour()), n),
            'H' => two(t.hour(), n),
            'm' => two(t.minute(), n),
            's' => two(t.second(), n),
            'f' | 'F' => {
                let digits = format!("{:09}", t.nanosecond());
                let k = n.min(7);
                let mut s = digits[..k].to_string();
                if c == 'F' {
                    s = s.trim_end_matches('0').to_string();
                }
                s
            }
            't' => {
                let ampm = if t.hour() < 12 { "AM" } else { "PM" };
                if n == 1 {
                    ampm[..1].to_string()
                } else {
                    ampm.to_string()
                }
            }
            'K' => "Z".to_string(),
            'z' => match n {
                1 => "+0".to_string(),
                2 => "+00".to_string(),
                _ => "+00:00".to_string(),
            },
            'g' => "A.D.".to_string(),
            other => std::iter::repeat_n(other, n).collect(),
        };
        out.push_str(&field);
        i += n;
    }
    out
}

fn two(v: u8, n: usize) -> String {
    if n == 1 {
        v.to_string()
    } else {
        format!("{v:02}")
    }
}

fn bad(text: &str) -> ParseValueError {
    ParseValueError(format!(
        "'{text}' is not a date: use M/d/yyyy [h:mm[:ss] [AM|PM]] (e.g. 03/13/2018 09:00:00) or \
         ISO 8601 (2018-03-13T09:00:00Z); times are UTC"
    ))
}

fn number(s: &str, max_len: usize) -> Option<u32> {
    (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn month_by_name(s: &str) -> Option<u8> {
    let l = s.trim_end_matches('.').to_ascii_lowercase();
    if l.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.to_ascii_lowercase().starts_with(&l))
        .and_then(|i| u8::try_from(i + 1).ok())
}

/// A date from a text, as `[datetime]` and `Get-Date -Date` read one on an
/// en-US host: ISO 8601 (`2018-03-13`, `2018-03-13T09:00:00Z`,
/// `2018-03-13 09:00`), the US culture forms (`3/13/2018`,
/// `03/13/2018 09:00:00`, `3/13/2018 9:00 AM`) and `March 13, 2018`.
/// A time zone offset is converted to UTC; a time without one is UTC.
pub fn parse(text: &str) -> Result<OffsetDateTime, ParseValueError> {
    let t = text.trim();
    if let Ok(d) = OffsetDateTime::parse(t, &Rfc3339) {
        return Ok(d.to_offset(UtcOffset::UTC));
    }
    let (date, rest) = split_date(t).ok_or_else(|| bad(t))?;
    let (time, offset) = parse_time_of_day(rest.trim()).ok_or_else(|| bad(t))?;
    let dt = PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC);
    Ok(dt)
}

/// The date at the start of `t` and the rest of the text.
fn split_date(t: &str) -> Option<(Date, &str)> {
    // The date part ends at the first space, or at a 'T' after an ISO date.
    let end = t
        .find(|c: char| c.is_whitespace() || c == 'T' || c == 't')
        .unwrap_or(t.len());
    let (head, mut rest) = t.split_at(end);
    if rest.starts_with(['T', 't']) {
        rest = &rest[1..];
    }
    let ymd = |y: u32, m: u32, d: u32| -> Option<Date> {
        // .NET's years: 1 to 9999.
        if y == 0 {
            return None;
        }
        let month = Month::try_from(u8::try_from(m).ok()?).ok()?;
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()
    };
    let year2 = |y: &str| -> Option<u32> {
        let n = number(y, 4)?;
        Some(if y.len() <= 2 {
            if n < 50 { 2000 + n } else { 1900 + n }
        } else {
            n
        })
    };
    let parts: Vec<&str> = head.split(['-', '/', '.']).collect();
    if let [a, b, c] = parts.as_slice() {
        if a.len() == 4 {
            // yyyy-MM-dd or yyyy/MM/dd
            return Some((ymd(number(a, 4)?, number(b, 2)?, number(c, 2)?)?, rest));
        }
        if head.contains('/') {
            // en-US: M/d/yyyy
            return Some((ymd(year2(c)?, number(a, 2)?, number(b, 2)?)?, rest));
        }
        return None;
    }
    // "March 13, 2018" / "13 March 2018" / "Mar 13 2018"
    let mut words: Vec<&str> = t
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    // "Tuesday, March 13, 2018 ...": the day's name adds nothing.
    if words.first().is_some_and(|w| {
        w.len() >= 3
            && DAYS
                .iter()
                .any(|d| d.to_ascii_lowercase().starts_with(&w.to_ascii_lowercase()))
    }) {
        words.remove(0);
    }
    if words.len() >= 3 {
        let (m, d, y) = if let Some(m) = month_by_name(words[0]) {
            (m, words[1], words[2])
        } else {
            (month_by_name(words[1])?, words[0], words[2])
        };
        let date = ymd(year2(y)?, u32::from(m), number(d, 2)?)?;
        // The time follows the year.
        let at = t.find(y)? + y.len();
        return Some((date, &t[at..]));
    }
    None
}

/// `h:mm[:ss[.fffffff]] [AM|PM] [Z|±hh:mm]`, or nothing (midnight).
fn parse_time_of_day(s: &str) -> Option<(Time, UtcOffset)> {
    if s.is_empty() {
        return Some((Time::MIDNIGHT, UtcOffset::UTC));
    }
    let mut s = s.to_string();
    let mut offset = UtcOffset::UTC;
    let upper = s.to_ascii_uppercase();
    if upper.ends_with(" GMT") || upper.ends_with(" UTC") {
        s.truncate(s.len() - 4);
    } else if s.ends_with(['Z', 'z']) {
        s.pop();
    } else if let Some(pos) = s.rfind(['+', '-']) {
        let off = &s[pos + 1..];
        let (h, m) = off.split_once(':').unwrap_or((off, "0"));
        let (h, m) = (number(h, 2)?, number(m, 2)?);
        let sign = if s[pos..].starts_with('-') { -1 } else { 1 };
        offset = UtcOffset::from_hms(
            i8::try_from(h).ok()? * sign,
            i8::try_from(m).ok()? * sign,
            0,
        )
        .ok()?;
        s.truncate(pos);
    }
    let upper = s.trim().to_ascii_uppercase();
    let (clock, pm) = if let Some(c) = upper.strip_suffix("PM") {
        (c.trim(), Some(true))
    } else if let Some(c) = upper.strip_suffix("AM") {
        (c.trim(), Some(false))
    } else {
        (upper.trim(), None)
    };
    let mut f = clock.split(':');
    let h = number(f.next()?, 2)?;
    let m = number(f.next()?, 2)?;
    let (sec, nanos) = match f.next() {
        None => (0, 0),
        Some(x) => match x.split_once('.') {
            None => (number(x, 2)?, 0),
            Some((s, frac)) => {
                if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                let n: u32 = format!("{frac:0<9}").parse().ok()?;
                (number(s, 2)?, n)
            }
        },
    };
    if f.next().is_some() {
        return None;
    }
    let h = match pm {
        None => h,
        Some(_) if h == 0 || h > 12 => return None,
        Some(true) => h % 12 + 12,
        Some(false) => h % 12,
    };
    let time = Time::from_hms_nano(
        u8::try_from(h).ok()?,
        u8::try_from(m).ok()?,
        u8::try_from(sec).ok()?,
        nanos,
    )
    .ok()?;
    Some((time, offset))
}

/// `AddMonths`: the day is kept, or cut to the month's last.
pub fn add_months(t: OffsetDateTime, months: i64) -> Option<OffsetDateTime> {
    let total = i64::from(t.year()) * 12 + i64::from(u8::from(t.month())) - 1 + months;
    let year = i32::try_from(total.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
    let last = time::util::days_in_month(month, year);
    let date = Date::from_calendar_date(year, month, t.day().min(last)).ok()?;
    Some(t.replace_date(date))
}

/// `date + span`, `None` outside the years .NET can hold (1-9999).
pub fn add(t: OffsetDateTime, d: Duration) -> Option<OffsetDateTime> {
    t.checked_add(d).filter(|r| (1..=9999).contains(&r.year()))
}

/// `AddDays(1.5)` and its kind: the amount in `unit` seconds, rounded to
/// the millisecond as .NET does.
pub fn add_units(t: OffsetDateTime, amount: f64, unit_secs: f64) -> Option<OffsetDateTime> {
    let ms = (amount * unit_secs * 1000.0).round();
    if !ms.is_finite() || ms.abs() > 3.2e14 {
        return None;
    }
    add(t, Duration::milliseconds(ms as i64))
}

/// Midnight of the same day (`.Date`).
pub fn date_only(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_time(Time::MIDNIGHT)
}

/// The current time, UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Shows a number of seconds as a whole-second span value.
pub fn span_secs(secs: u64) -> Duration {
    Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn displays_as_en_us() {
        let t = datetime!(2031-12-07 13:24:37 UTC);
        assert_eq!(display(t), "12/7/2031 1:24:37 PM");
        assert_eq!(
            display(datetime!(2031-01-02 00:05:00 UTC)),
            "1/2/2031 12:05:00 AM"
        );
        assert_eq!(iso(t), "2031-12-07T13:24:37Z");
    }

    #[test]
    fn standard_and_custom_formats() {
        let t = datetime!(2031-12-07 13:24:37.123456789 UTC);
        let f = |s: &str| format(t, s).unwrap();
        assert_eq!(f("d"), "12/7/2031");
        assert_eq!(f("D"), "Sunday, December 7, 2031");
        assert_eq!(f("g"), "12/7/2031 1:24 PM");
        assert_eq!(f("G"), "12/7/2031 1:24:37 PM");
        assert_eq!(f("s"), "2031-12-07T13:24:37");
        assert_eq!(f("u"), "2031-12-07 13:24:37Z");
        assert_eq!(f("o"), "2031-12-07T13:24:37.1234567Z");
        assert_eq!(f("R"), "Sun, 07 Dec 2031 13:24:37 GMT");
        assert_eq!(f("yyyy-MM-dd"), "2031-12-07");
        assert_eq!(f("yyyyMMdd_HHmmss"), "20311207_132437");
        assert_eq!(f("hh:mm:ss.fff tt"), "01:24:37.123 PM");
        assert_eq!(f("ddd dd MMM yy"), "Sun 07 Dec 31");
        assert_eq!(f("'Day' d"), "Day 7");
        assert_eq!(f("%d"), "7");
        assert!(format(t, "Q").is_err());
    }

    #[test]
    fn parses_iso_and_us_culture_forms() {
        let p = |s: &str| parse(s).unwrap();
        assert_eq!(p("03/13/2018 09:00:00"), datetime!(2018-03-13 09:00:00 UTC));
        assert_eq!(p("3/13/2018"), datetime!(2018-03-13 00:00:00 UTC));
        assert_eq!(p("3/13/2018 9:00 AM"), datetime!(2018-03-13 09:00:00 UTC));
        assert_eq!(p("3/13/2018 12:30 PM"), datetime!(2018-03-13 12:30:00 UTC));
        assert_eq!(p("3/13/2018 12:30 AM"), datetime!(2018-03-13 00:30:00 UTC));
        assert_eq!(
            p("3/13/2018 9:00:05 pm"),
            datetime!(2018-03-13 21:00:05 UTC)
        );
        assert_eq!(p("2018-03-13"), datetime!(2018-03-13 00:00:00 UTC));
        assert_eq!(
            p("2018-03-13T09:00:00Z"),
            datetime!(2018-03-13 09:00:00 UTC)
        );
        assert_eq!(p("2018-03-13T09:00"), datetime!(2018-03-13 09:00:00 UTC));
        assert_eq!(p("2018-03-13 09:00:00"), datetime!(2018-03-13 09:00:00 UTC));
        assert_eq!(
            p("2018-03-13T11:00:00+02:00"),
            datetime!(2018-03-13 09:00:00 UTC)
        );
        assert_eq!(
            p("2018-03-13 09:00:00.5"),
            datetime!(2018-03-13 09:00:00.5 UTC)
        );
        assert_eq!(p("March 13, 2018"), datetime!(2018-03-13 00:00:00 UTC));
        assert_eq!(p("13 Mar 2018 10:00"), datetime!(2018-03-13 10:00:00 UTC));
        assert_eq!(p("12/7/31"), datetime!(2031-12-07 00:00:00 UTC));
        for bad in [
            "",
            "13/13/2018",
            "2/30/2018",
            "3/13/2018 25:00",
            "3/13/2018 13:00 PM",
            "yesterday",
            "3/13/2018 9",
            "1/1/1 1:1:1:1",
            "0000-01-01",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        // Round trips of the display forms.
        let t = datetime!(2031-12-07 13:24:37 UTC);
        for f in ["G", "F", "U", "s", "u", "o", "R", "yyyy-MM-dd HH:mm:ss"] {
            let text = format(t, f).unwrap();
            assert_eq!(parse(&text).ok(), Some(t), "{f}: {text}");
        }
    }

    /// Odd input is an error, never a panic.
    #[test]
    fn odd_text_is_an_error() {
        for text in [
            "",
            "T",
            "t",
            " ",
            "2018-",
            "/",
            "//",
            "1/1/",
            "1/1/2018 ",
            "1/1/2018 :",
            "1/1/2018 1:",
            "1/1/2018 -",
            "1/1/2018 +99:99",
            "1/1/2018 1:00 AMPM",
            "é/ü/2018",
            "2018-01-01T",
            "March",
            "March 1",
            "Tue",
            "Tue, March",
            "Tuesday",
            "1/1/2018 12:00:00.",
            "1/1/2018 12:00:00.1234567890",
            "1/1/2018 GMT",
            "1/1/2018 1:00 GMT",
            "１/1/2018",
            "9999-12-31T23:59:59+",
            "Dec 2018 1",
            "12 12 12",
            "0/0/0",
            "99999-1-1",
            "1/1/2018 Z",
        ] {
            let _ = parse(text);
        }
        assert_eq!(
            parse("1/1/2018 1:00 GMT").ok(),
            Some(datetime!(2018-01-01 01:00:00 UTC))
        );
        for f in [
            "'",
            "\"",
            "\\",
            "%",
            "yyyyyyyyyy",
            "fffffffff",
            "FFFFFFFFF",
            "'unclosed",
            "é",
        ] {
            assert!(
                format(datetime!(2031-12-07 13:24:37 UTC), f).is_ok() || f.chars().count() == 1
            );
        }
    }

    #[test]
    fn spans() {
        assert_eq!(span_display(Duration::days(2)), "2.00:00:00");
        assert_eq!(span_display(Duration::minutes(5)), "00:05:00");
        assert_eq!(span_display(Duration::seconds(-90)), "-00:01:30");
        assert_eq!(
            span_display(Duration::milliseconds(1500)),
            "00:00:01.5000000"
        );
        assert_eq!(span_total(Duration::hours(36), 86_400.0), 1.5);
        let list = span_list(Duration::hours(36));
        assert!(list.contains("\nDays              : 1\n"), "{list}");
        assert!(list.contains("\nHours             : 12\n"), "{list}");
        assert!(list.contains("\nTotalDays         : 1.5\n"), "{list}");
        assert!(
            list.contains("\nTicks             : 1296000000000\n"),
            "{list}"
        );
    }

    #[test]
    fn calendar_arithmetic() {
        let t = datetime!(2031-01-31 10:00:00 UTC);
        assert_eq!(add_months(t, 1), Some(datetime!(2031-02-28 10:00:00 UTC)));
        assert_eq!(add_months(t, -13), Some(datetime!(2029-12-31 10:00:00 UTC)));
        assert_eq!(
            add_units(t, 1.5, 86_400.0),
            Some(datetime!(2031-02-01 22:00:00 UTC))
        );
        assert_eq!(add_units(t, 1e300, 86_400.0), None);
        assert_eq!(ticks(datetime!(1970-01-01 00:00:00 UTC)), UNIX_EPOCH_TICKS);
        assert_eq!(day_name(t), "Friday");
    }
}
