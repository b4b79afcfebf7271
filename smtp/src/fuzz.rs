//! A driver for fuzzing the server session (DATA and BDAT chunks alike,
//! SMTPUTF8 addresses with and without the parameter):
//! arbitrary input in, the
//! session's output and delivered messages out, with every broken invariant
//! named. Built for tests and with the `fuzz` feature only.

use std::sync::Arc;

use crate::{Action, Body, DATA_CHUNK, Reply, Session, SessionConfig, TlsFacts, Verdict};

/// What [`fuzz_session`] observed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FuzzTranscript {
    /// Everything the session wrote.
    pub output: Vec<u8>,
    /// Messages handed over for delivery.
    pub delivered: Vec<Vec<u8>>,
    /// Broken invariants (empty when all is well). A fuzz target asserts
    /// this is empty; the session itself never panics.
    pub violations: Vec<&'static str>,
}

/// A tiny deterministic generator (xorshift64*), for chunking decisions.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Drives one session with arbitrary input, for fuzzing. The first byte
/// picks the configuration, the second seeds the chunking; the rest is what
/// the client sends. Policy: recipients whose local part starts with `x`
/// are refused, everything else accepted; STARTTLS is completed with dummy
/// facts and the remaining input continues over "TLS".
pub fn fuzz_session(data: &[u8]) -> FuzzTranscript {
    let (flags, seed, input) = match data {
        [f, s, rest @ ..] => (*f, *s, rest),
        _ => (0, 0, &[][..]),
    };
    let mut config = SessionConfig::new("mx.fuzz.example");
    config.offer_starttls = flags & 1 != 0;
    config.require_tls = flags & 2 != 0;
    config.max_message_size = if flags & 4 != 0 { 64 } else { 4096 };
    config.max_recipients = if flags & 8 != 0 { 2 } else { 100 };
    config.max_errors = u32::from(flags >> 4);
    let max_size = config.max_message_size;
    let require_tls = config.require_tls;
    let config = Arc::new(config);

    let mut t = FuzzTranscript::default();
    // The message being received, from its MessageData chunks.
    let mut current: Vec<u8> = Vec::new();
    let mut rng = XorShift::new(u64::from(seed));
    let mut session = Session::new(config, None);
    let mut at = 0;
    // Bounded: every iteration either consumes input, answers a decision or
    // ends; the cap guards against a livelock bug turning into a hang.
    for _ in 0..(input.len() * 4 + 64) {
        let action = session.poll();
        t.output.extend_from_slice(&session.take_output());
        let verdict = match action {
            Action::NeedInput => {
                if at >= input.len() {
                    break;
                }
                let n = 1 + rng.below(64);
                let end = (at + n).min(input.len());
                session.feed(&input[at..end]);
                at = end;
                continue;
            }
            Action::CheckMail { from, params } => {
                // RFC 6531 3.5: no non-ASCII sender without SMTPUTF8.
                if !params.smtputf8 && from.mailbox().is_some_and(|m| !m.is_ascii()) {
                    t.violations.push("non-ASCII sender without SMTPUTF8");
                }
                Verdict::Accept
            }
            Action::CheckRcpt { to } => {
                if to.local_part.starts_with(['x', 'X']) {
                    Verdict::Reject(Reply::new(550, (5, 7, 1), "Relay denied"))
                } else {
                    Verdict::Accept
                }
            }
            Action::MessageData(chunk) => {
                if chunk.len() > DATA_CHUNK {
                    t.violations.push("message chunk larger than DATA_CHUNK");
                }
                if chunk.is_empty() {
                    t.violations.push("empty message chunk");
                }
                current.extend_from_slice(&chunk);
                continue;
            }
            Action::MessageRefused => {
                current.clear();
                continue;
            }
            Action::Deliver { envelope } => {
                let message = std::mem::take(&mut current);
                let binary = envelope.params.body == Some(Body::BinaryMime);
                check_message(&message, max_size, binary, &mut t.violations);
                if require_tls && envelope.tls.is_none() {
                    t.violations
                        .push("message accepted without TLS under RequireTLS");
                }
                if !envelope.params.smtputf8 && envelope.rcpt_to.iter().any(|r| !r.is_ascii()) {
                    t.violations
                        .push("non-ASCII recipient accepted without SMTPUTF8");
                }
                if envelope.rcpt_to.is_empty() {
                    t.violations.push("message delivered without recipients");
                }
                if envelope.rcpt_params.len() != envelope.rcpt_to.len() {
                    t.violations.push("DSN parameters not one per recipient");
                }
                let xtext = |v: &Option<String>| {
                    v.as_deref()
                        .is_none_or(|v| crate::command::is_xtext(v.as_bytes()))
                };
                if !xtext(&envelope.params.envid)
                    || envelope.rcpt_params.iter().any(|p| {
                        !xtext(
                            &p.orcpt
                                .as_ref()
                                .and_then(|o| o.split_once(';'))
                                .map(|(_, a)| a.to_string()),
                        )
                    })
                {
                    t.violations.push("ENVID or ORCPT kept that is not xtext");
                }
                t.delivered.push(message);
                Verdict::Accept
            }
            Action::StartTls { .. } => {
                let facts = TlsFacts {
                    protocol: "TLSv1.3".into(),
                    cipher: "TLS13_AES_128_GCM_SHA256".into(),
                    sni: None,
                    client_certificate: None,
                };
                session = match session.into_tls(facts) {
                    Ok(s) => s,
                    Err(_) => {
                        t.violations.push("into_tls refused after StartTls");
                        break;
                    }
                };
                continue;
            }
            Action::Close => break,
            Action::AwaitingDecision => {
                t.violations
                    .push("AwaitingDecision without a decision asked");
                break;
            }
        };
        if session.decide(verdict).is_err() {
            t.violations.push("decide refused a pending decision");
            break;
        }
    }
    check_output(&t.output, &mut t.violations);
    t
}

/// A delivered message is within the size limit and, unless BINARYMIME
/// (RFC 3030: any octets), CRLF text without bare CR or LF. (After DATA it
/// also ends with CRLF; a BDAT message may end without one, as RFC 5322
/// allows for the last line, but never with a bare CR.)
fn check_message(m: &[u8], max: u64, binary: bool, v: &mut Vec<&'static str>) {
    if m.len() as u64 > max {
        v.push("delivered message larger than the limit");
    }
    if binary {
        return;
    }
    for (i, &b) in m.iter().enumerate() {
        let bare_cr = b == b'\r' && m.get(i + 1) != Some(&b'\n');
        let bare_lf = b == b'\n' && (i == 0 || m[i - 1] != b'\r');
        if bare_cr || bare_lf {
            v.push("bare CR or LF in a delivered message");
            return;
        }
    }
}

fn check_output(out: &[u8], v: &mut Vec<&'static str>) {
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        v.push("output does not end with CRLF");
    }
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let ok = line.len() >= 5
            && line[..3].iter().all(u8::is_ascii_digit)
            && (line[3] == b' ' || line[3] == b'-')
            && line.ends_with(b"\r")
            && !line[..line.len() - 1].contains(&b'\r');
        if !ok {
            v.push("malformed reply line");
            return;
        }
    }
}
