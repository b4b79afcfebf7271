//! Secrets hygiene: a realistic provisioning and mail flow (a self-signed
//! certificate, a request completed with a CA-issued certificate, PFX
//! imports with the password from a file and from XSHELL_PFX_PASSWORD, a
//! refused wrong password, PFX exports, the engine with text and JSON logs,
//! a Domain Security session with a client certificate through swaks), then
//! a search for every private key (PEM body lines, base64 chunks of its DER
//! at every alignment, its bytes as hex and as a Rust byte list) and every
//! password in everything the flow printed or wrote outside `keys/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod transport_support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use transport_support::*;

const PW_FILE: &str = "pfx-file-pw-Q7vx3Lk9sD";
const PW_ENV: &str = "pfx-env-pw-Zr4m8Tq2wP";
const PW_WRONG: &str = "pfx-wrong-pw-Jb2k7Wd4fM";
const PW_EXPORT_FILE: &str = "export-file-pw-Hn6c1Yp5dR";
const PW_EXPORT_ENV: &str = "export-env-pw-Ux3s9Ge1kT";
const PASSWORDS: [&str; 5] = [PW_FILE, PW_ENV, PW_WRONG, PW_EXPORT_FILE, PW_EXPORT_ENV];

/// Everything the flow printed: (what ran, its stdout and stderr).
struct Recorder<'a> {
    lab: &'a Lab,
    texts: Vec<(String, String)>,
}

impl Recorder<'_> {
    fn xshell_env(&mut self, args: &[&str], env: &[(&str, &str)], ok: bool) -> String {
        let mut c = Command::new(xshell_bin());
        c.arg("--store")
            .arg(&self.lab.store)
            .args(args)
            .env_remove("XSHELL_STORE")
            .env_remove("XSHELL_PFX_PASSWORD")
            .env("NO_COLOR", "1")
            .current_dir(&self.lab.work)
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.success(),
            ok,
            "xshell {args:?}:\n{stdout}\n{stderr}"
        );
        self.texts.push((
            format!("xshell {args:?}"),
            format!("{stdout}\n--- stderr ---\n{stderr}"),
        ));
        stdout
    }

    fn xshell(&mut self, args: &[&str]) -> String {
        self.xshell_env(args, &[], true)
    }

    fn record(&mut self, what: &str, text: String) {
        self.texts.push((what.to_string(), text));
    }
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// What must never show up for one private key (a PEM file): its PEM body
/// (whole and line by line), and windows of its DER (as written and as the
/// PKCS#8 DER openssl makes of it) as base64 (the window offsets cover the
/// three byte alignments), hex and a `{:?}` byte list. Windows that lie
/// within the public key (an EC key's DER embeds it; certificates in the
/// store carry it) are left out.
fn key_needles(work: &Path, pem_path: &Path) -> Vec<String> {
    let pem = fs::read_to_string(pem_path).unwrap();
    let body: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    assert!(!body.is_empty(), "{} is not PEM", pem_path.display());
    let p = pem_path.to_str().unwrap();
    let public = openssl::run(work, &["pkey", "-in", p, "-pubout", "-outform", "DER"]);
    let within_public = |w: &[u8]| public.windows(w.len()).any(|p| p == w);
    // the key as openssl writes it (SEC1 for EC, PKCS#1 for RSA) and as PKCS#8
    let ders = [
        openssl::run(work, &["pkey", "-in", p, "-outform", "DER"]),
        openssl::run(
            work,
            &["pkcs8", "-topk8", "-nocrypt", "-in", p, "-outform", "DER"],
        ),
    ];
    let mut needles: Vec<String> = body
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            // a PEM line is 48 bytes of the DER; a line that is all public key is left out
            let public_only = ders.iter().any(|der| {
                der.get(i * 48..((i + 1) * 48).min(der.len()))
                    .is_some_and(|b| b64(b) == **l && within_public(b))
            });
            l.len() >= 40 && !public_only
        })
        .map(|(_, l)| l.to_string())
        .collect();
    needles.push(body.concat());
    const W: usize = 24;
    for der in &ders {
        let mut kept = 0;
        for start in (0..der.len() - W).step_by(7) {
            let w = &der[start..start + W];
            if within_public(w) {
                continue;
            }
            kept += 1;
            needles.push(b64(w));
            let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
            needles.push(hex.to_uppercase());
            needles.push(hex);
            needles.push(
                format!("{:?}", &w[..12])
                    .trim_matches(['[', ']'])
                    .to_string(),
            );
        }
        assert!(kept >= 5, "{}: {kept} private windows", pem_path.display());
    }
    // the search works: the PEM body itself holds some of the DER needles
    let joined = body.concat();
    let hits = needles
        .iter()
        .filter(|n| joined.contains(n.as_str()))
        .count();
    assert!(
        hits >= 5,
        "{}: {hits} needles in its own PEM",
        pem_path.display()
    );
    needles
}

/// Every file under `dir` (recursively), except `skip`.
fn files_under(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p == skip {
            continue;
        }
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            files_under(&p, skip, out);
        } else if ft.is_file() {
            out.push(p);
        }
    }
}

fn thumbprint_of(json_out: &str) -> String {
    let v: serde_json::Value =
        serde_json::from_str(json_out).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json_out}"));
    let obj = if v.is_array() { &v[0] } else { &v };
    obj["Thumbprint"]
        .as_str()
        .unwrap_or_else(|| panic!("no Thumbprint in {json_out}"))
        .to_string()
}

fn start_engine(lab: &Lab, port: u16, json: bool, name: &str) -> Engine {
    let log = lab.work.join(name);
    let mut c = Command::new(engine_bin());
    c.arg("--store").arg(&lab.store).arg("--grace").arg("5");
    if json {
        c.arg("--log-format").arg("json");
    }
    let child = c
        // as verbose as an operator chasing a TLS problem would make it
        .env("RUST_LOG", "debug")
        .env_remove("XSHELL_STORE")
        .env_remove("XSHELL_PFX_PASSWORD")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let e = Engine { child, log };
    assert!(
        wait_until(Duration::from_secs(20), || {
            let t = e.log_text();
            t.contains("listening") && t.contains(&format!("127.0.0.1:{port}"))
        }),
        "the engine did not listen on {port}:\n{}",
        e.log_text()
    );
    e
}

/// The engine's command line (from /proc): only the options it was given,
/// none of which is a secret.
fn engine_cmdline(e: &Engine) -> Vec<String> {
    let raw = fs::read(format!("/proc/{}/cmdline", e.pid())).unwrap();
    raw.split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn no_private_key_or_password_leaks_into_output_logs_or_the_store() {
    let lab = Lab::new();
    let port = free_port();
    let w = &lab.work;
    let mut r = Recorder {
        lab: &lab,
        texts: Vec::new(),
    };
    let path = |name: &str| w.join(name).display().to_string();
    for (name, pw) in [
        ("a.pass", PW_FILE),
        ("wrong.pass", PW_WRONG),
        ("export.pass", PW_EXPORT_FILE),
    ] {
        fs::write(w.join(name), format!("{pw}\n")).unwrap();
        fs::set_permissions(w.join(name), fs::Permissions::from_mode(0o600)).unwrap();
    }

    // the organization, a self-signed SMTP certificate and a request
    // (the send connector is disabled; its resolver would be loopback anyway)
    r.xshell(&[
        "set-transportservice",
        "--fqdn",
        ORG_FQDN,
        "--external-dns-servers",
        "127.0.0.1:9",
    ]);
    r.xshell(&[
        "new-accepteddomain",
        "OrgA",
        "--domain-name",
        "orga.example",
    ]);
    r.xshell(&[
        "new-exchangecertificate",
        "--domain-name",
        ORG_FQDN,
        "--services",
        "SMTP",
        "--force",
        "--private-key-exportable",
    ]);
    r.xshell(&[
        "request-cert",
        "--subject-name",
        "CN=relay.orga.example",
        "--domain-name",
        "relay.orga.example",
        "--key-algorithm",
        "ECDSA-P256",
        "--request-file",
        &path("relay.req"),
    ]);
    let org_ca = lab.ca("org-ca", "OrgA Issuing CA");
    fs::write(
        w.join("relay.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:relay.orga.example\n",
    )
    .unwrap();
    openssl::run_env(
        w,
        &[
            "x509",
            "-req",
            "-in",
            &path("relay.req"),
            "-CA",
            org_ca.cert.to_str().unwrap(),
            "-CAkey",
            org_ca.key.to_str().unwrap(),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &path("relay.ext"),
            "-out",
            &path("relay.pem"),
        ],
        &[],
    );
    r.xshell(&["import-exchangecertificate", "--path", &path("relay.pem")]);

    // two PFX files made by openssl (passwords from a file and from the
    // environment, so not even openssl's command line holds them)
    let a = lab.issue("a", &org_ca, "a.orga.example", &["a.orga.example"]);
    let b = lab.issue("b", &org_ca, "b.orga.example", &["b.orga.example"]);
    for (c, pfx, pass) in [
        (&a, "a.pfx", format!("file:{}", path("a.pass"))),
        (&b, "b.pfx", "env:PFX_PW".to_string()),
    ] {
        openssl::run_env(
            w,
            &[
                "pkcs12",
                "-export",
                "-inkey",
                c.key.to_str().unwrap(),
                "-in",
                c.cert.to_str().unwrap(),
                "-certfile",
                org_ca.cert.to_str().unwrap(),
                "-passout",
                &pass,
                "-out",
                &path(pfx),
            ],
            &[("PFX_PW", PW_ENV)],
        );
    }
    // the documented forms: -PasswordFile, and XSHELL_PFX_PASSWORD
    let tp_a = thumbprint_of(&r.xshell(&[
        "import-exchangecertificate",
        "--path",
        &path("a.pfx"),
        "--password-file",
        &path("a.pass"),
        "--private-key-exportable",
        "--output",
        "json",
    ]));
    // a wrong password (from a file and from the environment) is refused
    // without being echoed
    r.xshell_env(
        &[
            "import-exchangecertificate",
            "--path",
            &path("b.pfx"),
            "--password-file",
            &path("wrong.pass"),
        ],
        &[],
        false,
    );
    r.xshell_env(
        &["import-exchangecertificate", "--path", &path("b.pfx")],
        &[("XSHELL_PFX_PASSWORD", PW_WRONG)],
        false,
    );
    let tp_b = thumbprint_of(&r.xshell_env(
        &[
            "import-exchangecertificate",
            "--path",
            &path("b.pfx"),
            "--private-key-exportable",
            "--output",
            "json",
        ],
        &[("XSHELL_PFX_PASSWORD", PW_ENV)],
        true,
    ));
    for tp in [&tp_a, &tp_b] {
        let got = r.xshell(&["get-exchangecertificate", tp, "--output", "json"]);
        assert!(got.contains("\"HasPrivateKey\": true"), "{got}");
    }

    // exports, password from a file and from the environment; openssl
    // opens them with that password
    r.xshell(&[
        "export-exchangecertificate",
        &tp_a,
        "--path",
        &path("a-export.pfx"),
        "--password-file",
        &path("export.pass"),
    ]);
    r.xshell_env(
        &[
            "export-exchangecertificate",
            &tp_b,
            "--path",
            &path("b-export.pfx"),
        ],
        &[("XSHELL_PFX_PASSWORD", PW_EXPORT_ENV)],
        true,
    );
    openssl::run_env(
        w,
        &[
            "pkcs12",
            "-in",
            &path("a-export.pfx"),
            "-passin",
            &format!("file:{}", path("export.pass")),
            "-noout",
        ],
        &[],
    );
    openssl::run_env(
        w,
        &[
            "pkcs12",
            "-in",
            &path("b-export.pfx"),
            "-passin",
            "env:PFX_PW",
            "-noout",
        ],
        &[("PFX_PW", PW_EXPORT_ENV)],
    );
    for f in ["a-export.pfx", "b-export.pfx"] {
        assert_eq!(mode(&w.join(f)), 0o600, "{f}");
    }

    // Domain Security with partner.example, a send connector
    let partner_ca = lab.ca("partner-ca", "Partner CA");
    lab.trust(&partner_ca.cert);
    let partner = lab.issue(
        "partner",
        &partner_ca,
        "mail.partner.example",
        &["mail.partner.example", "partner.example"],
    );
    r.xshell(&[
        "set-transportconfig",
        "--tls-receive-domain-secure-list",
        "partner.example",
        "--tls-send-domain-secure-list",
        "partner.example",
    ]);
    r.xshell(&[
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
    ]);
    r.xshell(&[
        "new-sendconnector",
        "Partner",
        "--address-spaces",
        "partner.example",
        "--domain-secure-enabled",
        "--enabled=false",
    ]);

    // the engine, text log then JSON log, one partner message each
    let send = |subject: &str| {
        swaks(
            port,
            &[
                "--tls",
                "--tls-cert",
                partner.cert.to_str().unwrap(),
                "--tls-key",
                partner.key.to_str().unwrap(),
                "--from",
                "alice@partner.example",
                "--to",
                "bob@orga.example",
                "--header",
                &format!("Subject: {subject}"),
            ],
        )
    };
    let mut logs = Vec::new();
    for (n, json) in [(1, false), (2, true)] {
        let engine = start_engine(&lab, port, json, &format!("engine-{n}.log"));
        let cmdline = engine_cmdline(&engine);
        let mut want = vec![
            engine_bin().display().to_string(),
            "--store".to_string(),
            lab.store.display().to_string(),
            "--grace".to_string(),
            "5".to_string(),
        ];
        if json {
            want.extend(["--log-format".to_string(), "json".to_string()]);
        }
        assert_eq!(
            cmdline, want,
            "the engine takes no secret on its command line"
        );
        let t = send(&format!("secured {n}"));
        assert!(t.contains("250 2.0.0 Queued as"), "{t}");
        assert!(
            wait_until(Duration::from_secs(15), || lab
                .maildir("orga.example", "bob")
                .len()
                == n),
            "message {n} not delivered"
        );
        let m = &lab.maildir("orga.example", "bob")[n - 1];
        assert!(m.contains("AuthAs: Partner"), "{m}");
        r.record(&format!("swaks {n}"), t);
        engine.signal("TERM");
        let mut engine = engine;
        assert!(engine.wait_exit(Duration::from_secs(15)).is_some());
        let text = engine.log_text();
        assert!(text.contains("tls"), "a TLS session in the log:\n{text}");
        if json {
            let parsed = text
                .lines()
                .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
                .count();
            assert!(parsed > 3 && parsed == text.lines().count(), "{text}");
        }
        logs.push((format!("engine log {n}"), text));
    }
    let tracking = fs::read_to_string(lab.tracking_log()).unwrap();
    assert!(tracking.contains("RECEIVE"), "{tracking}");

    // what an operator looks at
    for cmd in [
        "get-exchangecertificate",
        "get-transportconfig",
        "get-receiveconnector",
        "get-sendconnector",
    ] {
        for out in ["json", "list", "table"] {
            r.xshell(&[cmd, "--output", out]);
        }
    }
    r.xshell(&["export-organizationconfig"]);

    // the needles: every private key involved, every password
    let keys_dir = lab.store.join("keys");
    let mut key_files: Vec<PathBuf> = fs::read_dir(&keys_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    // self-signed, request (completed), PFX a, PFX b
    assert_eq!(key_files.len(), 4, "{key_files:?}");
    assert_eq!(mode(&keys_dir), 0o700, "keys/ folder");
    for k in &key_files {
        assert_eq!(mode(k), 0o600, "{}", k.display());
    }
    key_files.extend([
        a.key.clone(),
        b.key.clone(),
        partner.key.clone(),
        org_ca.key.clone(),
        partner_ca.key.clone(),
    ]);
    let mut needles: Vec<(String, String)> = Vec::new();
    for k in &key_files {
        for n in key_needles(w, k) {
            needles.push((format!("key {}", k.display()), n));
        }
    }
    for p in PASSWORDS {
        needles.push(("password".to_string(), p.to_string()));
    }

    // the haystacks: every command's output, both engine logs, and every
    // file of the store outside keys/ (config.json, tracking log, queue,
    // delivered messages)
    let mut haystacks = r.texts;
    haystacks.extend(logs);
    let mut store_files = Vec::new();
    files_under(&lab.store, &keys_dir, &mut store_files);
    assert!(store_files.contains(&lab.store.join("config.json")));
    assert!(store_files.contains(&lab.tracking_log()));
    for f in store_files {
        if let Ok(bytes) = fs::read(&f) {
            haystacks.push((
                f.display().to_string(),
                String::from_utf8_lossy(&bytes).into(),
            ));
        }
    }
    let mut leaks = Vec::new();
    for (where_, text) in &haystacks {
        for (what, needle) in &needles {
            if text.contains(needle.as_str()) {
                leaks.push(format!("{what} ({needle}) in {where_}"));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
    eprintln!(
        "{} needles checked in {} outputs and files",
        needles.len(),
        haystacks.len()
    );
}

#[test]
fn password_parameters_document_the_process_list_and_the_engine_takes_no_secret() {
    for cmd in ["import-exchangecertificate", "export-exchangecertificate"] {
        let out = Command::new(xshell_bin())
            .args([cmd, "--help"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{help}");
        assert!(
            help.contains("process list") && help.contains("XSHELL_PFX_PASSWORD"),
            "{cmd} --help must prefer the file and environment forms:\n{help}"
        );
    }
    // The engine takes no secret on its command line: no option names a
    // password, secret or key value (--etcd-key names a PEM file), and the
    // etcd password is documented only in its environment and file forms.
    let out = Command::new(engine_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(out.status.success() && help.contains("--store"), "{help}");
    let options: Vec<&str> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("--"))
        .collect();
    assert!(options.len() > 5, "{help}");
    for option in &options {
        for word in ["password", "secret"] {
            assert!(
                !option.contains(word),
                "xshell-transport takes no {word}: {option}"
            );
        }
        if option.contains("key") {
            assert!(option.starts_with("--etcd-key <pem>"), "{option}");
        }
    }
    assert!(help.contains("xshell_etcd_password_file"), "{help}");
}
