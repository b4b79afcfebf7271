use super::*;
use xshell_smtp::ClientCertificate;

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
        server_auth_only: false,
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
        smtputf8: false,
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
    // RFC 6531 4.3: a transaction with SMTPUTF8; the recipient keeps its
    // UTF-8 letters, still never a line break.
    let utf8 = TraceInfo {
        smtputf8: true,
        single_recipient: Some("jürgen@bücher.example\r\nX: 1".into()),
        ..t
    };
    let h = received_header(&utf8);
    assert!(
        h.contains("with UTF8SMTPS\r\n\tfor <jürgen@bücher.example??X:?1>"),
        "{h}"
    );
    let utf8_plain = TraceInfo { tls: None, ..utf8 };
    assert!(received_header(&utf8_plain).contains("with UTF8SMTP\r\n"));
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

/// Feeds `msg` to a [`Stamper`] in pieces of `step` octets.
fn stamp_streamed(msg: &[u8], step: usize) -> Result<Vec<u8>, Refusal> {
    let mut st = Stamper::new(
        "Received: x".into(),
        vec![(
            "X-MS-Exchange-Organization-AuthAs".into(),
            "Anonymous".into(),
        )],
    );
    let mut out = Vec::new();
    for piece in msg.chunks(step.max(1)) {
        out.extend_from_slice(&st.push(piece.to_vec())?);
    }
    out.extend_from_slice(&st.finish()?);
    Ok(out)
}

#[test]
fn streamed_stamping_matches_whole_stamping_at_every_chunk_size() {
    let org = [(
        "X-MS-Exchange-Organization-AuthAs".to_string(),
        "Anonymous".to_string(),
    )];
    let messages: [&[u8]; 8] = [
        b"Subject: hi\r\nX-MS-Exchange-Organization-AuthAs: Partner\r\nFrom: a@b\r\n\r\nX-MS-Exchange-Organization-AuthAs: body\r\n",
        b"Subject: folded\r\n\tmore\r\nX-MS-Exchange-Organization-X:\r\n two\r\n\r\n",
        b"no header line at all\r\nX-MS-Exchange-Organization-AuthAs: Partner\r\n",
        b"\r\nbody only\r\n",
        b"",
        b"Subject: no body\r\n",
        b"Subject: x\r\n continuation\r\n\tagain\r\nnot a field\r\nX-MS-Exchange-Organization-A: b\r\n",
        b" leading continuation\r\nSubject: x\r\n\r\n",
    ];
    for msg in messages {
        let whole = stamp(msg, "Received: x", &org);
        for step in 1..=msg.len().max(1) {
            assert_eq!(
                stamp_streamed(msg, step).map(|o| s(&o)),
                Ok(s(&whole)),
                "step {step} of {}",
                s(msg)
            );
        }
    }
    let mut st = Stamper::new("Received: x".into(), Vec::new());
    st.push(b"Message-ID: <1@x>\r\nSubj".to_vec()).unwrap();
    assert_eq!(st.message_id(), None);
    let out = st.push(b"ect: y\r\n\r\nbody".to_vec()).unwrap();
    assert_eq!(st.message_id(), Some("<1@x>"));
    assert!(s(&out).ends_with("\r\n\r\nbody"));
    // the body passes through as is
    assert_eq!(st.push(b"more body".to_vec()).unwrap(), b"more body");
}

#[test]
fn a_header_section_over_the_limit_refuses_the_message() {
    // An organization header smuggled after a megabyte of header fields.
    let mut msg = Vec::new();
    while msg.len() <= HEADER_SECTION_LIMIT {
        msg.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(900)).as_bytes());
    }
    msg.extend_from_slice(b"X-MS-Exchange-Organization-AuthAs: Partner\r\n\r\nbody\r\n");
    for step in [1000, 65_536, msg.len()] {
        assert_eq!(
            stamp_streamed(&msg, step),
            Err(Refusal::HeaderTooLarge),
            "step {step}"
        );
    }
    // Just under the limit is stamped, the smuggled field removed.
    let mut msg = Vec::new();
    while msg.len() < HEADER_SECTION_LIMIT - 2000 {
        msg.extend_from_slice(format!("X-Pad: {}\r\n", "p".repeat(900)).as_bytes());
    }
    msg.extend_from_slice(b"X-MS-Exchange-Organization-AuthAs: Partner\r\n\r\nbody\r\n");
    let out = stamp_streamed(&msg, 65_536).unwrap();
    assert!(!s(&out).contains("AuthAs: Partner"));
    assert!(s(&out).ends_with("AuthAs: Anonymous\r\n\r\nbody\r\n"));
    assert_eq!(Refusal::HeaderTooLarge.reply().code, 552);
}

/// A message with `n` Received fields (one folded, some in other cases).
fn with_hops(n: usize) -> Vec<u8> {
    let mut msg = Vec::new();
    for i in 0..n {
        let name = ["Received", "received", "RECEIVED"][i % 3];
        msg.extend_from_slice(
            format!(
                "{name}: from h{i}.example\r\n\tby mx.example; Thu, 3 Dec 2026 10:00:00 +0000\r\n"
            )
            .as_bytes(),
        );
    }
    msg.extend_from_slice(b"Subject: loop\r\n\r\nReceived: in the body is not a hop\r\n");
    msg
}

#[test]
fn a_message_with_too_many_received_fields_is_refused_as_a_loop() {
    // MAX_HOPS - 1 hops is stamped (the body's Received line is not a hop).
    let msg = with_hops(MAX_HOPS - 1);
    for step in [1, 7, 100, msg.len()] {
        let out = stamp_streamed(&msg, step).unwrap();
        assert!(s(&out).starts_with("Received: x\r\n"), "step {step}");
    }
    let mut bodies = with_hops(MAX_HOPS - 1);
    bodies.extend_from_slice(&b"Received: body\r\n".repeat(100));
    assert!(stamp_streamed(&bodies, 64).is_ok());
    // MAX_HOPS hops is a loop, however the message is chunked.
    let msg = with_hops(MAX_HOPS);
    for step in [1, 7, 100, msg.len()] {
        assert_eq!(
            stamp_streamed(&msg, step),
            Err(Refusal::TooManyHops(MAX_HOPS)),
            "step {step}"
        );
    }
    // The stamper stops buffering at the limit: later chunks are refused too.
    let mut st = Stamper::new("Received: x".into(), Vec::new());
    assert_eq!(
        st.push(with_hops(MAX_HOPS + 10)),
        Err(Refusal::TooManyHops(MAX_HOPS))
    );
    assert_eq!(
        st.push(b"more".to_vec()),
        Err(Refusal::TooManyHops(MAX_HOPS))
    );
    assert_eq!(st.finish(), Err(Refusal::TooManyHops(MAX_HOPS)));
    let reply = Refusal::TooManyHops(MAX_HOPS).reply();
    assert_eq!(reply.code, 554);
    assert!(reply.to_string().contains("5.4.6"), "{reply}");
}

#[test]
fn max_hop_count_is_the_connectors() {
    let mut st = Stamper::new("Received: x".into(), Vec::new()).with_max_hops(3);
    assert_eq!(st.push(with_hops(3)), Err(Refusal::TooManyHops(3)));
    assert!(
        Refusal::TooManyHops(3)
            .reply()
            .to_string()
            .contains("3 or more")
    );
    let mut st = Stamper::new("Received: x".into(), Vec::new()).with_max_hops(3);
    assert!(st.push(with_hops(2)).is_ok());
    assert!(st.finish().is_ok());
}

#[test]
fn a_message_without_message_id_gets_one_and_the_subject_is_kept() {
    // Our Received field is folded: the Message-ID goes after all of it.
    let mut st = Stamper::new("Received: x\r\n\tby y".into(), Vec::new())
        .assigning_message_id("<abc@mail.orga.example>".into());
    let mut out = st
        .push(b"Subject: quarterly report\r\n\r\nbody\r\n".to_vec())
        .unwrap();
    out.extend(st.finish().unwrap());
    assert_eq!(
        s(&out),
        "Received: x\r\n\tby y\r\nMessage-ID: <abc@mail.orga.example>\r\nSubject: quarterly report\r\n\r\nbody\r\n"
    );
    assert_eq!(st.message_id(), Some("<abc@mail.orga.example>"));
    assert_eq!(st.subject(), Some("quarterly report"));
    // A message with its own Message-ID keeps it.
    let mut st = Stamper::new("Received: x".into(), Vec::new())
        .assigning_message_id("<abc@mail.orga.example>".into());
    let mut out = st
        .push(b"Message-ID: <own@a>\r\n\r\nb\r\n".to_vec())
        .unwrap();
    out.extend(st.finish().unwrap());
    assert_eq!(s(&out), "Received: x\r\nMessage-ID: <own@a>\r\n\r\nb\r\n");
    assert_eq!(st.message_id(), Some("<own@a>"));
}

/// RFC 6532 header fields only under SMTPUTF8: 8-bit octets in a header
/// field are refused (550 5.6.7) when the transaction did not ask for it,
/// however the message is chunked, and also when the message ends inside
/// its header section; the body may carry 8-bit text (8BITMIME); with
/// SMTPUTF8 the same message passes.
#[test]
fn utf8_header_fields_need_smtputf8() {
    let utf8 = "Subject: Grüße\r\nFrom: a@b.example\r\n\r\nbody\r\n".as_bytes();
    let body_only = "Subject: hi\r\n\r\nGrüße\r\n".as_bytes();
    let run = |msg: &[u8], step: usize, ascii: bool| {
        let mut st = Stamper::new("Received: x".into(), Vec::new()).requiring_ascii_header(ascii);
        let mut out = Vec::new();
        for c in msg.chunks(step) {
            out.extend(st.push(c.to_vec())?);
        }
        out.extend(st.finish()?);
        Ok::<_, Refusal>(out)
    };
    for step in [1, 5, utf8.len()] {
        assert_eq!(
            run(utf8, step, true),
            Err(Refusal::Utf8HeaderWithoutSmtpUtf8),
            "step {step}"
        );
        assert!(run(utf8, step, false).is_ok());
        assert!(run(body_only, step, true).is_ok());
    }
    let cut = "Subject: Grüße".as_bytes();
    assert_eq!(run(cut, 3, true), Err(Refusal::Utf8HeaderWithoutSmtpUtf8));
    let reply = Refusal::Utf8HeaderWithoutSmtpUtf8.reply();
    assert_eq!((reply.code, reply.enhanced), (550, Some((5, 6, 7))));
}
