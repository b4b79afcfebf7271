//! Protocol attacks against the running engine with raw clients: STARTTLS
//! command injection and SMTP smuggling.
#![allow(clippy::unwrap_used)]

mod transport_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};
use transport_support::*;

/// Accepts any server certificate (the test checks the protocol, not the PKI).
#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

fn tls_reply(tls: &mut StreamOwned<ClientConnection, std::net::TcpStream>) -> String {
    let mut all = String::new();
    let mut byte = [0u8; 1];
    loop {
        match tls.read(&mut byte) {
            Ok(0) | Err(_) => return all,
            Ok(_) => all.push(byte[0] as char),
        }
        if all.ends_with("\r\n") {
            let last = all
                .trim_end_matches("\r\n")
                .rsplit("\r\n")
                .next()
                .unwrap_or("");
            if last.len() < 4 || last.as_bytes()[3] != b'-' {
                return all;
            }
        }
    }
}

#[test]
fn starttls_injection_is_not_executed() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let engine = lab.start_engine(port);

    let mut raw = Raw::connect(port);
    assert!(raw.reply().starts_with("220 "));
    assert!(raw.cmd("EHLO client.test").contains("250 STARTTLS"));
    // STARTTLS and an injected command in one write
    raw.send(b"STARTTLS\r\nRSET\r\nMAIL FROM:<injected@evil.example>\r\n");
    let r = raw.reply();
    assert!(r.starts_with("220 2.0.0"), "{r}");
    let conn = ClientConnection::new(
        client_config(),
        ServerName::try_from("mail.orga.example").unwrap(),
    )
    .unwrap();
    let mut tls = StreamOwned::new(conn, raw.stream.try_clone().unwrap());
    // the first reply over TLS answers our EHLO, not the injected RSET
    tls.write_all(b"EHLO client.test\r\n").unwrap();
    let r = tls_reply(&mut tls);
    assert!(
        r.starts_with("250-mail.orga.example Hello client.test"),
        "got {r:?}"
    );
    tls.write_all(b"MAIL FROM:<a@random.example>\r\n").unwrap();
    let r = tls_reply(&mut tls);
    // no transaction was started by the injected MAIL
    assert!(r.starts_with("250 2.1.0"), "got {r:?}");
    tls.write_all(b"QUIT\r\n").unwrap();
    assert!(tls_reply(&mut tls).starts_with("221"));
    assert!(
        wait_until(Duration::from_secs(5), || engine
            .log_text()
            .contains("discarded")),
        "{}",
        engine.log_text()
    );
}

#[test]
fn smuggling_variants_never_split_a_message() {
    let lab = Lab::new();
    let port = free_port();
    lab.provision(port);
    let _engine = lab.start_engine(port);

    let variants: [(&str, &[u8]); 4] = [
        ("lf", b"\n.\n"),
        ("lfcrlf", b"\n.\r\n"),
        ("cr", b"\r.\r\n"),
        ("crcr", b"\r.\r"),
    ];
    for (name, end) in variants {
        let mut raw = Raw::connect(port);
        raw.reply();
        raw.cmd("EHLO client.test");
        let mut data = Vec::new();
        data.extend_from_slice(b"MAIL FROM:<a@random.example>\r\n");
        data.extend_from_slice(format!("RCPT TO:<outer-{name}@orga.example>\r\n").as_bytes());
        data.extend_from_slice(b"DATA\r\n");
        raw.send(&data);
        let mut replies = String::new();
        for _ in 0..3 {
            replies.push_str(&raw.reply());
        }
        assert!(replies.contains("354"), "{replies}");
        let mut body = Vec::new();
        body.extend_from_slice(b"Subject: outer\r\n\r\nfirst part");
        body.extend_from_slice(end);
        body.extend_from_slice(
            b"MAIL FROM:<evil@random.example>\r\nRCPT TO:<smuggled@orga.example>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n",
        );
        raw.send(&body);
        raw.send(b"QUIT\r\n");
        let rest = raw.drain();
        // one final answer to the DATA (250 or the bare-line refusal), never
        // a second 250 for a smuggled message
        let accepted = rest.matches("250 2.0.0 Queued").count();
        assert!(accepted <= 1, "{name}: {rest}");
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(lab.maildir("orga.example", "smuggled").is_empty());
    for (name, _) in variants {
        assert!(lab.maildir("orga.example", &format!("outer-{name}")).len() <= 1);
    }
    let received = tracking_lines(&lab.tracking_log())
        .iter()
        .filter(|l| l["event_id"] == "RECEIVE")
        .count();
    assert!(received <= variants.len());
}
