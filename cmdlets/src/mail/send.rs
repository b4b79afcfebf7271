//! Send-MailMessage.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use xshell_core::certificates;
use xshell_core::model::OrgConfig;
use xshell_core::pki::cert::parse_certificate;
use xshell_core::pki::keys::PrivateKey;
use xshell_smtp::client::{Stage, Transaction};
use zeroize::Zeroizing;

use super::mime::{self, Attachment, Charset, Mailbox, Message};
use super::session::{self, ClientIdentity, Plan, SendError, ServerCheck};
use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};

params!(p {
    To: Vec<String> = param(
        Kind::List(&Kind::Str),
        "The recipients: a@b.example or \"Name <a@b.example>\"; several separated by commas.",
    )
    .position(0)
    .mandatory(),
    Subject: String = param(Kind::Str, "The subject; non-ASCII text is sent as RFC 2047 encoded words.")
        .position(1),
    Body: String = param(Kind::Str, "The message text; also taken from the pipeline.")
        .position(2)
        .pipeline(Pipe::ByValue),
    From: String = param(Kind::Str, "The sender: a@b.example or \"Name <a@b.example>\" (also the envelope sender).")
        .mandatory(),
    SmtpServer: String = param(Kind::Str, "The SMTP server: a host name or an IP address (needed unless -OutFile).")
        .aliases(&["ComputerName"]),
    Port: i64 = param(Kind::Int { min: 1, max: 65535 }, "The server's port.").default("25"),
    Cc: Vec<String> = param(Kind::List(&Kind::Str), "Carbon-copy recipients (in the Cc header and the envelope)."),
    Bcc: Vec<String> = param(Kind::List(&Kind::Str), "Blind-copy recipients (in the envelope only)."),
    BodyAsHtml: bool = param(Kind::Switch, "The body is HTML (text/html)."),
    Attachments: Vec<String> = param(
        Kind::List(&Kind::Path),
        "Files to attach (base64, multipart/mixed); every file is read before connecting.",
    )
    .aliases(&["PsPath", "Attachment"]),
    Encoding: String = param(
        Kind::Enum(Charset::NAMES),
        "The body's charset: UTF8, ASCII or Latin1 (ISO-8859-1). Text the charset cannot hold is an error.",
    )
    .aliases(&["BodyEncoding"])
    .default("UTF8"),
    UseSsl: bool = param(
        Kind::Switch,
        "Require STARTTLS: the send fails when the server does not offer it. Without it the session stays plaintext, as in PowerShell.",
    ),
    CertificateThumbprint: String = param(
        Kind::Thumbprint,
        "Present this certificate of the store, with its private key from the store, as the TLS client certificate (needs -UseSsl). This is how a partner's Domain Security is tested.",
    ),
    Helo: String = param(Kind::Str, "xshell extension: the name in EHLO (default: this server's FQDN)."),
    SourceIPAddress: String = param(
        Kind::Str,
        "xshell extension: the local IP address to connect from (as a send connector's SourceIPAddress), e.g. 127.0.0.2.",
    ),
    TlsServerName: String = param(
        Kind::Str,
        "xshell extension: the name the server's certificate must carry (and the TLS SNI); default -SmtpServer. For a server reached by IP address whose certificate names its host.",
    ),
    SkipCertificateCheck: bool = param(
        Kind::Switch,
        "xshell extension: accept any server certificate (still shown with -Verbose and in the output). For tests only; by default the chain must reach one of the store's trusted roots and carry the server's name.",
    ),
    TimeoutSeconds: i64 = param(Kind::Int { min: 1, max: 600 }, "xshell extension: how long connecting and each reply may take.")
        .default("30"),
    OutFile: String = param(
        Kind::Path,
        "xshell extension: write the message (RFC 5322, CRLF) to this file instead of sending it; nothing is sent.",
    ),
    Verbose: bool = param(
        Kind::Switch,
        "Print the conversation (server replies, our commands, the TLS version, cipher and server certificate) to the error stream as it happens; the output object has it as Transcript.",
    ),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "Send-MailMessage",
    aliases: &[],
    synopsis: "Send an e-mail message over SMTP, optionally over STARTTLS with a client certificate from the store.",
    description: "Builds a MIME message (Date, Message-ID, MIME-Version; the body in the charset of -Encoding, \
quoted-printable when it is not plain ASCII; attachments base64 in multipart/mixed; a non-ASCII Subject as RFC 2047 \
encoded words) and sends it with xshell's SMTP client session to -SmtpServer, as PowerShell's Send-MailMessage does. \
-UseSsl requires STARTTLS; the server's certificate must then chain to one of the store's trusted roots and carry \
the server's name (-TlsServerName, default -SmtpServer), unless -SkipCertificateCheck. -CertificateThumbprint presents \
one of the store's certificates as the TLS client certificate, which is what a receive connector with Domain Security \
needs from a partner. The send fails (exit 1) when the connection, the TLS handshake, the server or any recipient \
refuses; the error names the parameter or quotes the server's reply. xshell extensions: -Helo, -SourceIPAddress, \
-TlsServerName, -SkipCertificateCheck, -TimeoutSeconds, -OutFile (save the message instead of sending it), and the \
result object (PowerShell's cmdlet writes nothing).",
    params: p::LIST,
    sets: &[],
    impact: Impact::None,
    outputs: "A MailMessageResult: the final reply, the recipients, the TLS details and the transcript.",
    examples: &[Example {
        title: "Build a message with an attachment and save it instead of sending it",
        code: "Send-MailMessage -From alice@orga.example -To bob@domaene.tld -Subject Report -Body Hello -Attachments partner-root.cer -OutFile report.eml",
        setup: &[],
        expect: &["Saved", "report.eml"],
    }],
    run,
};

fn bad(param: &str, message: impl Into<String>) -> CmdletError {
    CmdletError::bad_value(param, message)
}

fn mailbox(param: &str, text: &str) -> Result<Mailbox, CmdletError> {
    Mailbox::parse(text).map_err(|e| bad(param, e.to_string()))
}

/// The store's certificate `thumbprint` with its key, as a TLS client identity.
fn client_identity(
    ctx: &Ctx<'_>,
    cfg: &OrgConfig,
    thumbprint: &str,
) -> Result<ClientIdentity, CmdletError> {
    const P: &str = "CertificateThumbprint";
    let rec = certificates::find(cfg, thumbprint)
        .and_then(|i| cfg.certificates.get(i))
        .ok_or_else(|| {
            bad(
                P,
                format!(
                    "no certificate with thumbprint {thumbprint} in the store {} (Get-ExchangeCertificate lists them)",
                    ctx.store.describe()
                ),
            )
        })?;
    let der = certificates::certificate_der(rec)
        .map_err(|e| bad(P, e.to_string()))?
        .ok_or_else(|| {
            bad(
                P,
                format!("certificate {thumbprint} is a pending request, not a certificate"),
            )
        })?;
    let key_id = rec.key_id.as_deref().ok_or_else(|| {
        bad(
            P,
            format!("certificate {thumbprint} has no private key in the store"),
        )
    })?;
    let pem = Zeroizing::new(
        ctx.store
            .backend()
            .get_secret(key_id)
            .map_err(|e| bad(P, format!("the private key of {thumbprint}: {e}")))?,
    );
    let text = std::str::from_utf8(&pem).map_err(|_| {
        bad(
            P,
            format!("the private key of {thumbprint} is not PEM text"),
        )
    })?;
    let key = PrivateKey::from_pem(text)
        .map_err(|e| bad(P, format!("the private key of {thumbprint}: {e}")))?;
    let mut chain = vec![CertificateDer::from(der)];
    for c in certificates::chain_der(rec).map_err(|e| bad(P, e.to_string()))? {
        if !parse_certificate(&c).is_ok_and(|i| i.is_self_signed) {
            chain.push(CertificateDer::from(c));
        }
    }
    Ok(ClientIdentity {
        chain,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der().to_vec())),
    })
}

/// A Message-ID's left part: time, process and a counter (unique per host).
fn unique_token() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    format!(
        "{nanos:x}.{:x}.{:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    // --- bind and validate: nothing is sent before all of this holds ---
    let cfg = ctx.store.snapshot()?;
    let verbose = b.switch(p::Verbose);
    let from = mailbox("From", &b.get(p::From).unwrap_or_default())?;
    let list = |param: &str, v: Option<Vec<String>>| -> Result<Vec<Mailbox>, CmdletError> {
        // The binder has split `a,b` already (CLI and language alike).
        v.unwrap_or_default()
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| mailbox(param, s))
            .collect()
    };
    let to = list("To", b.get(p::To))?;
    let cc = list("Cc", b.get(p::Cc))?;
    let bcc = list("Bcc", b.get(p::Bcc))?;
    if to.is_empty() {
        return Err(bad("To", "at least one recipient is needed"));
    }
    let charset_name = b.get(p::Encoding).unwrap_or_else(|| "UTF8".into());
    let charset = Charset::from_name(&charset_name).ok_or_else(|| {
        bad(
            "Encoding",
            format!("'{charset_name}' is not one of UTF8, ASCII, Latin1"),
        )
    })?;
    let mut attachments = Vec::new();
    for path in b.get(p::Attachments).unwrap_or_default() {
        let data = std::fs::read(&path)
            .map_err(|e| bad("Attachments", format!("cannot read '{path}': {e}")))?;
        let name = Path::new(&path)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.clone());
        attachments.push(Attachment { name, data });
    }
    let domain = from
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_default();
    let message_id = format!("{}@{domain}", unique_token());
    let date = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .map_err(|e| CmdletError::Failed(format!("cannot format the date: {e}")))?;
    let message = mime::build(&Message {
        from: from.clone(),
        to: to.clone(),
        cc: cc.clone(),
        subject: b.get(p::Subject).unwrap_or_default(),
        body: b.get(p::Body).unwrap_or_default(),
        html: b.switch(p::BodyAsHtml),
        charset,
        attachments,
        date,
        message_id: message_id.clone(),
        boundary_seed: unique_token().replace('.', "_"),
    })
    .map_err(|e| match e {
        mime::MimeError::Unencodable { .. } => bad("Encoding", e.to_string()),
        mime::MimeError::LineBreak(_) => bad("Subject", e.to_string()),
        mime::MimeError::BadAddress(_) => bad("From", e.to_string()),
    })?;
    if let Some(path) = b.get(p::OutFile) {
        std::fs::write(&path, &message)
            .map_err(|e| bad("OutFile", format!("cannot write '{path}': {e}")))?;
        let o = Object::new(
            "MailMessageResult",
            View::Table(&["Status", "Path", "Recipients"]),
        )
        .with("Status", Value::str("Saved"))
        .with("Path", Value::str(&path))
        .with("MessageId", Value::str(format!("<{message_id}>")))
        .with("From", Value::str(&from.address))
        .with(
            "Recipients",
            Value::list(to.iter().chain(&cc).chain(&bcc).map(|m| m.address.clone())),
        )
        .with("Size", Value::Int(message.len() as i64));
        return Ok(vec![Value::Object(o)]);
    }
    let use_tls = b.switch(p::UseSsl);
    let thumbprint = b.get(p::CertificateThumbprint);
    if thumbprint.is_some() && !use_tls {
        return Err(bad(
            "CertificateThumbprint",
            "a client certificate is presented in the TLS handshake: add -UseSsl",
        ));
    }
    let identity = match &thumbprint {
        Some(tp) => Some(client_identity(ctx, &cfg, tp)?),
        None => None,
    };
    let server = b.get(p::SmtpServer).unwrap_or_default();
    let server = server
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if server.is_empty() {
        return Err(bad(
            "SmtpServer",
            "an SMTP server is needed (or -OutFile to save the message instead)",
        ));
    }
    let port = b.get(p::Port).unwrap_or(25) as u16;
    let source = match b.get(p::SourceIPAddress) {
        Some(s) => Some(
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| bad("SourceIPAddress", format!("'{s}' is not an IP address")))?,
        ),
        None => None,
    };
    let skip_check = b.switch(p::SkipCertificateCheck);
    let check = if skip_check {
        ServerCheck::Skip
    } else {
        let roots: Vec<CertificateDer<'static>> = certificates::trusted_root_ders(&cfg)
            .into_iter()
            .map(CertificateDer::from)
            .collect();
        if use_tls && roots.is_empty() {
            return Err(bad(
                "UseSsl",
                format!(
                    "the store {} trusts no root certificate, so no server certificate can be verified: \
                     import the server's root (Import-Certificate -CertStoreLocation Cert:\\LocalMachine\\Root) \
                     or add -SkipCertificateCheck",
                    ctx.store.describe()
                ),
            ));
        }
        ServerCheck::Verify { roots }
    };
    let helo = b
        .get(p::Helo)
        .unwrap_or_else(|| cfg.transport_service.effective_fqdn());
    if helo.is_empty() || helo.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("Helo", format!("'{helo}' is not a host name")));
    }
    let tls_name = b.get(p::TlsServerName).unwrap_or_else(|| server.clone());
    if use_tls && rustls::pki_types::ServerName::try_from(tls_name.clone()).is_err() {
        return Err(bad(
            "TlsServerName",
            format!("'{tls_name}' is neither a host name nor an IP address"),
        ));
    }
    let timeout = Duration::from_secs(b.get(p::TimeoutSeconds).unwrap_or(30).max(1) as u64);
    let addrs: Vec<SocketAddr> = (server.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| bad("SmtpServer", format!("cannot resolve '{server}': {e}")))?
        .collect();
    let recipients: Vec<String> = to
        .iter()
        .chain(&cc)
        .chain(&bcc)
        .map(|m| m.address.clone())
        .collect();

    // --- act ---
    let mut transcript = Vec::new();
    let mut log = |line: String| {
        if verbose {
            ctx.host.info(&format!("VERBOSE: {line}"));
        }
        transcript.push(line);
    };
    let outcome = session::send(
        Plan {
            server: addrs,
            source,
            helo,
            use_tls,
            tls_name,
            check,
            identity,
            timeout,
        },
        Transaction {
            sender: from.address.clone(),
            recipients,
            message: message.into(),
            dsn: Default::default(),
            smtputf8: false,
            requiretls: false,
        },
        &mut log,
    );
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let why = match &e {
                SendError::Session {
                    failure: xshell_smtp::client::SessionFailure::StartTlsNotOffered,
                    ..
                } => " (-UseSsl requires STARTTLS)",
                SendError::Connect { .. } => " (-SmtpServer, -Port)",
                _ => "",
            };
            return Err(CmdletError::Failed(format!(
                "the message was not sent: {e}{why}"
            )));
        }
    };
    let mail_refused = outcome
        .result
        .recipients
        .iter()
        .find(|r| r.stage == Stage::Mail)
        .map(|r| format!("MAIL FROM:<{}> refused: {}", from.address, r.reply));
    let refused: Vec<String> = outcome
        .result
        .recipients
        .iter()
        .filter(|r| !r.delivered() && r.stage != Stage::Mail)
        .map(|r| {
            let stage = match r.stage {
                Stage::Local => "before sending",
                Stage::Mail => "with MAIL FROM",
                Stage::Rcpt => "at RCPT TO",
                Stage::Data => "at DATA",
                Stage::DataEnd => "after the message",
            };
            format!("{} refused {stage}: {}", r.address, r.reply)
        })
        .collect();
    let accepted: Vec<&str> = outcome
        .result
        .recipients
        .iter()
        .filter(|r| r.delivered())
        .map(|r| r.address.as_str())
        .collect();
    let refused: Vec<String> = mail_refused.into_iter().chain(refused).collect();
    if !refused.is_empty() {
        let sent = if accepted.is_empty() {
            "the message was not sent".to_string()
        } else {
            format!("the message was sent to {} only", accepted.join(", "))
        };
        return Err(CmdletError::Failed(format!(
            "{} ({}): {sent}",
            refused.join("; "),
            outcome.endpoint
        )));
    }
    let reply = outcome
        .result
        .recipients
        .first()
        .map(|r| r.reply.to_string().trim_end().to_string());
    let tls = outcome.tls.as_ref();
    let o = Object::new(
        "MailMessageResult",
        View::Table(&["SmtpServer", "Status", "Reply", "TlsVersion"]),
    )
    .with("SmtpServer", Value::str(outcome.endpoint.to_string()))
    .with("Status", Value::str("Sent"))
    .with("Reply", Value::opt_str(reply))
    .with("MessageId", Value::str(format!("<{message_id}>")))
    .with("From", Value::str(&from.address))
    .with("Recipients", Value::list(accepted))
    .with("Banner", Value::opt_str(outcome.greeting.clone()))
    .with("StartTls", Value::Bool(tls.is_some()))
    .with("TlsVersion", Value::opt_str(tls.map(|t| t.version.clone())))
    .with("Cipher", Value::opt_str(tls.map(|t| t.cipher.clone())))
    .with(
        "ServerCertificateSubject",
        Value::opt_str(tls.and_then(|t| t.peer_subject.clone())),
    )
    .with(
        "ServerCertificateIssuer",
        Value::opt_str(tls.and_then(|t| t.peer_issuer.clone())),
    )
    .with(
        "ServerCertificateThumbprint",
        Value::opt_str(tls.and_then(|t| t.peer_thumbprint.clone())),
    )
    .with(
        "ServerCertificateVerified",
        tls.map_or(Value::Null, |t| Value::Bool(t.verified)),
    )
    .with("ClientCertificateThumbprint", Value::opt_str(thumbprint))
    .with("Transcript", Value::list(transcript));
    Ok(vec![Value::Object(o)])
}
