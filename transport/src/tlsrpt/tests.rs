use std::net::SocketAddr;

use super::log::{SessionLog, day_of, parse_day};
use super::report::{self, ReportMeta, Rua};
use super::*;
use crate::outbound::deliver::Attempt;
use crate::outbound::tls::TlsOutcome;

fn handshake(reason: TlsFailure) -> Cause {
    Cause::TlsHandshake {
        host: "mx".into(),
        detail: "d".into(),
        verified: true,
        opportunistic: false,
        reason,
    }
}

#[test]
fn failures_map_to_rfc8460_result_types() {
    let k = Some(PolicyKind::RequireTls);
    let cases = [
        (TlsFailure::NameMismatch, "certificate-host-mismatch"),
        (TlsFailure::Expired, "certificate-expired"),
        (TlsFailure::UntrustedCertificate, "certificate-not-trusted"),
        (TlsFailure::Protocol, "validation-failure"),
        (TlsFailure::Timeout, "validation-failure"),
    ];
    for (reason, want) in cases {
        assert_eq!(
            result_type(k, &handshake(reason)).map(ResultType::as_str),
            Some(want)
        );
    }
    let no_tls = Cause::Session {
        host: "mx".into(),
        failure: SessionFailure::StartTlsNotOffered,
    };
    assert_eq!(
        result_type(k, &no_tls),
        Some(ResultType::StarttlsNotSupported)
    );
    // Under DANE a certificate no TLSA record matches is tlsa-invalid
    // (the DANE verifier's refusal arrives as Other); under MTA-STS the MX
    // certificate's failures are negotiation failures (4.3.1), and
    // sts-webpki-invalid is kept for the policy host (4.3.2.2).
    let untrusted = handshake(TlsFailure::UntrustedCertificate);
    for reason in [TlsFailure::UntrustedCertificate, TlsFailure::Other] {
        assert_eq!(
            result_type(Some(PolicyKind::Dane), &handshake(reason)),
            Some(ResultType::TlsaInvalid)
        );
    }
    assert_eq!(
        result_type(Some(PolicyKind::MtaStsEnforce), &untrusted),
        Some(ResultType::CertificateNotTrusted)
    );
    // Not a TLS outcome.
    let refused = Cause::Connect {
        host: "mx".into(),
        detail: "refused".into(),
    };
    assert_eq!(result_type(k, &refused), None);
    assert_eq!(policy_type(PolicyKind::Dane).as_str(), "tlsa");
    assert_eq!(policy_type(PolicyKind::MtaStsTesting).as_str(), "sts");
    assert_eq!(
        policy_type(PolicyKind::DomainSecure).as_str(),
        "no-policy-found"
    );
}

fn tls() -> TlsOutcome {
    TlsOutcome {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        server_subject: None,
        server_issuer: None,
        verified_name: None,
        domain_secured: false,
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_hop_gives_its_failed_attempts_and_its_session() {
    let policy = AppliedPolicy {
        kind: Some(PolicyKind::Opportunistic),
        ..AppliedPolicy::default()
    };
    let report = DeliveryReport {
        host: Some(("MX2.OrgC.example.".into(), addr("127.0.0.3:25"))),
        tls: Some(tls()),
        attempts: vec![
            Attempt {
                host: "mx1.orgc.example".into(),
                addr: addr("127.0.0.2:25"),
                cause: handshake(TlsFailure::Expired),
            },
            Attempt {
                host: "mx0.orgc.example".into(),
                addr: addr("127.0.0.1:25"),
                cause: Cause::Connect {
                    host: "mx0".into(),
                    detail: "refused".into(),
                },
            },
        ],
        ..DeliveryReport::default()
    };
    let s = sessions_of_hop("OrgC.example.", &policy, &report, None, None, 0);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0].result, Some(ResultType::CertificateExpired));
    assert_eq!(s[0].mx.as_deref(), Some("mx1.orgc.example"));
    assert_eq!(s[1].result, None);
    assert_eq!(s[1].mx.as_deref(), Some("mx2.orgc.example"));
    assert!(s.iter().all(|x| x.domain == "orgc.example"));

    // A plaintext session: opportunistic means STARTTLS was not offered;
    // plaintext by our choice (policy None) is not reported.
    let plain = DeliveryReport {
        tls: None,
        attempts: Vec::new(),
        ..report.clone()
    };
    let s = sessions_of_hop("orgc.example", &policy, &plain, None, None, 0);
    assert_eq!(s[0].result, Some(ResultType::StarttlsNotSupported));
    let none = AppliedPolicy {
        kind: Some(PolicyKind::None),
        ..AppliedPolicy::default()
    };
    assert!(sessions_of_hop("orgc.example", &none, &plain, None, None, 0).is_empty());
    // No decision (the route failed first): nothing.
    assert!(
        sessions_of_hop(
            "orgc.example",
            &AppliedPolicy::default(),
            &report,
            None,
            None,
            0
        )
        .is_empty()
    );
}

fn session(domain: &str, mx: &str, result: Option<ResultType>, t: u64) -> Session {
    Session {
        time_ms: t,
        domain: domain.into(),
        policy: PolicyType::NoPolicyFound,
        policy_strings: Vec::new(),
        mx: Some(mx.into()),
        receiving_ip: Some("127.0.0.2".parse().unwrap()),
        sending_ip: None,
        result,
        count: 1,
    }
}

#[test]
fn the_log_survives_a_torn_line_and_compacts() {
    let dir = tempfile::tempdir().unwrap();
    let log = SessionLog::new(dir.path().join("tlsrpt"));
    // 2026-12-07 12:00 UTC
    let t = 1_796_644_800_000;
    let day = day_of(t);
    assert_eq!(super::log::day_name(day), "2026-12-07");
    log.append(&[session("a.example", "mx.a.example", None, t)])
        .unwrap();
    // A crash in the middle of a line.
    let path = dir.path().join("tlsrpt/2026-12-07.jsonl");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(b"\n{\"t\":1,\"d\":\"a.exa").unwrap();
    }
    log.append(&[
        session(
            "a.example",
            "mx.a.example",
            Some(ResultType::CertificateExpired),
            t,
        ),
        session("b.example", "mx.b.example", None, t),
    ])
    .unwrap();
    let read = log.read(day).unwrap();
    assert_eq!(read.len(), 3, "{read:?}");
    assert_eq!(log.days().unwrap(), vec![day]);
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    // A policy failure without a session (e.g. the MTA-STS policy fetch).
    let sts = AppliedPolicy {
        kind: Some(PolicyKind::MtaStsEnforce),
        policy_strings: vec!["version: STSv1".into(), "mode: enforce".into()],
        ..AppliedPolicy::default()
    };
    let log2 = SessionLog::new(dir.path().join("sts"));
    let failure = failure_session("C.example.", &sts, ResultType::StsPolicyFetchError);
    log2.append(&[failure.unwrap()]).unwrap();
    let today = day_of(crate::queue::now_ms());
    let got = log2.read(today).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].domain.as_str(), got[0].policy, got[0].result),
        (
            "c.example",
            PolicyType::Sts,
            Some(ResultType::StsPolicyFetchError)
        )
    );

    // Bounded: past the limit the day is aggregated, counts kept.
    let small = SessionLog::with_limit(dir.path().join("small"), 2000);
    for _ in 0..60 {
        small
            .append(&[session("a.example", "mx.a.example", None, t)])
            .unwrap();
    }
    let size = std::fs::metadata(dir.path().join("small/2026-12-07.jsonl"))
        .unwrap()
        .len();
    assert!(size < 2000 + 200, "{size}");
    let read = small.read(day).unwrap();
    assert!(read.len() < 60, "{}", read.len());
    assert_eq!(read.iter().map(|s| s.count).sum::<u64>(), 60);
}

#[test]
fn reports_aggregate_per_domain_and_policy() {
    let t = 1_796_644_800_000;
    let day = day_of(t);
    let mut sessions = vec![
        session("a.example", "mx.a.example", None, t),
        session("a.example", "mx.a.example", None, t),
        session(
            "a.example",
            "mx.a.example",
            Some(ResultType::CertificateExpired),
            t,
        ),
        session(
            "b.example",
            "mx.b.example",
            Some(ResultType::StarttlsNotSupported),
            t,
        ),
    ];
    sessions[1].count = 3;
    let meta = ReportMeta {
        organization: "Org A".into(),
        contact: "tlsrpt@orga.example".into(),
        submitter: "mail.orga.example".into(),
    };
    let r = report::build(&sessions, day, None, &meta);
    assert_eq!(r.len(), 2);
    let a = &r[0].json;
    assert_eq!(a["organization-name"], "Org A");
    assert_eq!(a["date-range"]["start-datetime"], "2026-12-07T00:00:00Z");
    assert_eq!(a["date-range"]["end-datetime"], "2026-12-07T23:59:59Z");
    assert_eq!(a["policies"][0]["policy"]["policy-domain"], "a.example");
    assert_eq!(
        a["policies"][0]["summary"]["total-successful-session-count"],
        4
    );
    assert_eq!(
        a["policies"][0]["summary"]["total-failure-session-count"],
        1
    );
    let d = &a["policies"][0]["failure-details"][0];
    assert_eq!(d["result-type"], "certificate-expired");
    assert_eq!(d["receiving-mx-hostname"], "mx.a.example");
    assert_eq!(d["receiving-ip"], "127.0.0.2");
    assert_eq!(r[0].report_id, "20261207.a.example@mail.orga.example");
    assert_eq!(
        report::file_name(&r[0], "mail.orga.example"),
        "mail.orga.example!a.example!1796601600!1796687999.json.gz"
    );
    // A day not over: up to now, another report id.
    let noon = time::OffsetDateTime::from_unix_timestamp(1_796_644_800).unwrap();
    let partial = report::build(&sessions, day, Some(noon), &meta);
    assert_eq!(
        partial[0].json["date-range"]["end-datetime"],
        "2026-12-07T12:00:00Z"
    );
    assert_ne!(partial[0].report_id, r[0].report_id);

    let msg = String::from_utf8(report::message(
        &r[1],
        &meta,
        "tlsrpt@orga.example",
        "rua@b.example",
        noon,
    ))
    .unwrap();
    assert!(msg.contains("TLS-Report-Domain: b.example\r\n"), "{msg}");
    assert!(msg.contains("TLS-Report-Submitter: mail.orga.example\r\n"));
    assert!(msg.contains("TLS-Required: No\r\n"));
    assert!(msg.contains("Subject: Report Domain: b.example\r\n    Submitter: mail.orga.example\r\n    Report-ID: <20261207.b.example@mail.orga.example>\r\n"));
    assert!(msg.contains("multipart/report; report-type=\"tlsrpt\""));
    assert!(msg.contains("Content-Type: application/tlsrpt+gzip\r\n"));
    assert!(!msg.replace("\r\n", "").contains('\n'), "bare LF");

    // RFC 8460 5.3: the signature covers every report header RFC 8460
    // names, From over-signed (verified by dkimpy in tests/tls_reporting.rs).
    let key =
        xshell_core::dkim::SigningKey::generate(xshell_core::dkim::Algorithm::Ed25519).unwrap();
    let signer = xshell_core::dkim::Signer {
        key: &key,
        domain: "orga.example",
        selector: "sel1",
        headers: xshell_core::dkim::TLSRPT_HEADERS,
    };
    let field = signer.sign(msg.as_bytes(), noon.unix_timestamp()).unwrap();
    let tags: String = field.split_whitespace().collect();
    assert!(
        tags.contains(
            "h=from:from:to:subject:date:message-id:mime-version:content-type:tls-report-domain:tls-report-submitter;"
        ),
        "{field}"
    );
    assert!(tags.contains("d=orga.example;s=sel1;"), "{field}");
    assert!(
        tags.contains(&format!("t={};", noon.unix_timestamp())),
        "{field}"
    );
}

#[test]
fn tlsrpt_records() {
    let rec =
        |v: &[&str]| report::parse_record(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        rec(&["v=TLSRPTv1; rua=mailto:tls%2Drpt@b.example?subject=x, https://r.b.example/tlsrpt"])
            .unwrap(),
        vec![
            Rua::Mailto("tls-rpt@b.example".into()),
            Rua::Https("https://r.b.example/tlsrpt".into())
        ]
    );
    assert!(rec(&["v=spf1 -all"]).is_err());
    assert!(
        rec(&[
            "v=TLSRPTv1;rua=mailto:a@b.example",
            "v=TLSRPTv1;rua=mailto:c@b.example"
        ])
        .is_err()
    );
    assert!(rec(&["v=TLSRPTv1; rua=ftp://x"]).is_err());
    assert!(rec(&["v=TLSRPTv10; rua=mailto:a@b.example"]).is_err());
    assert_eq!(
        parse_day("2026-12-07").map(super::log::day_name).as_deref(),
        Some("2026-12-07")
    );
    assert!(parse_day("07/12/2026").is_none());
}
