use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::config::Paths;
use crate::tls::TrustContext;
use xshell_smtp::{ClientCertificate, SessionConfig};

fn rt() -> RuntimeConfig {
    RuntimeConfig {
        revision: 1,
        server_fqdn: "mail.orga.example".into(),
        server_name: "XSHELL01".into(),
        protocol_logs: crate::config::ProtocolLogSettings::resolve(
            &xshell_core::model::TransportService::default(),
            std::path::Path::new("s"),
        ),
        connectors: Vec::new(),
        accepted_domains: vec![
            (
                "orga.example".parse().unwrap(),
                AcceptedDomainType::Authoritative,
            ),
            (
                "*.relay.example".parse().unwrap(),
                AcceptedDomainType::InternalRelay,
            ),
        ],
        domain_secure_receive: HashSet::from(["partner.example".to_string()]),
        server_auth_only_receive: HashSet::new(),
        trust: Arc::new(TrustContext::default()),
        paths: Paths {
            queue: PathBuf::from("q"),
            mailboxes: PathBuf::from("m"),
            tracking_log: None,
        },
        send: Arc::new(crate::config::SendRuntime::default()),
        notes: Vec::new(),
        metrics_bindings: Vec::new(),
        // --- certificate lifecycle (issue 18 part 3) ---
        certificate_checks: Vec::new(),
        certificate_expiry_warning_days: 30,
    }
}

fn conn(domain_secure: bool, starttls: bool) -> ConnectorRuntime {
    let mut s = SessionConfig::new("mail.orga.example");
    s.offer_starttls = starttls;
    ConnectorRuntime {
        name: "Inbound".into(),
        bindings: vec![],
        remote_ip_ranges: vec![],
        session: Arc::new(s),
        tls: None,
        certificate: None,
        certificate_subject: None,
        protocol_logging: false,
        requests_client_certificate: domain_secure,
        domain_secure_enabled: domain_secure,
        sender_restriction: None,
        anonymous_allowed: true,
        direct_trust: false,
        externally_secured: false,
        max_inbound_connection_per_source: xshell_core::types::Limit::Count(20),
        max_inbound_connection: xshell_core::types::Limit::Count(5000),
        message_rate_limit: xshell_core::types::Limit::Unlimited,
        tarpit_interval: Duration::ZERO,
        max_hop_count: 60,
        connection_timeout: Duration::from_secs(600),
        connection_inactivity_timeout: Duration::from_secs(300),
    }
}

fn cert(names: &[&str], verified: bool, direct: bool) -> ClientCertificate {
    ClientCertificate {
        subject: format!("CN={}", names.first().copied().unwrap_or("x")),
        issuer: "CN=Partner CA".into(),
        thumbprint: "AB".into(),
        names: names.iter().map(|s| s.to_string()).collect(),
        chain_verified: verified,
        server_auth_only: false,
        direct_trust: direct,
    }
}

fn tls(c: Option<ClientCertificate>) -> TlsFacts {
    TlsFacts {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_128_GCM_SHA256".into(),
        sni: None,
        client_certificate: c,
    }
}

fn from(a: &str) -> ReversePath {
    let (l, d) = a.split_once('@').unwrap();
    ReversePath::Mailbox(Mailbox {
        local_part: l.into(),
        domain: d.into(),
    })
}

fn code(r: Result<Auth, Reply>) -> (u16, (u8, u16, u16)) {
    let r = r.unwrap_err();
    (r.code, r.enhanced.unwrap())
}

#[test]
fn domain_security_refusals_in_the_reference_order() {
    let rt = rt();
    let sender = from("alice@Partner.Example");
    let good = tls(Some(cert(&["mail.partner.example"], true, false)));
    assert_eq!(
        code(check_mail(&rt, &conn(false, true), Some(&good), &sender)),
        (451, (4, 7, 3))
    );
    assert_eq!(
        code(check_mail(&rt, &conn(true, false), None, &sender)),
        (454, (4, 7, 0))
    );
    assert_eq!(
        code(check_mail(&rt, &conn(true, true), None, &sender)),
        (530, (5, 7, 1))
    );
    assert_eq!(
        code(check_mail(
            &rt,
            &conn(true, true),
            Some(&tls(None)),
            &sender
        )),
        (530, (5, 7, 1))
    );
    let untrusted = tls(Some(cert(&["mail.partner.example"], false, false)));
    assert_eq!(
        code(check_mail(
            &rt,
            &conn(true, true),
            Some(&untrusted),
            &sender
        )),
        (454, (4, 7, 5))
    );
    let other = tls(Some(cert(&["mail.other.example"], true, false)));
    assert_eq!(
        code(check_mail(&rt, &conn(true, true), Some(&other), &sender)),
        (454, (4, 7, 5))
    );
    assert_eq!(
        check_mail(&rt, &conn(true, true), Some(&good), &sender).unwrap(),
        Auth::Partner {
            domain: "partner.example".into()
        }
    );
    let wildcard = tls(Some(cert(&["*.partner.example"], true, false)));
    assert!(matches!(
        check_mail(&rt, &conn(true, true), Some(&wildcard), &sender),
        Ok(Auth::Partner { .. })
    ));
}

#[test]
fn direct_trust_opportunistic_and_anonymous() {
    let rt = rt();
    let own = tls(Some(cert(&["mail.orga.example"], false, true)));
    let mut servers = conn(true, true);
    servers.direct_trust = true;
    assert_eq!(
        check_mail(&rt, &servers, Some(&own), &from("x@partner.example")).unwrap(),
        Auth::Internal
    );
    // on a connector without ExchangeServers our own certificate grants
    // nothing: anonymous (no relay), and no partner either
    assert_eq!(
        check_mail(
            &rt,
            &conn(true, true),
            Some(&own),
            &from("app@orga.example")
        )
        .unwrap(),
        Auth::Anonymous
    );
    assert_eq!(
        code(check_mail(
            &rt,
            &conn(true, true),
            Some(&own),
            &from("x@partner.example")
        )),
        (454, (4, 7, 5))
    );
    // a self-signed certificate from a domain not on the list: anonymous
    let selfsigned = tls(Some(cert(&["mx.random.example"], false, false)));
    assert_eq!(
        check_mail(
            &rt,
            &conn(true, true),
            Some(&selfsigned),
            &from("a@random.example")
        )
        .unwrap(),
        Auth::Anonymous
    );
    assert_eq!(
        check_mail(&rt, &conn(true, true), None, &ReversePath::Null).unwrap(),
        Auth::Anonymous
    );
    let mut closed = conn(true, true);
    closed.anonymous_allowed = false;
    assert_eq!(
        code(check_mail(&rt, &closed, None, &from("a@random.example"))),
        (530, (5, 7, 1))
    );
}

#[test]
fn relay_needs_internal() {
    let rt = rt();
    let to = |a: &str| {
        let (l, d) = a.split_once('@').unwrap();
        Mailbox {
            local_part: l.into(),
            domain: d.into(),
        }
    };
    let partner = Auth::Partner {
        domain: "partner.example".into(),
    };
    for auth in [&Auth::Anonymous, &partner] {
        assert!(check_rcpt(&rt, auth, &to("bob@orga.example")).is_ok());
        assert!(check_rcpt(&rt, auth, &to("bob@BOB.relay.example")).is_ok());
        let r = check_rcpt(&rt, auth, &to("bob@elsewhere.example")).unwrap_err();
        assert_eq!((r.code, r.enhanced), (550, Some((5, 7, 54))));
    }
    assert!(check_rcpt(&rt, &Auth::Internal, &to("bob@elsewhere.example")).is_ok());
    let r = check_rcpt(&rt, &Auth::Anonymous, &to("../etc@orga.example")).unwrap_err();
    assert_eq!((r.code, r.enhanced), (550, Some((5, 1, 1))));
}

#[test]
fn an_externally_secured_connector_makes_every_session_internal() {
    let rt = rt();
    let mut c = conn(false, false);
    c.anonymous_allowed = false;
    c.externally_secured = true;
    // plaintext, no certificate, any sender (even one on the Domain
    // Security list: the connector is trusted by configuration)
    for sender in ["alice@orga.example", "bob@partner.example"] {
        let auth = check_mail(&rt, &c, None, &from(sender)).unwrap();
        assert_eq!(auth, Auth::ExternallySecured);
        assert_eq!(auth.auth_as(), "Internal");
        assert_eq!(auth.mechanism_code(), None);
        assert!(auth.may_relay());
    }
    let auth = Auth::ExternallySecured;
    let to = Mailbox {
        local_part: "carol".into(),
        domain: "orgb.example".into(),
    };
    assert!(check_rcpt(&rt, &auth, &to).is_ok());
    // the same connector without the switch: refused, and no relay
    c.externally_secured = false;
    assert_eq!(
        code(check_mail(&rt, &c, None, &from("alice@orga.example"))),
        (530, (5, 7, 1))
    );
    assert_eq!(
        check_rcpt(&rt, &Auth::Anonymous, &to).unwrap_err().code,
        550
    );
}

#[test]
fn server_auth_only_certificates_need_the_per_domain_opt_in() {
    let mut rt = rt();
    let sender = from("alice@partner.example");
    let mut c = cert(&["mail.partner.example"], false, false);
    c.server_auth_only = true;
    let facts = tls(Some(c));
    let r = check_mail(&rt, &conn(true, true), Some(&facts), &sender).unwrap_err();
    assert_eq!((r.code, r.enhanced), (454, Some((4, 7, 5))));
    assert!(
        r.to_string().contains("no clientAuth extended key usage"),
        "{r}"
    );
    let why = refusal_detail(&rt, &conn(true, true), Some(&facts), &sender).unwrap();
    assert!(
        why.contains("add partner.example to TLSReceiveDomainSecureServerAuthOnlyList"),
        "{why}"
    );
    rt.server_auth_only_receive.insert("partner.example".into());
    assert_eq!(
        check_mail(&rt, &conn(true, true), Some(&facts), &sender),
        Ok(Auth::Partner {
            domain: "partner.example".into()
        })
    );
    // the opt-in does not excuse a certificate for another domain
    let mut other = cert(&["mail.other.example"], false, false);
    other.server_auth_only = true;
    assert_eq!(
        code(check_mail(
            &rt,
            &conn(true, true),
            Some(&tls(Some(other))),
            &sender
        )),
        (454, (4, 7, 5))
    );
}

#[test]
fn restrict_domains_to_certificate() {
    let rt = rt();
    let mut rc = xshell_core::model::ReceiveConnector::with_usage(
        "Partner",
        xshell_core::model::ReceiveUsage::Partner,
    );
    rc.restrict_domains_to_certificate = true;
    rc.sender_domains = vec!["fabrikam.example".parse().unwrap()];
    rc.tls_sender_certificate_name = Some("<I>CN=Partner CA<S>CN=mail.fabrikam.example".into());
    let mut c = conn(false, true);
    c.sender_restriction = crate::config::SenderRestriction::compile(&rc);
    assert!(c.sender_restriction.is_some());
    let sender = from("alice@Fabrikam.Example");
    let good = tls(Some(cert(&["mail.fabrikam.example"], true, false)));
    // the named certificate: accepted (anonymously: it proves, grants nothing)
    assert_eq!(
        check_mail(&rt, &c, Some(&good), &sender),
        Ok(Auth::Anonymous)
    );
    // another certificate, none, or plaintext: 550 5.7.1 with the reason
    let other = tls(Some(cert(&["mail.evil.example"], true, false)));
    for t in [Some(&other), Some(&tls(None)), None] {
        let r = check_mail(&rt, &c, t, &sender).unwrap_err();
        assert_eq!((r.code, r.enhanced), (550, Some((5, 7, 1))), "{r}");
    }
    let why = refusal_detail(&rt, &c, Some(&other), &sender).unwrap();
    assert!(
        why.contains(
            "must present TlsSenderCertificateName <I>CN=Partner CA<S>CN=mail.fabrikam.example"
        ) && why.contains("presented <I>CN=Partner CA<S>CN=mail.evil.example"),
        "{why}"
    );
    // an unverified chain with the right names is not the certificate
    let forged = tls(Some(cert(&["mail.fabrikam.example"], false, false)));
    assert!(check_mail(&rt, &c, Some(&forged), &sender).is_err());
    // other sender domains are not restricted
    assert!(check_mail(&rt, &c, Some(&other), &from("bob@contoso.example")).is_ok());
    // the domain form matches a subject alternative name
    rc.tls_sender_certificate_name = Some("*.fabrikam.example".into());
    c.sender_restriction = crate::config::SenderRestriction::compile(&rc);
    assert!(check_mail(&rt, &c, Some(&good), &sender).is_ok());
    assert!(check_mail(&rt, &c, Some(&other), &sender).is_err());
}
