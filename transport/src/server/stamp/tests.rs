use super::*;
use crate::smtp::ClientCertificate;

fn s(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn removes_org_headers_including_folded_ones_and_keeps_the_body() {
    let msg = b"Subject: hi\r\n\
x-ms-exchange-organization-authas: Partner\r\n\
X-MS-Exchange-Organization-AuthDomain:\r\n\tpartner.example\r\n\
From: a@b.example\r\n\
X-MS-Exchange-OrganizationX: not ours\r\n\
\r\n\
X-MS-Exchange-Organization-AuthAs: Partner\r\n\
body\r\n";
    let out = s(&stamp(
        msg,
        "Received: x",
        &[(
            "X-MS-Exchange-Organization-AuthAs".into(),
            "Anonymous".into(),
        )],
    ));
    assert_eq!(
        out,
        "Received: x\r\n\
Subject: hi\r\n\
From: a@b.example\r\n\
X-MS-Exchange-OrganizationX: not ours\r\n\
X-MS-Exchange-Organization-AuthAs: Anonymous\r\n\
\r\n\
X-MS-Exchange-Organization-AuthAs: Partner\r\n\
body\r\n"
    );
}

#[test]
fn whitespace_before_the_colon_is_still_the_header() {
    let msg = b"X-MS-Exchange-Organization-AuthAs : Partner\r\nA: b\r\n\r\nx\r\n";
    let out = s(&stamp(msg, "Received: x", &[]));
    assert_eq!(out, "Received: x\r\nA: b\r\n\r\nx\r\n");
}

#[test]
fn a_message_without_a_header_section_stays_body() {
    let out = s(&stamp(
        b"just text\r\nX-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "Received: x",
        &[],
    ));
    assert_eq!(
        out,
        "Received: x\r\n\r\njust text\r\nX-MS-Exchange-Organization-AuthAs: Partner\r\n"
    );
    // a leading continuation line cannot continue anything
    let out = s(&stamp(
        b" X-MS-Exchange-Organization-AuthAs: Partner\r\n",
        "Received: x",
        &[],
    ));
    assert_eq!(
        out,
        "Received: x\r\n\r\n X-MS-Exchange-Organization-AuthAs: Partner\r\n"
    );
    // headers only, no body
    let out = s(&stamp(b"A: b\r\n", "Received: x", &[]));
    assert_eq!(out, "Received: x\r\nA: b\r\n");
    // empty message
    assert_eq!(s(&stamp(b"", "Received: x", &[])), "Received: x\r\n");
}

#[test]
fn header_value_unfolds() {
    let msg = b"Subject: a\r\nMessage-ID:\r\n <abc@x.example>\r\n\r\nMessage-ID: <body@x>\r\n";
    assert_eq!(
        header_value(msg, "message-id").as_deref(),
        Some("<abc@x.example>")
    );
    assert_eq!(header_value(msg, "To"), None);
}

fn facts(cert: Option<ClientCertificate>) -> TlsFacts {
    TlsFacts {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        sni: None,
        client_certificate: cert,
    }
}

#[test]
fn received_header_states_tls_and_the_client_certificate() {
    let tls = facts(Some(ClientCertificate {
        subject: "CN=mail.partner.example, O=Partner".into(),
        issuer: "CN=Partner CA".into(),
        thumbprint: "00".into(),
        names: vec!["mail.partner.example".into()],
        chain_verified: true,
        direct_trust: false,
    }));
    let t = TraceInfo {
        helo: "mail.partner.example\r\nX-Evil: 1",
        esmtp: true,
        client_ip: "127.0.0.1".parse().unwrap(),
        by: "mail.orga.example",
        tls: Some(&tls),
        single_recipient: Some("bob@orga.example".into()),
        now: time::macros::datetime!(2026-01-02 03:04:05 UTC),
    };
    let h = received_header(&t);
    assert_eq!(
        h,
        "Received: from mail.partner.example??X-Evil: 1 (unknown [127.0.0.1])\r\n\
\t(using TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384)\r\n\
\t(Client CN \"mail.partner.example\", Issuer \"Partner CA\" (verified OK))\r\n\
\tby mail.orga.example (xshell-transport) with ESMTPS\r\n\
\tfor <bob@orga.example>; Fri, 02 Jan 2026 03:04:05 +0000"
    );
    let plain = TraceInfo {
        tls: None,
        single_recipient: None,
        ..t
    };
    assert!(received_header(&plain).contains("with ESMTP;"));
}

#[test]
fn org_headers_per_authentication() {
    let names = |a: &Auth| {
        org_headers(a, "mail.orga.example")
            .into_iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&Auth::Partner {
            domain: "partner.example".into()
        }),
        [
            "X-MS-Exchange-Organization-AuthSource: mail.orga.example",
            "X-MS-Exchange-Organization-AuthAs: Partner",
            "X-MS-Exchange-Organization-AuthMechanism: 02",
            "X-MS-Exchange-Organization-AuthDomain: partner.example",
        ]
    );
    assert_eq!(
        names(&Auth::Internal)[1..],
        [
            "X-MS-Exchange-Organization-AuthAs: Internal",
            "X-MS-Exchange-Organization-AuthMechanism: 11",
        ]
    );
    assert_eq!(
        names(&Auth::Anonymous)[1..],
        ["X-MS-Exchange-Organization-AuthAs: Anonymous"]
    );
}
