//! Session tests: every command, sequencing, pipelining, STARTTLS
//! injection, DATA smuggling, limits, chunk-boundary invariance, fuzzing.

use std::sync::Arc;

use super::*;
use crate::fuzz::{XorShift, fuzz_session};

fn config() -> SessionConfig {
    let mut c = SessionConfig::new("mx.contoso.com");
    c.max_message_size = 10_000;
    c.max_recipients = 3;
    c
}

fn tls_facts() -> TlsFacts {
    TlsFacts {
        protocol: "TLSv1.3".into(),
        cipher: "TLS13_AES_256_GCM_SHA384".into(),
        sni: Some("mx.contoso.com".into()),
        client_certificate: None,
    }
}

/// Everything a driven session did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Transcript {
    output: String,
    /// Decisions asked and other notable actions, in order.
    log: Vec<String>,
    delivered: Vec<(Box<Envelope>, Vec<u8>)>,
    closed: bool,
}

/// The standard test policy: senders and recipients whose local part
/// starts with "bad" are refused; deliveries are queued as "Q1", "Q2", ...
fn policy(action: &Action, queued: &mut usize) -> Verdict {
    match action {
        Action::CheckMail { from, .. } => match from.mailbox() {
            Some(m) if m.local_part.starts_with("bad") => {
                Verdict::Reject(Reply::new(550, (5, 7, 1), "Sender refused"))
            }
            _ => Verdict::Accept,
        },
        Action::CheckRcpt { to } if to.local_part.starts_with("bad") => {
            Verdict::Reject(Reply::new(550, (5, 7, 1), "Relay denied"))
        }
        Action::Deliver { .. } => {
            *queued += 1;
            Verdict::AcceptWith(Reply::new(250, (2, 0, 0), format!("Queued as Q{queued}")))
        }
        _ => Verdict::Accept,
    }
}

/// Marks where, in a test script, the client finishes the TLS handshake:
/// bytes before it are plaintext, bytes after it arrive over TLS.
const TLS: &str = "[[TLS]]";

/// Drives a session: feeds the script in chunks of the given sizes,
/// answers with [`policy`], completes STARTTLS. Everything before the
/// [`TLS`] marker is sent in plaintext; if the session starts TLS, the rest
/// of the plaintext still reaches it (as an injecting client would send
/// it) before the handshake, and the part after the marker is fed to the
/// post-TLS session.
fn drive(
    config: SessionConfig,
    script: &[u8],
    chunk_sizes: &mut dyn FnMut() -> usize,
) -> Transcript {
    let marker = TLS.as_bytes();
    let (plain, after_tls) = match script.windows(marker.len()).position(|w| w == marker) {
        Some(i) => (&script[..i], &script[i + marker.len()..]),
        None => (script, &b""[..]),
    };
    let mut input = plain;
    let mut t = Transcript::default();
    let mut s = Session::new(Arc::new(config), None);
    let mut at = 0;
    let mut queued = 0;
    let mut current = Vec::new();
    for _ in 0..100_000 {
        let action = s.poll();
        t.output
            .push_str(&String::from_utf8_lossy(&s.take_output()));
        match action {
            Action::NeedInput => {
                if at >= input.len() {
                    return t;
                }
                let end = at.saturating_add(chunk_sizes().max(1)).min(input.len());
                s.feed(&input[at..end]);
                at = end;
            }
            Action::StartTls { .. } => {
                s.feed(&input[at..]);
                let Action::StartTls { discarded } = s.poll() else {
                    panic!("StartTls expected");
                };
                t.log.push(format!("STARTTLS discarded={discarded}"));
                s = match s.into_tls(tls_facts()) {
                    Ok(s) => s,
                    Err(e) => panic!("into_tls: {e}"),
                };
                input = after_tls;
                at = 0;
            }
            Action::Close => {
                t.closed = true;
                return t;
            }
            Action::AwaitingDecision => panic!("AwaitingDecision"),
            Action::MessageData(chunk) => {
                assert!(chunk.len() <= DATA_CHUNK, "chunk of {}", chunk.len());
                current.extend_from_slice(&chunk);
            }
            Action::MessageRefused => {
                t.log.push("REFUSED".to_string());
                current.clear();
            }
            other => {
                let v = policy(&other, &mut queued);
                match other {
                    Action::CheckMail { from, params } => {
                        t.log.push(format!("MAIL <{from}> {params:?}"));
                    }
                    Action::CheckRcpt { to } => t.log.push(format!("RCPT <{to}>")),
                    Action::Deliver { envelope } => {
                        let message = std::mem::take(&mut current);
                        t.log.push(format!("DELIVER {} octets", message.len()));
                        t.delivered.push((envelope, message));
                    }
                    _ => {}
                }
                s.decide(v).expect("decide");
            }
        }
    }
    panic!("session did not settle");
}

fn run(config: SessionConfig, input: &str) -> Transcript {
    drive(config, input.as_bytes(), &mut || usize::MAX)
}

fn run_bytes(config: SessionConfig, input: &[u8]) -> Transcript {
    drive(config, input, &mut || usize::MAX)
}

/// The reply lines after the greeting.
fn replies(t: &Transcript) -> Vec<&str> {
    t.output
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .skip(1)
        .collect()
}

const HELLO: &str = "EHLO client.fabrikam.com\r\n";

/// Lines of the EHLO reply with STARTTLS offered: the replies after it
/// start at this index.
const EHLO_LINES: usize = 10;

// ---- greeting, EHLO, HELO ----

#[test]
fn greeting_default_and_banner() {
    let t = run(config(), "");
    assert_eq!(
        t.output,
        "220 mx.contoso.com ESMTP xshell-transport ready\r\n"
    );
    let mut c = config();
    c.banner = Some("220 Contoso mail".into());
    assert_eq!(run(c, "").output, "220 Contoso mail\r\n");
}

#[test]
fn ehlo_lists_extensions() {
    let t = run(config(), HELLO);
    assert_eq!(
        replies(&t),
        [
            "250-mx.contoso.com Hello client.fabrikam.com",
            "250-PIPELINING",
            "250-SIZE 10000",
            "250-8BITMIME",
            "250-DSN",
            "250-ENHANCEDSTATUSCODES",
            "250-SMTPUTF8",
            "250-CHUNKING",
            "250-BINARYMIME",
            "250 STARTTLS",
        ]
    );
    let mut c = config();
    c.offer_starttls = false;
    let t = run(c, HELLO);
    assert_eq!(replies(&t).last(), Some(&"250 BINARYMIME"));
    // BINARYMIME only with CHUNKING (RFC 3030 section 3).
    let mut c = config();
    c.offer_starttls = false;
    c.chunking = false;
    let t = run(c, HELLO);
    assert_eq!(replies(&t).last(), Some(&"250 SMTPUTF8"));
    let mut c = config();
    c.binary_mime = false;
    let t = run(c, HELLO);
    assert!(replies(&t).contains(&"250-CHUNKING"));
    assert!(!t.output.contains("BINARYMIME"));
}

#[test]
fn helo_has_no_extensions_and_no_parameters() {
    let t = run(
        config(),
        "HELO client\r\nMAIL FROM:<a@fabrikam.com> SIZE=10\r\nMAIL FROM:<a@fabrikam.com>\r\n",
    );
    assert_eq!(
        replies(&t),
        [
            "250 mx.contoso.com",
            "555 5.5.4 MAIL parameters are not allowed after HELO",
            "250 2.1.0 Sender OK",
        ]
    );
    assert!(!t.delivered.iter().any(|(e, _)| e.esmtp));
}

// ---- DSN (RFC 3461) ----

#[test]
fn dsn_parameters_are_kept_per_message_and_recipient() {
    let t = run(
        config(),
        "EHLO client.fabrikam.com\r\n\
         MAIL FROM:<a@fabrikam.com> RET=HDRS ENVID=QQ+2B314 SIZE=10\r\n\
         RCPT TO:<b@contoso.com> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;B+2Bx@contoso.com\r\n\
         RCPT TO:<c@contoso.com> notify=never\r\n\
         RCPT TO:<d@contoso.com>\r\n\
         DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n",
    );
    assert_eq!(t.delivered.len(), 1, "{}", t.output);
    let e = &t.delivered[0].0;
    assert_eq!(e.params.ret, Some(Ret::Hdrs));
    assert_eq!(e.params.envid.as_deref(), Some("QQ+2B314"));
    assert_eq!(e.rcpt_params.len(), 3);
    let n = e.rcpt_params[0].notify.unwrap();
    assert!(n.success && n.delay && !n.failure);
    assert_eq!(n.to_string(), "SUCCESS,DELAY");
    assert_eq!(
        e.rcpt_params[0].orcpt.as_deref(),
        Some("rfc822;B+2Bx@contoso.com")
    );
    assert_eq!(e.rcpt_params[1].notify, Some(Notify::NEVER));
    assert!(e.rcpt_params[2].is_empty());
    assert_eq!(
        crate::command::xtext_decode("B+2Bx@contoso.com"),
        "B+x@contoso.com"
    );
    assert_eq!(crate::command::xtext_encode("B+x=y@c"), "B+2Bx+3Dy@c");
}

#[test]
fn dsn_parameter_syntax_is_checked() {
    for (line, param) in [
        ("MAIL FROM:<a@fabrikam.com> RET=BODY", "RET"),
        ("MAIL FROM:<a@fabrikam.com> RET", "RET"),
        ("MAIL FROM:<a@fabrikam.com> RET=FULL RET=HDRS", "RET"),
        ("MAIL FROM:<a@fabrikam.com> ENVID=", "ENVID"),
        ("MAIL FROM:<a@fabrikam.com> ENVID=a=b", "ENVID"),
        ("MAIL FROM:<a@fabrikam.com> ENVID=a+2b", "ENVID"),
        ("MAIL FROM:<a@fabrikam.com> ENVID=a+4", "ENVID"),
        ("MAIL FROM:<a@fabrikam.com> ENVID=x ENVID=y", "ENVID"),
        ("RCPT TO:<b@contoso.com> NOTIFY=NEVER,SUCCESS", "NOTIFY"),
        ("RCPT TO:<b@contoso.com> NOTIFY=SUCCESS,SUCCESS", "NOTIFY"),
        ("RCPT TO:<b@contoso.com> NOTIFY=", "NOTIFY"),
        ("RCPT TO:<b@contoso.com> NOTIFY=SUCCESS,", "NOTIFY"),
        ("RCPT TO:<b@contoso.com> NOTIFY=ALWAYS", "NOTIFY"),
        (
            "RCPT TO:<b@contoso.com> NOTIFY=NEVER NOTIFY=NEVER",
            "NOTIFY",
        ),
        ("RCPT TO:<b@contoso.com> ORCPT=b@contoso.com", "ORCPT"),
        ("RCPT TO:<b@contoso.com> ORCPT=;b@contoso.com", "ORCPT"),
        ("RCPT TO:<b@contoso.com> ORCPT=rfc822;", "ORCPT"),
        ("RCPT TO:<b@contoso.com> ORCPT=rfc822;a=b", "ORCPT"),
        (
            "RCPT TO:<b@contoso.com> ORCPT=rfc822;a ORCPT=rfc822;b",
            "ORCPT",
        ),
    ] {
        let e = parse_command(line.as_bytes()).expect_err(line);
        assert_eq!(e, ParseError::InvalidParameter(param), "{line}");
        assert_eq!(
            e.reply().to_string(),
            format!("501 5.5.4 Invalid value for {param}"),
            "{line}"
        );
    }
    // Limits: ENVID 100 characters, ORCPT 500 (RFC 3461 4.2, 4.4).
    let envid = "e".repeat(100);
    assert!(parse_command(format!("MAIL FROM:<a@f.example> ENVID={envid}").as_bytes()).is_ok());
    assert!(parse_command(format!("MAIL FROM:<a@f.example> ENVID={envid}e").as_bytes()).is_err());
    // ORCPT's own limit is 500; the 512-octet command line (kept, see
    // RFC 5321 4.5.3.1.4) is the tighter one here.
    let orcpt = format!("rfc822;{}", "o".repeat(400));
    assert!(parse_command(format!("RCPT TO:<b@c.example> ORCPT={orcpt}").as_bytes()).is_ok());
    let orcpt = format!("rfc822;{}", "o".repeat(494));
    assert!(!crate::command::valid_orcpt(orcpt.as_bytes()));
    // In a session: refused, and the transaction goes on.
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@fabrikam.com> RET=ALL\r\n\
         MAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com> NOTIFY=NEVER,DELAY\r\n\
         RCPT TO:<b@contoso.com> XORCPT=1\r\nRCPT TO:<b@contoso.com> NOTIFY=FAILURE\r\n",
    );
    assert_eq!(
        replies(&t)[EHLO_LINES..],
        [
            "501 5.5.4 Invalid value for RET",
            "250 2.1.0 Sender OK",
            "501 5.5.4 Invalid value for NOTIFY",
            "555 5.5.4 Parameter XORCPT not recognized",
            "250 2.1.5 Recipient OK",
        ]
    );
    // After HELO no parameter is allowed (RFC 5321 4.1.1.11 / 3461 4).
    let t = run(
        config(),
        "HELO c.example\r\nMAIL FROM:<a@fabrikam.com>\r\nRCPT TO:<b@contoso.com> NOTIFY=NEVER\r\n",
    );
    assert_eq!(
        replies(&t)[2],
        "555 5.5.4 RCPT parameters are not allowed after HELO"
    );
}

#[test]
fn fuzz_driver_carries_dsn_parameters() {
    let mut input = vec![0u8, 7];
    input.extend_from_slice(
        b"EHLO c.example\r\nMAIL FROM:<a@b.example> RET=FULL ENVID=x+2By\r\n\
          RCPT TO:<r@c.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r@c.example\r\n\
          RCPT TO:<x@c.example> NOTIFY=NEVER\r\nDATA\r\nSubject: a\r\n\r\nb\r\n.\r\n",
    );
    let t = fuzz_session(&input);
    assert!(t.violations.is_empty(), "{:?}", t.violations);
    assert_eq!(t.delivered.len(), 1);
}

// ---- a whole transaction ----

#[test]
fn full_transaction() {
    let t = run(
        config(),
        "EHLO client.fabrikam.com\r\nMAIL FROM:<Alice@Fabrikam.com> SIZE=100 BODY=8BITMIME\r\n\
         RCPT TO:<bob@contoso.com>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n\
         Subject: hi\r\n\r\n..stuffed\r\n.\r\nQUIT\r\n",
    );
    assert_eq!(
        replies(&t)[EHLO_LINES..],
        [
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "250 2.1.5 Recipient OK",
            "354 Start mail input; end with <CRLF>.<CRLF>",
            "250 2.0.0 Queued as Q1",
            "221 2.0.0 mx.contoso.com closing connection",
        ]
    );
    assert!(t.closed);
    let (env, msg) = &t.delivered[0];
    assert_eq!(msg, b"Subject: hi\r\n\r\n.stuffed\r\n");
    assert_eq!(env.helo, "client.fabrikam.com");
    assert!(env.esmtp);
    assert_eq!(env.mail_from.to_string(), "Alice@fabrikam.com");
    assert_eq!(env.params.size, Some(100));
    assert_eq!(env.params.body, Some(Body::EightBitMime));
    let rcpts: Vec<String> = env.rcpt_to.iter().map(ToString::to_string).collect();
    assert_eq!(rcpts, ["bob@contoso.com", "postmaster@mx.contoso.com"]);
    assert_eq!(env.tls, None);
}

#[test]
fn null_sender_and_two_transactions_per_connection() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<>\r\nRCPT TO:<a@contoso.com>\r\nDATA\r\nx\r\n.\r\n\
         MAIL FROM:<b@fabrikam.com>\r\nRCPT TO:<c@contoso.com>\r\nDATA\r\ny\r\n.\r\n",
    );
    assert_eq!(t.delivered.len(), 2);
    assert_eq!(t.delivered[0].0.mail_from, ReversePath::Null);
    assert_eq!(
        t.delivered[1].0.rcpt_to.len(),
        1,
        "no recipient carried over"
    );
    assert_eq!(t.delivered[1].1, b"y\r\n");
}

/// RFC 6531: UTF-8 addresses only in a transaction that asked for
/// SMTPUTF8 (553 5.6.7 otherwise, sender and recipient); the flag is in the
/// envelope; it does not outlive its transaction; HELO clients cannot ask.
#[test]
fn smtputf8_transactions() {
    let t = run(
        config(),
        "EHLO c.example\r\n\
         MAIL FROM:<jürgen@bücher.example>\r\n\
         MAIL FROM:<alice@fabrikam.com>\r\n\
         RCPT TO:<jörg@contoso.com>\r\n\
         RSET\r\n\
         MAIL FROM:<jürgen@bücher.example> SMTPUTF8\r\n\
         RCPT TO:<jörg@contoso.com>\r\n\
         RCPT TO:<bob@contoso.com>\r\n\
         DATA\r\nSubject: Grüße\r\n\r\nhi\r\n.\r\n\
         MAIL FROM:<alice@fabrikam.com>\r\n\
         RCPT TO:<jörg@contoso.com>\r\n\
         HELO c.example\r\n\
         MAIL FROM:<alice@fabrikam.com> SMTPUTF8\r\n",
    );
    let r = replies(&t);
    assert_eq!(
        r[EHLO_LINES..],
        [
            "553 5.6.7 Non-ASCII sender address requires the SMTPUTF8 parameter of MAIL",
            "250 2.1.0 Sender OK",
            "553 5.6.7 Non-ASCII recipient address requires the SMTPUTF8 parameter of MAIL",
            "250 2.0.0 OK",
            "250 2.1.0 Sender OK",
            "250 2.1.5 Recipient OK",
            "250 2.1.5 Recipient OK",
            "354 Start mail input; end with <CRLF>.<CRLF>",
            "250 2.0.0 Queued as Q1",
            "250 2.1.0 Sender OK",
            "553 5.6.7 Non-ASCII recipient address requires the SMTPUTF8 parameter of MAIL",
            "250 mx.contoso.com",
            "555 5.5.4 MAIL parameters are not allowed after HELO",
        ]
    );
    assert_eq!(t.delivered.len(), 1);
    let (env, msg) = &t.delivered[0];
    assert!(env.params.smtputf8);
    assert_eq!(env.mail_from.to_string(), "jürgen@bücher.example");
    let rcpts: Vec<String> = env.rcpt_to.iter().map(ToString::to_string).collect();
    assert_eq!(rcpts, ["jörg@contoso.com", "bob@contoso.com"]);
    assert_eq!(msg, "Subject: Grüße\r\n\r\nhi\r\n".as_bytes());
}

// ---- sequencing ----

#[test]
fn wrong_sequence_is_503() {
    let t = run(
        config(),
        "MAIL FROM:<a@b.example>\r\nSTARTTLS\r\nEHLO c.example\r\nRCPT TO:<a@contoso.com>\r\nDATA\r\n\
         MAIL FROM:<a@b.example>\r\nMAIL FROM:<a@b.example>\r\nDATA\r\n",
    );
    let r = replies(&t);
    assert_eq!(r[0], "503 5.5.1 Send EHLO/HELO first");
    assert_eq!(r[1], "503 5.5.1 Send EHLO first");
    assert_eq!(r[2 + EHLO_LINES], "503 5.5.1 Need MAIL before RCPT");
    assert_eq!(r[2 + EHLO_LINES + 1], "503 5.5.1 Need MAIL command");
    assert_eq!(r[2 + EHLO_LINES + 2], "250 2.1.0 Sender OK");
    assert_eq!(r[2 + EHLO_LINES + 3], "503 5.5.1 Sender already specified");
    assert_eq!(
        r[2 + EHLO_LINES + 4],
        "503 5.5.1 Need RCPT command (no valid recipients)"
    );
}

#[test]
fn rset_and_ehlo_reset_the_transaction() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@contoso.com>\r\nRSET\r\nDATA\r\n\
         MAIL FROM:<a@b.example>\r\nEHLO c.example\r\nRCPT TO:<x@contoso.com>\r\n",
    );
    let r = replies(&t);
    assert!(r.contains(&"250 2.0.0 OK"));
    assert!(r.contains(&"503 5.5.1 Need MAIL command"));
    assert_eq!(r.last(), Some(&"503 5.5.1 Need MAIL before RCPT"));
}

#[test]
fn other_commands() {
    let t = run(
        config(),
        "NOOP\r\nVRFY bob\r\nEXPN staff\r\nHELP\r\nFOO bar\r\nQUIT\r\nNOOP\r\n",
    );
    assert_eq!(
        replies(&t),
        [
            "250 2.0.0 OK",
            "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery",
            "502 5.5.1 EXPN not available",
            "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
            "214 2.0.0 End of HELP info",
            "500 5.5.1 Command unrecognized",
            "221 2.0.0 mx.contoso.com closing connection",
        ]
    );
    assert!(t.closed, "nothing after QUIT is answered");
}

#[test]
fn syntax_errors_have_their_own_replies() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:alice@b.example\r\nMAIL FROM:<a@b.example> FOO=1\r\n\
         MAIL FROM:<a@b.example>\r\nRCPT TO:<a b@contoso.com>\r\nDATA now\r\n",
    );
    let r = replies(&t);
    assert!(r[EHLO_LINES].starts_with("501 5.1.7 "), "{}", r[EHLO_LINES]);
    assert_eq!(r[EHLO_LINES + 1], "555 5.5.4 Parameter FOO not recognized");
    assert!(
        r[EHLO_LINES + 3].starts_with("501 5.1.3 "),
        "{}",
        r[EHLO_LINES + 3]
    );
    assert_eq!(
        r[EHLO_LINES + 4],
        "501 5.5.4 Syntax error: no parameters allowed"
    );
}

// ---- policy ----

#[test]
fn policy_rejections() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<bad@b.example>\r\nRCPT TO:<a@contoso.com>\r\n\
         MAIL FROM:<ok@b.example>\r\nRCPT TO:<bad@contoso.com>\r\nDATA\r\nRCPT TO:<good@contoso.com>\r\nDATA\r\nm\r\n.\r\n",
    );
    let r = replies(&t);
    assert_eq!(
        r[EHLO_LINES..],
        [
            "550 5.7.1 Sender refused",
            "503 5.5.1 Need MAIL before RCPT",
            "250 2.1.0 Sender OK",
            "550 5.7.1 Relay denied",
            "503 5.5.1 Need RCPT command (no valid recipients)",
            "250 2.1.5 Recipient OK",
            "354 Start mail input; end with <CRLF>.<CRLF>",
            "250 2.0.0 Queued as Q1",
        ]
    );
    assert_eq!(t.delivered[0].0.rcpt_to.len(), 1);
}

#[test]
fn decide_api() {
    let mut s = Session::new(Arc::new(config()), None);
    assert_eq!(
        s.decide(Verdict::Accept),
        Err(SessionError::NoDecisionPending)
    );
    s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\n");
    assert!(matches!(s.poll(), Action::CheckMail { .. }));
    assert_eq!(s.poll(), Action::AwaitingDecision);
    assert_eq!(
        s.decide(Verdict::Reject(Reply::new(250, (2, 0, 0), "no"))),
        Err(SessionError::InconsistentVerdict)
    );
    assert_eq!(
        s.decide(Verdict::AcceptWith(Reply::new(550, (5, 0, 0), "no"))),
        Err(SessionError::InconsistentVerdict)
    );
    s.decide(Verdict::Accept).expect("accept");
    assert_eq!(
        s.sender().map(ToString::to_string),
        Some("a@b.example".into())
    );
    // A 421 verdict closes the session.
    assert!(matches!(s.poll(), Action::CheckRcpt { .. }));
    s.decide(Verdict::Reject(Reply::new(421, (4, 7, 0), "go away")))
        .expect("reject");
    assert_eq!(s.poll(), Action::Close);
    assert!(s.is_closed());
    assert!(String::from_utf8_lossy(&s.take_output()).ends_with("421 4.7.0 go away\r\n"));
}

#[test]
fn deliver_rejection_resets_the_transaction() {
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\nhi\r\n.\r\nRCPT TO:<r@contoso.com>\r\n");
    loop {
        match s.poll() {
            Action::Deliver { .. } => break,
            Action::MessageData(_) => {}
            Action::NeedInput => panic!("stalled"),
            _ => s.decide(Verdict::Accept).expect("accept"),
        }
    }
    s.take_output();
    s.decide(Verdict::Reject(Reply::new(
        451,
        (4, 3, 0),
        "Queue unavailable",
    )))
    .expect("reject");
    assert_eq!(s.poll(), Action::NeedInput);
    assert_eq!(
        String::from_utf8_lossy(&s.take_output()),
        "451 4.3.0 Queue unavailable\r\n503 5.5.1 Need MAIL before RCPT\r\n"
    );
}

#[test]
fn abort_sends_a_final_reply() {
    let mut s = Session::new(Arc::new(config()), None);
    s.take_output();
    s.abort(&Reply::new(
        421,
        (4, 4, 2),
        "mx.contoso.com timeout exceeded",
    ));
    s.feed(b"NOOP\r\n");
    assert_eq!(s.poll(), Action::Close);
    assert_eq!(
        s.take_output(),
        b"421 4.4.2 mx.contoso.com timeout exceeded\r\n"
    );
}

// ---- limits ----

#[test]
fn too_many_recipients() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r1@contoso.com>\r\nRCPT TO:<r2@contoso.com>\r\n\
         RCPT TO:<r3@contoso.com>\r\nRCPT TO:<r4@contoso.com>\r\n",
    );
    assert_eq!(replies(&t).last(), Some(&"452 4.5.3 Too many recipients"));
    assert_eq!(t.log.iter().filter(|l| l.starts_with("RCPT")).count(), 3);
}

#[test]
fn declared_size_above_max() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@b.example> SIZE=10001\r\nMAIL FROM:<a@b.example> SIZE=10000\r\n",
    );
    let r = replies(&t);
    assert_eq!(
        r[EHLO_LINES],
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(r[EHLO_LINES + 1], "250 2.1.0 Sender OK");
}

#[test]
fn message_above_max_is_refused_after_the_end() {
    let body = "x".repeat(900) + "\r\n";
    let input = format!(
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n{}.\r\nNOOP\r\n",
        body.repeat(20)
    );
    let t = run(config(), &input);
    let r = replies(&t);
    assert_eq!(
        r[r.len() - 2],
        "552 5.3.4 Message size exceeds fixed maximum message size"
    );
    assert_eq!(r[r.len() - 1], "250 2.0.0 OK");
    assert!(t.delivered.is_empty());
}

#[test]
fn long_text_line_refuses_the_message() {
    let input = format!(
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n{}\r\n.\r\n",
        "x".repeat(999)
    );
    let t = run(config(), &input);
    assert!(
        replies(&t)
            .last()
            .is_some_and(|l| l.starts_with("500 5.5.6 "))
    );
    assert!(t.delivered.is_empty());
}

#[test]
fn long_command_line_is_discarded_and_answered_once() {
    let long = format!("NOOP {}\r\n", "y".repeat(2000));
    let exact = format!("NOOP {}\r\n", "y".repeat(505));
    let input = format!("{long}{exact}HELP\r\n");
    for chunk in [1, 7, 100, 511, 512, 513, 4096] {
        let t = drive(config(), input.as_bytes(), &mut || chunk);
        assert_eq!(
            replies(&t),
            [
                "500 5.5.2 Line too long",
                "250 2.0.0 OK",
                "214-2.0.0 Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS",
                "214 2.0.0 End of HELP info",
            ],
            "chunk {chunk}"
        );
    }
}

#[test]
fn bare_lf_command_line() {
    let t = run(config(), "NOOP\nNOOP\r\n");
    assert_eq!(
        replies(&t),
        ["500 5.5.2 Bare LF in command line", "250 2.0.0 OK"]
    );
}

#[test]
fn too_many_errors_close_the_session() {
    let mut c = config();
    c.max_errors = 3;
    let t = run(c, "A\r\nB\r\nNOOP\r\nC\r\nNOOP\r\n");
    assert_eq!(
        replies(&t),
        [
            "500 5.5.1 Command unrecognized",
            "500 5.5.1 Command unrecognized",
            "250 2.0.0 OK",
            "500 5.5.1 Command unrecognized",
            "421 4.7.0 mx.contoso.com Too many errors, closing connection",
        ]
    );
    assert!(t.closed);
}

// ---- pipelining ----

#[test]
fn pipelined_commands_stop_at_each_decision() {
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n");
    assert!(matches!(s.poll(), Action::CheckMail { .. }));
    let out = String::from_utf8_lossy(&s.take_output()).into_owned();
    assert!(
        out.ends_with("250 STARTTLS\r\n"),
        "only replies before MAIL: {out}"
    );
    s.decide(Verdict::Accept).expect("mail");
    assert!(matches!(s.poll(), Action::CheckRcpt { .. }));
    s.decide(Verdict::Accept).expect("rcpt");
    assert_eq!(s.poll(), Action::NeedInput);
    assert_eq!(
        s.take_output(),
        b"250 2.1.0 Sender OK\r\n250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>\r\n"
    );
    assert_eq!(s.recipients().len(), 1);
    // Message and the next commands in one segment.
    s.feed(b"hello\r\n.\r\nMAIL FROM:<c@b.example>\r\nQUIT\r\n");
    assert_eq!(s.poll(), Action::MessageData(b"hello\r\n".to_vec()));
    assert!(matches!(s.poll(), Action::Deliver { .. }));
    assert!(!s.has_output(), "no 250 before the message is durable");
    s.decide(Verdict::Accept).expect("deliver");
    assert!(matches!(s.poll(), Action::CheckMail { .. }));
    s.decide(Verdict::Accept).expect("mail");
    assert_eq!(s.poll(), Action::Close);
    assert_eq!(
        s.take_output(),
        b"250 2.0.0 Message accepted for delivery\r\n250 2.1.0 Sender OK\r\n221 2.0.0 mx.contoso.com closing connection\r\n"
    );
}

// ---- STARTTLS ----

#[test]
fn starttls_discards_injected_plaintext() {
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(
        b"EHLO c.example\r\nSTARTTLS\r\nMAIL FROM:<evil@b.example>\r\nRCPT TO:<x@contoso.com>\r\n",
    );
    let injected = "MAIL FROM:<evil@b.example>\r\nRCPT TO:<x@contoso.com>\r\n".len();
    assert_eq!(
        s.poll(),
        Action::StartTls {
            discarded: injected
        }
    );
    let out = String::from_utf8_lossy(&s.take_output()).into_owned();
    assert!(
        out.ends_with("250 STARTTLS\r\n220 2.0.0 Ready to start TLS\r\n"),
        "{out}"
    );
    // Bytes arriving before the handshake are dropped too.
    s.feed(b"DATA\r\n");
    assert_eq!(
        s.poll(),
        Action::StartTls {
            discarded: injected + 6
        }
    );
    let mut s = s.into_tls(tls_facts()).expect("into_tls");
    assert_eq!(s.poll(), Action::NeedInput);
    assert!(!s.has_output(), "no second greeting after STARTTLS");
    assert_eq!(s.helo(), None);
    assert!(s.tls().is_some());
    // EHLO is required again, and STARTTLS is no longer offered.
    s.feed(b"MAIL FROM:<a@b.example>\r\nEHLO c.example\r\nSTARTTLS\r\n");
    assert_eq!(s.poll(), Action::NeedInput);
    let out = String::from_utf8_lossy(&s.take_output()).into_owned();
    assert!(
        out.starts_with("503 5.5.1 Send EHLO/HELO first\r\n"),
        "{out}"
    );
    assert!(!out.contains("STARTTLS\r\n250"));
    // After TLS, REQUIRETLS (RFC 8689 2) ends the list.
    assert!(out.contains("250-BINARYMIME\r\n250 REQUIRETLS\r\n"));
    assert!(out.ends_with("503 5.5.1 TLS already active\r\n"));
}

#[test]
fn starttls_mid_transaction_drops_the_envelope() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n",
    );
    assert_eq!(
        t.log.last().map(String::as_str),
        Some("STARTTLS discarded=0")
    );
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n");
    assert!(matches!(s.poll(), Action::CheckMail { .. }));
    s.decide(Verdict::Accept).expect("mail");
    s.feed(b"STARTTLS\r\n");
    assert!(matches!(s.poll(), Action::StartTls { .. }));
    s.take_output();
    let mut s = s.into_tls(tls_facts()).expect("tls");
    assert_eq!(s.sender(), None);
    s.feed(b"EHLO c.example\r\nRCPT TO:<r@contoso.com>\r\n");
    s.poll();
    assert!(
        String::from_utf8_lossy(&s.take_output()).ends_with("503 5.5.1 Need MAIL before RCPT\r\n")
    );
}

#[test]
fn into_tls_misuse() {
    let s = Session::new(Arc::new(config()), None);
    assert_eq!(
        s.into_tls(tls_facts()).err(),
        Some(SessionError::NotAwaitingTls)
    );
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(b"EHLO c.example\r\nSTARTTLS\r\n");
    assert!(matches!(s.poll(), Action::StartTls { .. }));
    assert_eq!(
        s.into_tls(tls_facts()).err(),
        Some(SessionError::UnflushedOutput)
    );
}

#[test]
fn starttls_not_offered() {
    let mut c = config();
    c.offer_starttls = false;
    let t = run(c, "EHLO c.example\r\nSTARTTLS\r\nNOOP\r\n");
    let r = replies(&t);
    assert_eq!(r[r.len() - 2], "502 5.5.1 STARTTLS not available");
    assert_eq!(r[r.len() - 1], "250 2.0.0 OK");
}

#[test]
fn require_tls() {
    let mut c = config();
    c.require_tls = true;
    let t = run(
        c,
        "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nSTARTTLS\r\n[[TLS]]EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n\
         RCPT TO:<r@contoso.com>\r\nDATA\r\nx\r\n.\r\n",
    );
    let r = replies(&t);
    assert_eq!(
        r[EHLO_LINES],
        "530 5.7.0 Must issue a STARTTLS command first"
    );
    assert_eq!(r[EHLO_LINES + 1], "220 2.0.0 Ready to start TLS");
    assert_eq!(t.delivered.len(), 1);
    assert_eq!(t.delivered[0].0.tls, Some(tls_facts()));
}

/// RFC 8689 2: REQUIRETLS is advertised only in a TLS session; its MAIL
/// parameter before TLS is refused (530 5.7.10), after TLS accepted and
/// handed to the engine; where the connector turns it off it is neither
/// advertised nor accepted (555 5.5.4).
#[test]
fn requiretls_only_after_starttls() {
    let t = run(
        config(),
        "EHLO c.example\r\nMAIL FROM:<a@b.example> REQUIRETLS\r\nSTARTTLS\r\n[[TLS]]EHLO c.example\r\n\
         MAIL FROM:<a@b.example> REQUIRETLS\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\nx\r\n.\r\n",
    );
    let r = replies(&t);
    assert!(!r[..EHLO_LINES].contains(&"250-REQUIRETLS"), "{r:?}");
    assert!(!r[..EHLO_LINES].contains(&"250 REQUIRETLS"), "{r:?}");
    assert_eq!(
        r[EHLO_LINES],
        "530 5.7.10 REQUIRETLS needs a TLS session: issue STARTTLS first"
    );
    assert_eq!(r[EHLO_LINES + 1], "220 2.0.0 Ready to start TLS");
    assert!(r[EHLO_LINES + 2..].contains(&"250 REQUIRETLS"), "{r:?}");
    assert_eq!(t.delivered.len(), 1);
    assert!(t.delivered[0].0.params.requiretls);
    assert!(t.delivered[0].0.tls.is_some());

    let mut c = config();
    c.requiretls = false;
    let t = run(
        c,
        "EHLO c.example\r\nSTARTTLS\r\n[[TLS]]EHLO c.example\r\nMAIL FROM:<a@b.example> REQUIRETLS\r\n",
    );
    assert!(!t.output.contains("REQUIRETLS\r\n"), "{}", t.output);
    assert!(
        t.output
            .ends_with("555 5.5.4 REQUIRETLS is not supported here\r\n"),
        "{}",
        t.output
    );
}

#[test]
fn implicit_tls_session() {
    let s = Session::new(Arc::new(config()), Some(tls_facts()));
    let t_out = {
        let mut s = s;
        s.feed(HELLO.as_bytes());
        s.poll();
        String::from_utf8_lossy(&s.take_output()).into_owned()
    };
    assert!(t_out.starts_with("220 "));
    assert!(!t_out.contains("STARTTLS"));
}

// ---- DATA smuggling ----

#[test]
fn smuggling_variants_cannot_end_data_or_start_a_transaction() {
    for variant in ["\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\n", "\r\n.\r"] {
        let input = format!(
            "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n\
             Subject: x\r\n\r\nbody{variant}MAIL FROM:<evil@b.example>\r\nRCPT TO:<victim@contoso.com>\r\nDATA\r\n\
             smuggled\r\n.\r\nNOOP\r\n"
        );
        for chunk in [1, 3, 7, 4096] {
            let t = drive(config(), input.as_bytes(), &mut || chunk);
            assert!(t.delivered.is_empty(), "{variant:?}: message accepted");
            assert_eq!(
                t.log.iter().filter(|l| l.starts_with("MAIL")).count(),
                1,
                "{variant:?}: smuggled MAIL reached policy"
            );
            let r = replies(&t);
            assert_eq!(
                r[r.len() - 2..],
                ["550 5.6.11 bare CR or LF in message data", "250 2.0.0 OK"],
                "{variant:?} chunk {chunk}"
            );
        }
    }
}

// ---- BDAT (RFC 3030) ----

const BDAT_TXN: &str = "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\n";

#[test]
fn bdat_chunks_are_data_and_pipelined_commands_after_them_are_read() {
    // Chunk octets that look like an end of data, commands and a new
    // transaction are message content; the NOOP after the last chunk is
    // a command again.
    let c1 = "Subject: x\r\n\r\nline\r\n.\r\nQUIT\r\n";
    let c2 = "MAIL FROM:<evil@b.example>\r\nRCPT TO:<v@contoso.com>\r\nDATA\r\n.\r\n";
    let input = format!(
        "{BDAT_TXN}BDAT {} \r\n{c1}BDAT {} LAST\r\n{c2}NOOP\r\nBDAT 0 LAST\r\nQUIT\r\n",
        c1.len(),
        c2.len()
    );
    for chunk in [1, 2, 5, 13, 4096] {
        let t = drive(config(), input.as_bytes(), &mut || chunk);
        let r = replies(&t);
        assert_eq!(
            r[r.len() - 5..],
            [
                format!("250 2.0.0 {} octets received", c1.len()).as_str(),
                "250 2.0.0 Queued as Q1",
                "250 2.0.0 OK",
                "503 5.5.1 Need MAIL command",
                "221 2.0.0 mx.contoso.com closing connection",
            ],
            "chunk {chunk}"
        );
        assert_eq!(t.delivered.len(), 1);
        assert_eq!(t.delivered[0].1, format!("{c1}{c2}").as_bytes());
        assert_eq!(
            t.log.iter().filter(|l| l.starts_with("MAIL")).count(),
            1,
            "chunk content reached the policy as a command"
        );
        assert!(t.closed);
    }
}

#[test]
fn bdat_with_bare_cr_or_lf_is_refused_whole_and_commands_stay_in_step() {
    // Without BINARYMIME, BDAT content follows DATA's strict-CRLF rule: a
    // bare CR or LF anywhere refuses the message (550 5.6.11) in reply to
    // the chunk it is in; the rest of its chunks are read and discarded.
    for (bad, refused_at) in [
        ("a\nb\r\n", 0),
        ("a\rb\r\n", 0),
        ("ab\r\n\n.\n", 0),
        ("ok\r\n", 1),
    ] {
        let second = if refused_at == 1 { "x\ry" } else { "fine\r\n" };
        let input = format!(
            "{BDAT_TXN}BDAT {} \r\n{bad}BDAT {} LAST\r\n{second}RSET\r\nNOOP\r\n",
            bad.len(),
            second.len()
        );
        for chunk in [1, 3, 4096] {
            let t = drive(config(), input.as_bytes(), &mut || chunk);
            assert!(t.delivered.is_empty(), "{bad:?} delivered");
            assert!(t.log.contains(&"REFUSED".to_string()));
            let r = replies(&t);
            let tail: Vec<&str> = r[r.len() - 4..].to_vec();
            let expect = if refused_at == 0 {
                [
                    "550 5.6.11 bare CR or LF in message data",
                    "503 5.5.1 Need MAIL command",
                    "250 2.0.0 OK",
                    "250 2.0.0 OK",
                ]
            } else {
                [
                    "250 2.0.0 4 octets received",
                    "550 5.6.11 bare CR or LF in message data",
                    "250 2.0.0 OK",
                    "250 2.0.0 OK",
                ]
            };
            assert_eq!(tail, expect, "{bad:?} chunk {chunk}");
        }
    }
    // A CRLF split across two chunks is a line end; a final bare CR is not.
    let input = format!("{BDAT_TXN}BDAT 3\r\nab\rBDAT 3 LAST\r\n\ncd");
    let t = run(config(), &input);
    assert_eq!(t.delivered[0].1, b"ab\r\ncd");
    let input = format!("{BDAT_TXN}BDAT 3 LAST\r\nab\r");
    let t = run(config(), &input);
    assert!(t.delivered.is_empty());
    assert_eq!(
        replies(&t).last(),
        Some(&"550 5.6.11 bare CR or LF in message data")
    );
    // Text lines are limited as with DATA.
    let long = "x".repeat(999);
    let input = format!("{BDAT_TXN}BDAT 1001 LAST\r\n{long}\r\n");
    assert_eq!(
        replies(&run(config(), &input)).last().map(|l| &l[..9]),
        Some("500 5.5.6")
    );
}

#[test]
fn binarymime_takes_any_octets_and_needs_bdat() {
    let body = b"\x00\xff\n\r\r\n.\r\n\x89PNG";
    let mut input = b"EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n\
        RCPT TO:<r@contoso.com>\r\nDATA\r\n"
        .to_vec();
    input.extend_from_slice(format!("BDAT {} LAST\r\n", body.len()).as_bytes());
    input.extend_from_slice(body);
    input.extend_from_slice(b"QUIT\r\n");
    let t = run_bytes(config(), &input);
    let r = replies(&t);
    assert!(r.contains(&"503 5.5.1 BODY=BINARYMIME requires BDAT, not DATA"));
    assert_eq!(t.delivered[0].1, body);
    assert_eq!(t.delivered[0].0.params.body, Some(Body::BinaryMime));
    // Not offered, not accepted.
    let mut c = config();
    c.binary_mime = false;
    let t = run(
        c,
        "EHLO c.example\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
    );
    assert_eq!(
        replies(&t).last(),
        Some(&"555 5.5.4 BODY=BINARYMIME is not supported here")
    );
}

#[test]
fn bdat_sequence_errors_size_limit_and_disabled_chunking() {
    // DATA after a chunk: 503, the transaction stays; BDAT without a
    // transaction or recipient: 503 and its octets are skipped (the
    // "QUIT" and "RSET" inside them are not executed).
    let input = "EHLO c.example\r\nBDAT 6\r\nQUIT\r\nMAIL FROM:<a@b.example>\r\nBDAT 4\r\nRSET\
         RCPT TO:<r@contoso.com>\r\nBDAT 4\r\nab\r\nDATA\r\nBDAT 4 LAST\r\ncd\r\n";
    let t = run(config(), input);
    let r = replies(&t);
    assert_eq!(
        r[r.len() - 7..],
        [
            "503 5.5.1 Need MAIL command",
            "250 2.1.0 Sender OK",
            "503 5.5.1 Need RCPT command (no valid recipients)",
            "250 2.1.5 Recipient OK",
            "250 2.0.0 4 octets received",
            "503 5.5.1 DATA not allowed after BDAT, use BDAT or RSET",
            "250 2.0.0 Queued as Q1",
        ]
    );
    assert_eq!(t.delivered[0].1, b"ab\r\ncd\r\n");
    assert!(!t.closed);

    // The chunk that passes the limit is refused at once (before its
    // octets arrive), its octets and the next chunk's are discarded.
    let mut c = config();
    c.max_message_size = 10;
    let input = format!("{BDAT_TXN}BDAT 6\r\nabcd\r\nBDAT 6\r\nQUIT\r\nBDAT 2 LAST\r\nx\nNOOP\r\n");
    for chunk in [1, 4096] {
        let t = drive(c.clone(), input.as_bytes(), &mut || chunk);
        let r = replies(&t);
        assert_eq!(
            r[r.len() - 4..],
            [
                "250 2.0.0 6 octets received",
                "552 5.3.4 Message size exceeds fixed maximum message size",
                "503 5.5.1 Need MAIL command",
                "250 2.0.0 OK",
            ]
        );
        assert!(t.log.contains(&"REFUSED".to_string()));
        assert!(t.delivered.is_empty() && !t.closed);
    }
    // Refused before the chunk is sent: the reply is out while the
    // session still waits for the octets.
    let mut s = Session::new(Arc::new(c.clone()), None);
    s.feed(format!("{BDAT_TXN}BDAT 1000000 LAST\r\n").as_bytes());
    for _ in 0..10 {
        match s.poll() {
            Action::NeedInput => break,
            _ => s.decide(Verdict::Accept).expect("decide"),
        }
    }
    let out = String::from_utf8_lossy(&s.take_output()).to_string();
    assert!(out.ends_with("552 5.3.4 Message size exceeds fixed maximum message size\r\n"));

    // An unreadable chunk size closes the session: what follows is never
    // read as commands.
    let t = run(config(), &format!("{BDAT_TXN}BDAT 12x\r\nQUIT\r\n"));
    assert_eq!(
        replies(&t).last(),
        Some(&"501 5.5.4 Syntax: BDAT <chunk-size> [LAST]; closing connection")
    );
    assert!(t.closed);

    // ChunkingEnabled false: 502, the octets are still skipped.
    let mut c = config();
    c.chunking = false;
    let t = run(c, &format!("{BDAT_TXN}BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n"));
    let r = replies(&t);
    assert_eq!(
        r[r.len() - 2..],
        ["502 5.5.1 BDAT not available", "250 2.0.0 OK"]
    );
}

#[test]
fn bdat_abandoned_by_rset_or_starttls_is_announced() {
    // Chunks handed out, then RSET: the server must discard them.
    let input = format!("{BDAT_TXN}BDAT 4\r\nab\r\nRSET\r\n");
    let t = run(config(), &input);
    assert_eq!(t.log.last(), Some(&"REFUSED".to_string()));
    // STARTTLS after a chunk: MessageRefused first, then StartTls, and a
    // BDAT pipelined after STARTTLS in plaintext is discarded unread.
    let input = format!(
        "{BDAT_TXN}BDAT 4\r\nab\r\nSTARTTLS\r\nBDAT 5 LAST\r\nQUIT\r\n{TLS}EHLO c.example\r\nNOOP\r\n"
    );
    let t = run(config(), &input);
    let at = t.log.iter().position(|l| l == "REFUSED").expect("refused");
    assert_eq!(t.log[at + 1], "STARTTLS discarded=19");
    assert!(t.delivered.is_empty() && !t.closed);
    assert_eq!(replies(&t).last(), Some(&"250 2.0.0 OK"));
}

#[test]
fn bdat_last_is_answered_only_after_the_verdict() {
    // Durable before the final reply: nothing is queued for the client
    // between the last chunk and the server's decision.
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(format!("{BDAT_TXN}BDAT 4\r\nab\r\nBDAT 2 LAST\r\ncd").as_bytes());
    let mut data = Vec::new();
    let envelope = loop {
        match s.poll() {
            Action::MessageData(d) => data.extend_from_slice(&d),
            Action::Deliver { envelope } => break envelope,
            Action::NeedInput => panic!("all input was fed"),
            _ => s.decide(Verdict::Accept).expect("decide"),
        }
    };
    assert_eq!(data, b"ab\r\ncd");
    assert_eq!(envelope.rcpt_to.len(), 1);
    let out = String::from_utf8_lossy(&s.take_output()).to_string();
    assert!(out.ends_with("250 2.0.0 4 octets received\r\n"), "{out}");
    assert_eq!(s.poll(), Action::AwaitingDecision);
    assert!(!s.has_output());
    let queued = Reply::new(250, (2, 0, 0), "Queued as X1");
    s.decide(Verdict::AcceptWith(queued)).expect("decide");
    assert_eq!(s.take_output(), b"250 2.0.0 Queued as X1\r\n");
    // A failed commit (451) ends the transaction: BDAT is 503 again.
    s.feed(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nBDAT 1 LAST\r\nx");
    loop {
        match s.poll() {
            Action::Deliver { .. } => break,
            Action::MessageData(_) => {}
            Action::NeedInput => panic!("all input was fed"),
            _ => s.decide(Verdict::Accept).expect("decide"),
        }
    }
    let fail = Reply::new(451, (4, 3, 0), "queue unavailable");
    s.decide(Verdict::Reject(fail)).expect("decide");
    s.feed(b"BDAT 0 LAST\r\n");
    assert_eq!(s.poll(), Action::NeedInput);
    let out = String::from_utf8_lossy(&s.take_output()).to_string();
    assert!(
        out.ends_with("451 4.3.0 queue unavailable\r\n503 5.5.1 Need MAIL command\r\n"),
        "{out}"
    );
}

#[test]
fn large_bdat_chunks_are_handed_out_in_bounded_pieces() {
    let mut c = config();
    c.max_message_size = 1 << 20;
    let line = format!("{}\r\n", "y".repeat(98));
    let body = line.repeat(3000); // 300 000 octets
    let input = format!("{BDAT_TXN}BDAT {} LAST\r\n{body}QUIT\r\n", body.len());
    let mut pieces = 0;
    let mut s = Session::new(Arc::new(c), None);
    s.feed(input.as_bytes());
    let mut got = Vec::new();
    for _ in 0..1000 {
        match s.poll() {
            Action::MessageData(d) => {
                assert!(d.len() <= DATA_CHUNK);
                assert!(s.buffered() <= input.len());
                pieces += 1;
                got.extend_from_slice(&d);
            }
            Action::Close => break,
            Action::NeedInput => panic!("all input was fed"),
            _ => s.decide(Verdict::Accept).expect("decide"),
        }
    }
    assert_eq!(got, body.as_bytes());
    assert!(pieces >= 5, "{pieces} pieces");
}

// ---- chunk-boundary invariance ----

fn rich_script() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(
        b"EHLO client.fabrikam.com\r\nMAIL FROM:<alice@fabrikam.com> SIZE=50 BODY=8BITMIME\r\n\
          RCPT TO:<bob@contoso.com>\r\nRCPT TO:<bad@contoso.com>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n\
          Subject: test\r\n\r\n..dot line\r\n.\r.\r\n\r\nend\r\n.\r\n\
          NOOP\r\nVRFY x\r\nBOGUS\r\nMAIL FROM:<>\r\nRCPT TO:<c@contoso.com>\r\nDATA\r\n",
    );
    s.extend_from_slice(format!("{}\r\n", "L".repeat(300)).as_bytes());
    s.extend_from_slice(b"bare\nlf\r\n.\r\n");
    s.extend_from_slice(format!("NOOP {}\r\n", "z".repeat(700)).as_bytes());
    s.extend_from_slice(
        b"MAIL FROM:<d@fabrikam.com>\r\nRCPT TO:<e@contoso.com>\r\nDATA\r\nok\r\n.\r\n\
          STARTTLS\r\nMAIL FROM:<injected@evil.example>\r\n[[TLS]]EHLO c.example\r\n\
          MAIL FROM:<f@fabrikam.com>\r\nRCPT TO:<g@contoso.com>\r\nDATA\r\nover tls\r\n.\r\n\
          MAIL FROM:<h@fabrikam.com>\r\nRCPT TO:<i@contoso.com>\r\nBDAT 8\r\nline\r\n.\r\
          BDAT 13 LAST\r\n\nQUIT\r\nRSET\r\n\
          MAIL FROM:<j@fabrikam.com>\r\nRCPT TO:<k@contoso.com>\r\nBDAT 3\r\na\nb\
          BDAT 0 LAST\r\nQUIT\r\n",
    );
    s
}

#[test]
fn every_split_point_gives_the_same_transcript() {
    let input = rich_script();
    let whole = run_bytes(config(), &input);
    assert_eq!(whole.delivered.len(), 3);
    assert_eq!(whole.delivered[2].1, b"line\r\n.\r\nQUIT\r\nRSET\r\n");
    assert!(
        whole
            .log
            .iter()
            .any(|l| l.starts_with("STARTTLS discarded="))
    );
    for cut in 0..=input.len() {
        let mut first = true;
        let t = drive(config(), &input, &mut || {
            if std::mem::take(&mut first) {
                cut
            } else {
                usize::MAX
            }
        });
        // A zero-length first chunk is fed as one byte by `drive`; that is
        // just another split point.
        assert_eq!(t, whole, "split at {cut}");
    }
}

#[test]
fn random_chunkings_give_the_same_transcript() {
    let input = rich_script();
    let whole = run_bytes(config(), &input);
    for seed in 0..300 {
        let mut rng = XorShift::new(seed);
        let max = [2, 5, 17, 64, 700][seed as usize % 5];
        let t = drive(config(), &input, &mut || 1 + rng.below(max));
        assert_eq!(t, whole, "seed {seed}");
    }
}

#[test]
fn byte_at_a_time() {
    let input = rich_script();
    assert_eq!(
        drive(config(), &input, &mut || 1),
        run_bytes(config(), &input)
    );
}

// ---- fuzzing ----

const TOKENS: &[&[u8]] = &[
    b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\nhello\r\n",
    b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n",
    b"EHLO c.example\r\n",
    b"HELO c\r\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"MAIL FROM:<> SIZE=100\r\n",
    b"RCPT TO:<r@contoso.com>\r\n",
    b"RCPT TO:<x@contoso.com>\r\n",
    b"RCPT TO:<Postmaster>\r\n",
    b"DATA\r\n",
    b"BDAT 5\r\n",
    b"BDAT 0 LAST\r\n",
    b"BDAT 7 LAST\r\n",
    b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
    // SMTPUTF8 (RFC 6531): with and without the parameter.
    "MAIL FROM:<jürgen@bücher.example> SMTPUTF8\r\n".as_bytes(),
    "MAIL FROM:<jürgen@bücher.example>\r\n".as_bytes(),
    b"MAIL FROM:<a@b.example> SMTPUTF8\r\n",
    "RCPT TO:<jörg@xn--bcher-kva.example>\r\n".as_bytes(),
    "RCPT TO:<\"ö x\"@münchen.de>\r\n".as_bytes(),
    b"RCPT TO:<j\xc3@b.example>\r\n",
    b"RSET\r\n",
    b"STARTTLS\r\n",
    b"QUIT\r\n",
    b"NOOP\r\n",
    b"\r\n.\r\n",
    b".\r\n",
    b"..\r\n",
    b"\n.\n",
    b"\r.\r\n",
    b"\r\n.\n",
    b"\r",
    b"\n",
    b"body text ",
    b"\0",
    b"\xff\xfe",
    b"<>",
];

fn pseudo_random_input(rng: &mut XorShift) -> Vec<u8> {
    let mut v = vec![(rng.next_u64() & 0xff) as u8, (rng.next_u64() & 0xff) as u8];
    let n = rng.below(40);
    for _ in 0..n {
        match rng.below(4) {
            0 => {
                let len = rng.below(16);
                v.extend((0..len).map(|_| (rng.next_u64() & 0xff) as u8));
            }
            1 => v.extend(std::iter::repeat_n(b'a', rng.below(1200))),
            _ => v.extend_from_slice(TOKENS[rng.below(TOKENS.len())]),
        }
    }
    v
}

#[test]
fn fuzz_session_survives_pseudo_random_input() {
    let mut rng = XorShift::new(0x5eed);
    let mut delivered = 0;
    for i in 0..3000 {
        let input = pseudo_random_input(&mut rng);
        let t = fuzz_session(&input);
        assert!(
            t.violations.is_empty(),
            "case {i}: {:?} for {input:?}",
            t.violations
        );
        delivered += t.delivered.len();
    }
    // The generator does reach the delivery path.
    assert!(delivered > 10, "only {delivered} deliveries");
}

#[test]
fn fuzz_session_on_raw_bytes_and_edge_cases() {
    assert!(fuzz_session(b"").violations.is_empty());
    assert!(fuzz_session(b"\x01").violations.is_empty());
    let mut rng = XorShift::new(7);
    for _ in 0..1000 {
        let len = rng.below(300);
        let input: Vec<u8> = (0..len).map(|_| (rng.next_u64() & 0xff) as u8).collect();
        assert!(fuzz_session(&input).violations.is_empty());
    }
}

/// A message far larger than a chunk, fed in pieces of every size the
/// driver might use: the session never hands out more than DATA_CHUNK nor
/// holds more than DATA_CHUNK plus one fed piece; the chunks concatenate to
/// the message.
#[test]
fn large_messages_are_handed_out_in_bounded_chunks() {
    let mut c = config();
    c.max_message_size = 4 * 1024 * 1024;
    let line = format!("..{}\r\n", "z".repeat(70));
    let body = line.repeat(30_000); // about 2.2 MB on the wire
    let expected: Vec<u8> = body.replace("\r\n..", "\r\n.").into_bytes();
    let expected = [&b"."[..], &expected[2..]].concat();
    for piece in [1usize, 7, 1000, 16 * 1024, 100_000, 3_000_000] {
        let mut s = Session::new(Arc::new(c.clone()), None);
        s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\n");
        let mut input = body.as_bytes().to_vec();
        input.extend_from_slice(b".\r\nQUIT\r\n");
        let mut at = 0;
        let mut got = Vec::new();
        let mut delivered = false;
        for _ in 0..10_000_000 {
            match s.poll() {
                Action::NeedInput => {
                    assert!(at < input.len(), "stalled");
                    let end = (at + piece).min(input.len());
                    s.feed(&input[at..end]);
                    at = end;
                }
                Action::MessageData(chunk) => {
                    assert!(!chunk.is_empty() && chunk.len() <= DATA_CHUNK);
                    got.extend_from_slice(&chunk);
                }
                Action::Deliver { .. } => {
                    delivered = true;
                    s.decide(Verdict::Accept).expect("deliver");
                }
                Action::Close => break,
                Action::MessageRefused => panic!("refused"),
                _ => s.decide(Verdict::Accept).expect("accept"),
            }
            assert!(
                s.buffered() <= DATA_CHUNK + piece.max(64),
                "{} octets held with pieces of {piece}",
                s.buffered()
            );
        }
        assert!(delivered, "pieces of {piece}");
        assert_eq!(got.len(), expected.len(), "pieces of {piece}");
        assert!(got == expected, "pieces of {piece}");
    }
}

#[test]
fn a_refused_message_is_announced_after_its_chunks() {
    let mut s = Session::new(Arc::new(config()), None);
    s.feed(b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<r@contoso.com>\r\nDATA\r\nbad\nline\r\n.\r\nNOOP\r\n");
    let mut actions = Vec::new();
    for _ in 0..100 {
        match s.poll() {
            Action::NeedInput | Action::Close => break,
            a @ (Action::CheckMail { .. } | Action::CheckRcpt { .. }) => {
                actions.push(format!("{a:?}").chars().take(9).collect::<String>());
                s.decide(Verdict::Accept).expect("accept");
            }
            a => actions.push(format!("{a:?}")),
        }
    }
    assert_eq!(actions.last().map(String::as_str), Some("MessageRefused"));
    assert!(!actions.iter().any(|a| a.starts_with("Deliver")));
    let out = String::from_utf8_lossy(&s.take_output()).into_owned();
    assert!(
        out.ends_with("550 5.6.11 bare CR or LF in message data\r\n250 2.0.0 OK\r\n"),
        "{out}"
    );
}

#[test]
fn the_server_transcript_has_commands_and_replies_but_not_the_message() {
    let mut s = Session::new(Arc::new(config()), None);
    s.record_transcript();
    s.feed(b"EHLO client.fabrikam.com\r\nMAIL FROM:<a@fabrikam.com>\r\n");
    let mut queued = 0;
    let mut input: Vec<&[u8]> = vec![
        b"RCPT TO:<b@contoso.com>\r\n",
        b"DATA\r\n",
        b"Subject: s\r\n\r\nSECRET-BODY-LINE\r\n.\r\n",
        b"AUTH PLAIN AHVzZXIAcGFzcw==\r\nQUIT\r\n",
    ];
    input.reverse();
    for _ in 0..1000 {
        let action = s.poll();
        s.take_output();
        match action {
            Action::NeedInput => match input.pop() {
                Some(b) => s.feed(b),
                None => break,
            },
            Action::Close => break,
            Action::MessageData(_) | Action::MessageRefused => {}
            other => {
                let v = policy(&other, &mut queued);
                s.decide(v).expect("decide");
            }
        }
    }
    let lines: Vec<String> = s
        .take_transcript()
        .into_iter()
        .map(|l| format!("{:?} {}", l.direction, l.text))
        .collect();
    let all = lines.join("\n");
    assert_eq!(
        lines[0], "Sent 220 mx.contoso.com ESMTP xshell-transport ready",
        "{all}"
    );
    assert!(all.contains("Received EHLO client.fabrikam.com"), "{all}");
    assert!(all.contains("Sent 250-PIPELINING"), "{all}");
    assert!(all.contains("Received DATA\nSent 354"), "{all}");
    assert!(!all.contains("SECRET-BODY-LINE"), "{all}");
    assert!(!all.contains("AHVzZXIAcGFzcw"), "{all}");
    assert!(all.contains("Received AUTH PLAIN ****"), "{all}");
    assert!(all.contains("Received QUIT"), "{all}");
}
