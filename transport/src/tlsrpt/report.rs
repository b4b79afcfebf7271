//! The aggregate report (RFC 8460 4.4), the `_smtp._tls` record (RFC 8460
//! 3) and the report message (RFC 8460 5.3). No I/O here.

use std::io::Write;

use serde_json::Value;
use time::OffsetDateTime;
use xshell_core::tlsrpt::rfc3339;

pub use xshell_core::tlsrpt::{DomainReport, ReportMeta, build, day_range};

/// Where a domain wants its reports (RFC 8460 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rua {
    Mailto(String),
    Https(String),
}

impl std::fmt::Display for Rua {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rua::Mailto(a) => write!(f, "mailto:{a}"),
            Rua::Https(u) => f.write_str(u),
        }
    }
}

/// Why a `_smtp._tls` lookup gives no place to report to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("no TLSRPTv1 record")]
    None,
    #[error("{0} TLSRPTv1 records (RFC 8460 3: exactly one)")]
    Several(usize),
    #[error("the TLSRPTv1 record has no usable rua: {0}")]
    NoRua(String),
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(s.get(i + 1..i + 3).unwrap_or(""), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rua URIs of the `_smtp._tls` TXT records (RFC 8460 3): records not
/// starting with `v=TLSRPTv1` are ignored; not exactly one left means the
/// domain does not do TLSRPT. Unknown URI schemes are skipped.
pub fn parse_record(txt: &[String]) -> Result<Vec<Rua>, RecordError> {
    let records: Vec<&String> = txt
        .iter()
        .filter(|r| {
            let r = r.trim_start();
            r.strip_prefix("v=TLSRPTv1").is_some_and(|rest| {
                rest.trim_start().is_empty() || rest.trim_start().starts_with(';')
            })
        })
        .collect();
    let record = match records.as_slice() {
        [] => return Err(RecordError::None),
        [one] => *one,
        more => return Err(RecordError::Several(more.len())),
    };
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for field in record.split(';') {
        let Some((k, v)) = field.split_once('=') else {
            continue;
        };
        if !k.trim().eq_ignore_ascii_case("rua") {
            continue;
        }
        for uri in v.split(',') {
            let uri = uri.trim();
            seen.push(uri.to_string());
            if let Some(rest) = uri
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("mailto:"))
                .map(|_| &uri[7..])
            {
                // RFC 6068: the address, then optional ?headers (ignored).
                let addr = percent_decode(rest.split('?').next().unwrap_or(""));
                if addr.contains('@') && !addr.contains(char::is_whitespace) {
                    out.push(Rua::Mailto(addr));
                }
            } else if uri
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
            {
                out.push(Rua::Https(uri.to_string()));
            }
        }
    }
    if out.is_empty() {
        return Err(RecordError::NoRua(seen.join(",")));
    }
    Ok(out)
}

/// gzip of the report's JSON (RFC 8460 5.3, `application/tlsrpt+gzip`).
pub fn gzip(json: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(json).unwrap_or_default();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&body);
    enc.finish().unwrap_or_default()
}

/// RFC 8460 5.3 file name: `submitter!policy-domain!begin!end[!id].json.gz`
/// (seconds since the epoch).
pub fn file_name(r: &DomainReport, submitter: &str) -> String {
    format!(
        "{submitter}!{}!{}!{}.json.gz",
        r.domain,
        r.start.unix_timestamp(),
        r.end.unix_timestamp()
    )
}

/// The report message of RFC 8460 5.3, CRLF line ends.
pub fn message(
    r: &DomainReport,
    meta: &ReportMeta,
    from: &str,
    to: &str,
    now: OffsetDateTime,
) -> Vec<u8> {
    use base64::Engine;
    let gz = gzip(&r.json);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&gz);
    let boundary = format!(
        "tlsrpt-{}-{}",
        r.start.unix_timestamp(),
        now.unix_timestamp_nanos() % 1_000_000_007
    );
    let date = now
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let mut m = String::new();
    let mut h = |line: String| {
        m.push_str(&line);
        m.push_str("\r\n");
    };
    h(format!("From: {from}"));
    h(format!("To: {to}"));
    h(format!("Date: {date}"));
    h(format!("Message-ID: <{}>", r.report_id));
    // RFC 8460 5.3.1
    h(format!("Subject: Report Domain: {}", r.domain));
    h(format!("    Submitter: {}", meta.submitter));
    h(format!("    Report-ID: <{}>", r.report_id));
    h(format!("TLS-Report-Domain: {}", r.domain));
    h(format!("TLS-Report-Submitter: {}", meta.submitter));
    h("Auto-Submitted: auto-generated".into());
    // RFC 8460 5.3: reports are delivered despite TLS failures; RFC 8689 5:
    // `TLS-Required: No` asks next hops to set DANE and MTA-STS aside.
    h("TLS-Required: No".into());
    h("MIME-Version: 1.0".into());
    h(format!(
        "Content-Type: multipart/report; report-type=\"tlsrpt\";\r\n    boundary=\"{boundary}\""
    ));
    h(String::new());
    h("This is a multipart message in MIME format.".into());
    h(String::new());
    h(format!("--{boundary}"));
    h("Content-Type: text/plain; charset=\"us-ascii\"".into());
    h("Content-Transfer-Encoding: 7bit".into());
    h(String::new());
    h(format!(
        "This is an aggregate TLS report from {} for {}: {} successful and {} failed sessions from {} to {}.",
        meta.submitter,
        r.domain,
        r.successful,
        r.failed,
        rfc3339(r.start),
        rfc3339(r.end)
    ));
    h(String::new());
    h(format!("--{boundary}"));
    h("Content-Type: application/tlsrpt+gzip".into());
    h("Content-Transfer-Encoding: base64".into());
    h(format!(
        "Content-Disposition: attachment;\r\n    filename=\"{}\"",
        file_name(r, &meta.submitter)
    ));
    h(String::new());
    for chunk in b64.as_bytes().chunks(76) {
        h(String::from_utf8_lossy(chunk).into_owned());
    }
    h(String::new());
    h(format!("--{boundary}--"));
    m.into_bytes()
}
