use std::time::Duration;

use super::http::{Request, Status, parse_request};
use super::*;

#[test]
fn refusals_are_the_final_lines_of_4xx_and_5xx_replies() {
    let m = Metrics::default();
    m.refusals_in(
        "Inbound",
        b"250-mail.orga.example\r\n250 STARTTLS\r\n530 5.7.1 Not authenticated\r\n550-5.7.54 first\r\n550 5.7.54 Unable to relay\r\n421 4.4.2 timed out\r\n500 what\r\n",
    );
    let out = m.render(&Gauges::default());
    for want in [
        "xshell_smtp_refusals_total{connector=\"Inbound\",code=\"530\",enhanced=\"5.7.1\"} 1\n",
        "xshell_smtp_refusals_total{connector=\"Inbound\",code=\"550\",enhanced=\"5.7.54\"} 1\n",
        "xshell_smtp_refusals_total{connector=\"Inbound\",code=\"421\",enhanced=\"4.4.2\"} 1\n",
        "xshell_smtp_refusals_total{connector=\"Inbound\",code=\"500\",enhanced=\"\"} 1\n",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    assert!(!out.contains("code=\"250\""));
    // a 5.x.x after a 4xx code is not an enhanced code of that reply
    assert_eq!(final_refusal_line(b"451 5.7.3 x"), Some((451, None)));
    assert_eq!(final_refusal_line(b"354 go"), None);
    assert_eq!(final_refusal_line(b"45x 4.0.0"), None);
}

#[test]
fn labels_are_escaped_and_the_histogram_is_cumulative() {
    let m = Metrics::default();
    m.received("a \"quoted\" \\ name\nx", TlsClass::DomainSecured);
    m.sent("Out", TlsClass::Plaintext, Duration::from_millis(30));
    m.sent("Out", TlsClass::Plaintext, Duration::from_secs(2));
    m.sent("Out", TlsClass::Tls, Duration::from_secs(1_000_000));
    m.delivered_locally(Duration::from_millis(200));
    let out = m.render(&Gauges::default());
    assert!(
        out.contains(
            "xshell_messages_received_total{connector=\"a \\\"quoted\\\" \\\\ name\\nx\",tls=\"domain_secured\"} 1\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("xshell_delivery_latency_seconds_bucket{delivery=\"remote\",le=\"0.05\"} 1\n")
    );
    assert!(
        out.contains("xshell_delivery_latency_seconds_bucket{delivery=\"remote\",le=\"2.5\"} 2\n")
    );
    assert!(
        out.contains(
            "xshell_delivery_latency_seconds_bucket{delivery=\"remote\",le=\"86400\"} 2\n"
        )
    );
    assert!(
        out.contains("xshell_delivery_latency_seconds_bucket{delivery=\"remote\",le=\"+Inf\"} 3\n")
    );
    assert!(out.contains("xshell_delivery_latency_seconds_count{delivery=\"remote\"} 3\n"));
    assert!(out.contains("xshell_messages_sent_total{connector=\"Out\",tls=\"plaintext\"} 2\n"));
    assert!(
        out.contains("xshell_delivery_latency_seconds_bucket{delivery=\"local\",le=\"0.1\"} 0\n")
    );
    assert!(
        out.contains("xshell_delivery_latency_seconds_bucket{delivery=\"local\",le=\"0.25\"} 1\n")
    );
    assert!(out.contains("xshell_delivery_latency_seconds_count{delivery=\"local\"} 1\n"));
    // every line is a comment or `name[{labels}] value`
    for line in out.lines() {
        assert!(
            line.starts_with("# HELP xshell_")
                || line.starts_with("# TYPE xshell_")
                || line.starts_with("xshell_"),
            "{line}"
        );
    }
}

#[test]
fn tls_failure_reasons_come_from_the_rustls_error() {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let cases = [
        (E::NoCertificatesPresented, TlsFailure::NoClientCertificate),
        (
            E::InvalidCertificate(C::UnknownIssuer),
            TlsFailure::UntrustedCertificate,
        ),
        (
            E::InvalidCertificate(C::NotValidForName),
            TlsFailure::NameMismatch,
        ),
        (E::InvalidCertificate(C::Expired), TlsFailure::Expired),
        (
            E::AlertReceived(A::UnknownCA),
            TlsFailure::UntrustedCertificate,
        ),
        (
            E::AlertReceived(A::CertificateRequired),
            TlsFailure::NoClientCertificate,
        ),
        (E::AlertReceived(A::HandshakeFailure), TlsFailure::Protocol),
        (E::DecryptError, TlsFailure::Protocol),
        (E::General("x".into()), TlsFailure::Other),
    ];
    for (e, want) in cases {
        assert_eq!(TlsFailure::of_rustls(&e), want, "{e:?}");
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, e);
        assert_eq!(TlsFailure::of_io(&io), want);
    }
    assert_eq!(
        TlsFailure::of_io(&std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        TlsFailure::Other
    );
    let m = Metrics::default();
    m.tls_failure(Direction::Outbound, TlsFailure::NameMismatch);
    let out = m.render(&Gauges::default());
    assert!(out.contains(
        "xshell_tls_handshake_failures_total{direction=\"outbound\",reason=\"name_mismatch\"} 1\n"
    ));
    assert!(out.contains(
        "xshell_tls_handshake_failures_total{direction=\"inbound\",reason=\"name_mismatch\"} 0\n"
    ));
}

#[test]
fn requests() {
    let ok = |s: &str| parse_request(s.as_bytes());
    assert_eq!(
        ok("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
        Ok(Request::Get)
    );
    assert_eq!(ok("GET /metrics?x=1 HTTP/1.0\r\n\r\n"), Ok(Request::Get));
    assert_eq!(ok("HEAD /metrics HTTP/1.1\r\n\r\n"), Ok(Request::Head));
    assert_eq!(ok("GET / HTTP/1.1\r\n\r\n"), Err(Status::NotFound));
    assert_eq!(ok("GET /metricsx HTTP/1.1\r\n\r\n"), Err(Status::NotFound));
    assert_eq!(
        ok("POST /metrics HTTP/1.1\r\n\r\n"),
        Err(Status::MethodNotAllowed)
    );
    assert_eq!(
        ok("GET /metrics HTTP/2.0\r\n\r\n"),
        Err(Status::VersionNotSupported)
    );
    for bad in [
        "\r\n\r\n",
        "GET\r\n\r\n",
        "GET /metrics\r\n\r\n",
        "GET  /metrics HTTP/1.1\r\n\r\n",
        "get /metrics HTTP/1.1\r\n\r\n",
        "GET metrics HTTP/1.1\r\n\r\n",
        "GET /metrics HTTP/1.1 x\r\n\r\n",
        "GET /metrics SMTP\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n",
        "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
    ] {
        assert_eq!(ok(bad), Err(Status::BadRequest), "{bad:?}");
    }
    assert_eq!(
        parse_request(b"GET /\xff HTTP/1.1\r\n\r\n"),
        Err(Status::BadRequest)
    );
}
