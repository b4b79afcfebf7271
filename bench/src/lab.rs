//! The lab: a work folder, the binaries, certificates (a lab CA made with
//! `xshell ca-new`, keys and requests made with openssl, signed with
//! `xshell ca-sign`), and the xshell store provisioned with the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::client::Tls;

pub const ORG_FQDN: &str = "mail.orga.example";
pub const LOCAL_DOMAIN: &str = "orga.example";
pub const RELAY_DOMAIN: &str = "relay.example";
pub const PARTNER_DOMAIN: &str = "partner.example";

/// Where the release binaries are: next to this executable.
#[derive(Debug, Clone)]
pub struct Bins {
    pub xshell: PathBuf,
    pub engine: PathBuf,
    pub smtp_source: PathBuf,
    pub smtp_sink: PathBuf,
    pub postfix: PathBuf,
}

impl Bins {
    pub fn find() -> Result<Bins> {
        let me = std::env::current_exe().context("locating xshell-bench")?;
        let dir = me.parent().context("xshell-bench has no folder")?;
        let b = Bins {
            xshell: dir.join("xshell"),
            engine: dir.join("xshell-transport"),
            smtp_source: PathBuf::from("/usr/sbin/smtp-source"),
            smtp_sink: PathBuf::from("/usr/sbin/smtp-sink"),
            postfix: PathBuf::from("/usr/sbin/postfix"),
        };
        for p in [&b.xshell, &b.engine] {
            if !p.exists() {
                bail!(
                    "{} is missing: build it with `cargo build --release -p xshell` (bench/run does)",
                    p.display()
                );
            }
        }
        if !dir.ends_with("release") {
            eprintln!(
                "warning: {} is not a release build; figures are meaningless",
                dir.display()
            );
        }
        Ok(b)
    }
}

/// Runs a command, fails with its stderr when it fails, returns stdout.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A certificate and its key, as PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Lab {
    pub bins: Bins,
    pub work: PathBuf,
    pub store: PathBuf,
    pub ca: PathBuf,
    pub server: CertFiles,
    pub client: CertFiles,
}

impl Lab {
    pub fn xshell(&self, args: &[&str]) -> Result<String> {
        xshell(&self.bins, &self.store, args)
    }

    /// Makes the certificates: the lab CA (xshell ca-new, RSA 2048), the
    /// server's RSA 2048 key and request (openssl) signed by it (xshell
    /// ca-sign) for mail.orga.example, and the partner's client certificate
    /// (P-256) for mail.partner.example and partner.example.
    pub fn new(bins: Bins, work: &Path) -> Result<Lab> {
        let store = work.join("store");
        let ca = work.join("labca");
        run(Command::new(&bins.xshell)
            .arg("--store")
            .arg(&store)
            .args(["ca-new", "--name", "Bench Lab CA", "--path"])
            .arg(&ca))?;
        let server = issue(
            &bins,
            work,
            &ca,
            "server",
            "rsa:2048",
            ORG_FQDN,
            &[ORG_FQDN],
        )?;
        let client = issue(
            &bins,
            work,
            &ca,
            "partner",
            "ec",
            "mail.partner.example",
            &["mail.partner.example", PARTNER_DOMAIN],
        )?;
        Ok(Lab {
            bins,
            work: work.to_path_buf(),
            store,
            ca,
            server,
            client,
        })
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.ca.join("ca.pem")
    }

    /// Organization A as the issue describes it: FQDN, the local domain
    /// (Authoritative: Maildir delivery), the relay domain (InternalRelay)
    /// with a send connector to the sink at `sink_port`, partner.example on
    /// the Domain Security receive list, the lab CA trusted, the server
    /// certificate imported and enabled for SMTP, and the Internet receive
    /// connector on 127.0.0.1:`port` (Domain Security, TLS, room for 1,000
    /// connections from one source and 64 MB messages).
    pub fn provision(&self, port: u16, sink_port: u16) -> Result<()> {
        provision_routing(&self.bins, &self.store, sink_port)?;
        // the organization-wide limit (Exchange's 10 MB default) would
        // refuse the sweep's 10 MB messages with their headers
        self.xshell(&[
            "set-transportconfig",
            "--tls-receive-domain-secure-list",
            PARTNER_DOMAIN,
            "--max-receive-size",
            "64MB",
        ])?;
        let cmd = format!(
            "Import-Certificate -FilePath '{}' -CertStoreLocation Cert:\\LocalMachine\\Root",
            self.ca_pem().display()
        );
        self.xshell(&["-c", &cmd])?;
        let pfx = self.work.join("server.pfx");
        let pass = self.work.join("server.pass");
        std::fs::write(&pass, "bench\n")?;
        run(Command::new("openssl")
            .args(["pkcs12", "-export", "-passout", "pass:bench", "-in"])
            .arg(&self.server.cert)
            .arg("-inkey")
            .arg(&self.server.key)
            .arg("-out")
            .arg(&pfx))?;
        let cmd = format!(
            "Import-ExchangeCertificate -Path '{}' -PasswordFile '{}' | Enable-ExchangeCertificate -Services SMTP -Force",
            pfx.display(),
            pass.display()
        );
        self.xshell(&["-c", &cmd])?;
        self.xshell(&[
            "new-receiveconnector",
            "Inbound",
            "--usage",
            "internet",
            "--bindings",
            &format!("127.0.0.1:{port}"),
            "--domain-secure-enabled",
            "--auth-mechanism",
            "tls",
            "--fqdn",
            ORG_FQDN,
            "--max-inbound-connection-per-source",
            "1000",
            "--max-message-size",
            "64MB",
        ])?;
        Ok(())
    }

    /// The load client's TLS settings: the partner certificate, the lab CA
    /// as the only root, and X25519 only, so both servers do the same key
    /// exchange (OpenSSL 3.0 has no ML-KEM; rustls would otherwise negotiate
    /// the hybrid). Without `resume` every handshake is full; with it,
    /// rustls's in-memory session cache (TLS 1.3 tickets, TLS 1.2 session
    /// IDs and tickets) resumes what the server allows.
    pub fn client_tls(&self, resume: bool) -> Result<Tls> {
        let mut provider = rustls::crypto::aws_lc_rs::default_provider();
        provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(self.ca_pem())? {
            roots.add(c?)?;
        }
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(&self.client.cert)?.collect::<Result<_, _>>()?;
        let key = PrivateKeyDer::from_pem_file(&self.client.key)?;
        let mut config = ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)?;
        if !resume {
            config.resumption = rustls::client::Resumption::disabled();
        }
        Ok(Tls {
            config: Arc::new(config),
            server_name: ServerName::try_from(ORG_FQDN)?.to_owned(),
        })
    }
}

/// The routing part of organization A, on any store: FQDN, the local
/// domain (Authoritative: Maildir delivery), the relay domain
/// (InternalRelay) and the send connector to the sink at `sink_port`.
pub fn provision_routing(bins: &Bins, store: &Path, sink_port: u16) -> Result<()> {
    let x = |args: &[&str]| xshell(bins, store, args).map(drop);
    x(&["set-transportservice", "--fqdn", ORG_FQDN])?;
    x(&["new-accepteddomain", "OrgA", "--domain-name", LOCAL_DOMAIN])?;
    x(&[
        "new-accepteddomain",
        "Relay",
        "--domain-name",
        RELAY_DOMAIN,
        "--domain-type",
        "InternalRelay",
    ])?;
    x(&[
        "new-sendconnector",
        "ToSink",
        "--address-spaces",
        RELAY_DOMAIN,
        "--dns-routing-enabled=false",
        "--smart-hosts",
        "127.0.0.1",
        "--port",
        &sink_port.to_string(),
    ])
}

pub fn xshell(bins: &Bins, store: &Path, args: &[&str]) -> Result<String> {
    run(Command::new(&bins.xshell)
        .arg("--store")
        .arg(store)
        .args(args)
        .env_remove("XSHELL_STORE")
        .env("NO_COLOR", "1"))
}

/// A key (openssl, `alg`: "rsa:2048" or "ec" for P-256) and a request for
/// `cn` with `sans`, signed by the lab CA with `xshell ca-sign`.
fn issue(
    bins: &Bins,
    work: &Path,
    ca: &Path,
    name: &str,
    alg: &str,
    cn: &str,
    sans: &[&str],
) -> Result<CertFiles> {
    let key = work.join(format!("{name}.key"));
    let csr = work.join(format!("{name}.csr"));
    let cert = work.join(format!("{name}.pem"));
    let san: Vec<String> = sans.iter().map(|s| format!("DNS:{s}")).collect();
    let mut req = Command::new("openssl");
    req.args(["req", "-new", "-nodes", "-newkey", alg]);
    if alg == "ec" {
        req.args(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    req.arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .args(["-subj", &format!("/CN={cn}")])
        .args(["-addext", &format!("subjectAltName={}", san.join(","))]);
    run(&mut req)?;
    run(Command::new(&bins.xshell)
        .arg("--store")
        .arg(work.join("store"))
        .args(["ca-sign", "--ca"])
        .arg(ca)
        .arg("--request-file")
        .arg(&csr)
        .arg("--path")
        .arg(&cert))?;
    Ok(CertFiles { cert, key })
}
