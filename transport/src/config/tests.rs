use super::*;
use xshell_core::certificates::{b64_encode, new_key_id};
use xshell_core::model::{CertificateRecord, ReceiveUsage};
use xshell_core::pki::cert::thumbprint;
use xshell_core::pki::dn::SubjectName;
use xshell_core::pki::keys::{KeyAlgorithm, generate};
use xshell_core::pki::selfsigned::create_self_signed;
use xshell_core::store::Store;

fn connector(name: &str, binding: &str, ranges: &[&str]) -> ReceiveConnector {
    let mut c = ReceiveConnector::with_usage(name, ReceiveUsage::Internet);
    c.bindings = vec![binding.parse().unwrap()];
    if !ranges.is_empty() {
        c.remote_ip_ranges = ranges.iter().map(|r| r.parse().unwrap()).collect();
    }
    c
}

/// A store with a self-signed SMTP certificate for mail.orga.example.
fn store_with_cert(dir: &Path) -> (Store, OrgConfig) {
    let store = Store::open_dir(dir);
    let key = generate(KeyAlgorithm::EcdsaP256).unwrap();
    let der = create_self_signed(
        &SubjectName::parse("CN=mail.orga.example").unwrap(),
        &["mail.orga.example".to_string()],
        &key,
    )
    .unwrap();
    let key_id = new_key_id(&key).unwrap();
    store
        .backend()
        .put_secret(&key_id, key.to_pem().as_bytes())
        .unwrap();
    let mut cfg = OrgConfig::default();
    cfg.transport_service.fqdn = Some("mail.orga.example".into());
    cfg.certificates.push(CertificateRecord {
        thumbprint: thumbprint(&der),
        certificate: Some(b64_encode(&der)),
        chain: vec![],
        request: None,
        key_id: Some(key_id),
        services: vec!["SMTP".into()],
        friendly_name: None,
        private_key_exportable: false,
        default_smtp: true,
        server: None,
    });
    (store, cfg)
}

#[test]
fn certificate_selection_limits_and_client_certificate_requests() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut cfg) = store_with_cert(tmp.path());
    let mut a = connector("A", "127.0.0.1:2525", &[]);
    a.domain_secure_enabled = true;
    let mut b = connector("B", "127.0.0.1:2526", &[]);
    b.fqdn = Some("mx.other.example".into());
    let mut disabled = connector("C", "127.0.0.1:2527", &[]);
    disabled.enabled = false;
    cfg.receive_connectors = vec![a, b, disabled];
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc());
    assert_eq!(rt.connectors.len(), 2);
    let (a, b) = (&rt.connectors[0], &rt.connectors[1]);
    assert!(a.tls.is_some() && a.session.offer_starttls);
    assert_eq!(
        a.certificate.as_deref(),
        Some(cfg.certificates[0].thumbprint.as_str())
    );
    // the receive list is empty: no client certificate request
    assert!(!a.requests_client_certificate);
    assert!(b.tls.is_none() && !b.session.offer_starttls);
    assert!(
        rt.notes
            .iter()
            .any(|n| n.contains("'B'") && n.contains("mx.other.example")),
        "{:?}",
        rt.notes
    );
    // MaxMessageSize 36 MB vs MaxReceiveSize 10 MB; 200 vs 500 recipients
    assert_eq!(a.session.max_message_size, 10 * 1024 * 1024);
    assert_eq!(a.session.max_recipients, 200);
    assert_eq!(a.session.hostname, "mail.orga.example");

    cfg.transport_config.tls_receive_domain_secure_list = vec!["partner.example".parse().unwrap()];
    cfg.transport_config.max_receive_size = SizeLimit::Unlimited;
    cfg.transport_config.max_recipient_envelope_limit = 5;
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc());
    assert!(rt.connectors[0].requests_client_certificate);
    assert!(!rt.connectors[1].requests_client_certificate);
    assert_eq!(rt.connectors[0].session.max_message_size, 36 * 1024 * 1024);
    assert_eq!(rt.connectors[0].session.max_recipients, 5);
    assert!(rt.is_domain_secure_sender("PARTNER.example"));
    assert!(!rt.is_domain_secure_sender("sub.partner.example"));
    assert!(
        rt.trust
            .own_thumbprints
            .contains(&cfg.certificates[0].thumbprint)
    );
}

#[test]
fn a_missing_key_means_no_starttls_and_a_note() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut cfg) = store_with_cert(tmp.path());
    cfg.certificates[0].key_id = Some("gone.key".into());
    cfg.receive_connectors = vec![connector("A", "127.0.0.1:2525", &[])];
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc());
    assert!(rt.connectors[0].tls.is_none());
    assert!(
        rt.notes
            .iter()
            .any(|n| n.contains("STARTTLS is not offered"))
    );
}

#[test]
fn connector_by_binding_then_most_specific_range() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open_dir(tmp.path());
    let cfg = OrgConfig {
        receive_connectors: vec![
            connector("All", "0.0.0.0:25", &[]),
            connector("Lan", "0.0.0.0:25", &["127.0.0.0/8"]),
            connector("Host", "127.0.0.1:25", &["127.0.0.5"]),
            connector("Other", "127.0.0.1:26", &["127.0.0.0-127.0.0.9"]),
        ],
        ..OrgConfig::default()
    };
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc());
    let pick = |local: &str, peer: &str| {
        rt.select_connector(local.parse().unwrap(), peer.parse().unwrap())
            .map(|c| c.name.clone())
    };
    assert_eq!(pick("127.0.0.1:25", "127.0.0.5").as_deref(), Some("Host"));
    assert_eq!(pick("127.0.0.1:25", "127.0.0.6").as_deref(), Some("Lan"));
    assert_eq!(pick("127.0.0.2:25", "127.0.0.5").as_deref(), Some("Lan"));
    assert_eq!(
        pick("127.0.0.1:25", "::ffff:127.0.0.7").as_deref(),
        Some("Lan")
    );
    assert_eq!(pick("127.0.0.1:25", "10.1.1.1").as_deref(), Some("All"));
    assert_eq!(pick("127.0.0.1:26", "127.0.0.9").as_deref(), Some("Other"));
    assert_eq!(pick("127.0.0.1:26", "127.0.0.10"), None);
    assert_eq!(pick("127.0.0.1:27", "127.0.0.1"), None);
    let addrs: Vec<String> = rt.listen_addrs().iter().map(|a| a.to_string()).collect();
    assert_eq!(addrs, ["0.0.0.0:25", "127.0.0.1:25", "127.0.0.1:26"]);
}

#[test]
fn default_paths_and_overrides() {
    let mut cfg = OrgConfig::default();
    let p = Paths::resolve(&cfg, Path::new("/s"));
    assert_eq!(p.queue, PathBuf::from("/s/queue"));
    assert_eq!(p.mailboxes, PathBuf::from("/s/mailboxes"));
    assert_eq!(p.tracking_log, Some(PathBuf::from("/s/log/tracking.jsonl")));
    cfg.transport_service.queue_database_path = Some("/q".into());
    cfg.transport_service.mailbox_root_path = Some("/m".into());
    cfg.transport_service.message_tracking_log_path = Some("/l".into());
    let p = Paths::resolve(&cfg, Path::new("/s"));
    assert_eq!(
        (p.queue, p.mailboxes, p.tracking_log),
        (
            PathBuf::from("/q"),
            PathBuf::from("/m"),
            Some(PathBuf::from("/l/tracking.jsonl"))
        )
    );
    cfg.transport_service.message_tracking_log_enabled = false;
    assert_eq!(Paths::resolve(&cfg, Path::new("/s")).tracking_log, None);
}

#[test]
fn loops_are_detected_by_name_only_for_a_configured_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut cfg) = store_with_cert(tmp.path());
    let mut sc = xshell_core::model::SendConnector::new("Out");
    sc.address_spaces = vec!["b.example".parse().unwrap()];
    let mut named = sc.clone();
    named.name = "Named".into();
    named.fqdn = Some("relay.orga.example".into());
    cfg.send_connectors = vec![sc, named];
    let compile = |cfg: &OrgConfig| {
        RuntimeConfig::compile(cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc())
    };
    // The default name (from the server's Name) may be another server's
    // too: no name check. A connector's own Fqdn is ours.
    cfg.transport_service.fqdn = None;
    let rt = compile(&cfg);
    assert_eq!(rt.send.compiled["Out"].helo_name, "xshell01");
    assert!(!rt.send.compiled["Out"].loop_detection);
    assert!(rt.send.compiled["Named"].loop_detection);
    cfg.transport_service.fqdn = Some("mail.orga.example".into());
    let rt = compile(&cfg);
    assert_eq!(rt.send.compiled["Out"].helo_name, "mail.orga.example");
    assert!(rt.send.compiled["Out"].loop_detection);
}

#[test]
fn certificate_findings_at_start_expiring_and_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut cfg) = store_with_cert(tmp.path());
    cfg.receive_connectors = vec![connector("Inbound", "127.0.0.1:2525", &[])];
    let der = xshell_core::certificates::certificate_der(&cfg.certificates[0])
        .unwrap()
        .unwrap();
    let info = parse_certificate(&der).unwrap();
    let tp = info.thumbprint.clone();

    // Now: the choice is logged (info), nothing else.
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), OffsetDateTime::now_utc());
    assert_eq!(rt.certificate_expiry_warning_days, 30);
    let levels: Vec<CheckLevel> = rt.certificate_checks.iter().map(|c| c.level).collect();
    assert_eq!(levels, [CheckLevel::Info], "{:#?}", rt.certificate_checks);
    let chosen = &rt.certificate_checks[0];
    assert!(
        chosen.message.contains("receive connector 'Inbound'")
            && chosen.message.contains(&tp)
            && chosen.message.contains("the only SMTP-enabled certificate"),
        "{chosen:?}"
    );

    // Ten days before NotAfter: warning 12018 naming thumbprint, subject,
    // NotAfter and the days left.
    let soon = info.not_after - time::Duration::days(10) - time::Duration::hours(1);
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), soon);
    let w = rt
        .certificate_checks
        .iter()
        .find(|c| c.level == CheckLevel::Warning)
        .unwrap_or_else(|| panic!("{:#?}", rt.certificate_checks));
    assert_eq!(w.event_id, Some(12018));
    assert_eq!(w.days_left, 10);
    assert_eq!(w.thumbprint, tp);
    assert_eq!(w.subject, "CN=mail.orga.example");
    for want in [
        tp.as_str(),
        "CN=mail.orga.example",
        "in 10 days",
        "12018",
        &xshell_core::certificates::rfc3339(info.not_after),
        "receive connector 'Inbound'",
    ] {
        assert!(w.message.contains(want), "{want}: {}", w.message);
    }
    // A window of 5 days: no warning at 10 days.
    cfg.transport_service.certificate_expiry_warning_days = 5;
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), soon);
    assert!(
        rt.certificate_checks
            .iter()
            .all(|c| c.level == CheckLevel::Info),
        "{:#?}",
        rt.certificate_checks
    );

    // Expired: error 12016 (the certificate is still presented: nothing
    // else matches; opportunistic TLS goes on).
    let later = info.not_after + time::Duration::days(3) + time::Duration::hours(1);
    let rt = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), later);
    let e = rt
        .certificate_checks
        .iter()
        .find(|c| c.level == CheckLevel::Error)
        .unwrap_or_else(|| panic!("{:#?}", rt.certificate_checks));
    assert_eq!(e.event_id, Some(12016));
    assert_eq!(e.days_left, -3);
    assert!(
        e.message.contains("expired") && e.message.contains("3 days ago"),
        "{}",
        e.message
    );
    assert_eq!(rt.connectors[0].certificate.as_deref(), Some(tp.as_str()));
}

#[test]
fn old_stores_load_with_the_default_warning_window() {
    let json = serde_json::to_value(xshell_core::model::TransportService::default()).unwrap();
    let mut obj = json.as_object().unwrap().clone();
    obj.remove("CertificateExpiryWarningDays").unwrap();
    let svc: xshell_core::model::TransportService =
        serde_json::from_value(serde_json::Value::Object(obj)).unwrap();
    assert_eq!(svc.certificate_expiry_warning_days, 30);
}

#[test]
fn a_server_compiles_its_own_connectors_and_certificates_and_trusts_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let (store, mut cfg) = store_with_cert(tmp.path());
    cfg.transport_service.name = "EX01".into();
    // The certificate belongs to EX02; EX01 has none.
    cfg.certificates[0].server = Some("EX02".into());
    let ex01 = connector("In", "127.0.0.1:2525", &[]);
    let mut ex02 = connector("In", "127.0.0.1:2526", &[]);
    ex02.server = Some("EX02".into());
    cfg.receive_connectors = vec![ex01, ex02];
    let now = OffsetDateTime::now_utc();

    let rt1 = RuntimeConfig::compile(&cfg, store.backend(), tmp.path(), now);
    assert_eq!(rt1.server_name, "EX01");
    assert_eq!(rt1.listen_addrs().len(), 1);
    assert!(
        rt1.listen_addrs()
            .contains(&"127.0.0.1:2525".parse().unwrap())
    );
    // EX02's certificate is not EX01's to present...
    assert!(rt1.connectors[0].tls.is_none());
    // ...but a peer presenting it is one of the organization's servers.
    assert!(
        rt1.trust
            .own_thumbprints
            .contains(&cfg.certificates[0].thumbprint)
    );

    let rt2 = RuntimeConfig::compile_for(&cfg, "ex02", store.backend(), tmp.path(), now);
    assert_eq!(rt2.server_name, "EX02", "as the organization spells it");
    assert!(
        rt2.listen_addrs()
            .contains(&"127.0.0.1:2526".parse().unwrap())
    );
    assert_eq!(rt2.listen_addrs().len(), 1);
}
