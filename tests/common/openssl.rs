//! OpenSSL, the tests' independent certificate tool: a CA, certificates it
//! issues and self-signed ones, made the way an administrator would make
//! them, so xshell is checked against certificates it did not write.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Runs `openssl args` in `dir` with extra environment; panics with
/// OpenSSL's message unless it succeeds. Returns its standard output.
pub fn run_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Vec<u8> {
    let mut c = Command::new("openssl");
    c.args(args).current_dir(dir).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c
        .output()
        .expect("openssl (Debian package openssl; .ci/run installs it)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs `openssl args` in `dir` (see [`run_env`]).
pub fn run(dir: &Path, args: &[&str]) -> Vec<u8> {
    run_env(dir, args, &[])
}

/// [`run`], its output as text.
pub fn text(dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&run(dir, args)).into_owned()
}

/// A certificate and its key, PEM files.
#[derive(Debug, Clone)]
pub struct CertFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The key a certificate gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Rsa2048,
    EcP256,
}

impl Key {
    fn args(self) -> &'static [&'static str] {
        match self {
            Key::Rsa2048 => &["-newkey", "rsa:2048"],
            Key::EcP256 => &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        }
    }
}

fn files(dir: &Path, name: &str, cert_ext: &str) -> CertFiles {
    CertFiles {
        cert: dir.join(format!("{name}.{cert_ext}")),
        key: dir.join(format!("{name}.key")),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 test path")
}

/// `openssl req -x509`: a key of `key` and a self-signed certificate for
/// `cn` into `f`, valid 30 days, with the `-addext` extensions `exts`.
fn req_x509(dir: &Path, f: &CertFiles, cn: &str, key: Key, exts: &[&str]) {
    let subj = format!("/CN={cn}");
    let mut args = vec!["req", "-x509"];
    args.extend(key.args());
    args.extend(["-nodes", "-keyout", s(&f.key), "-out", s(&f.cert)]);
    args.extend(["-days", "30", "-subj", &subj]);
    for e in exts {
        args.extend(["-addext", e]);
    }
    run(dir, &args);
}

/// A CA certificate for `cn` in `dir`/`name`.pem and `name`.key, valid 30
/// days, basicConstraints CA and keyCertSign.
pub fn ca(dir: &Path, name: &str, cn: &str, key: Key) -> CertFiles {
    let f = files(dir, name, "pem");
    let exts = [
        "basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    req_x509(dir, &f, cn, key, &exts);
    f
}

/// A certificate for `cn` signed by `ca`, with `san` as the whole
/// subjectAltName value in OpenSSL's syntax (`DNS:a,DNS:b`, or `DER:<hex>`
/// for names OpenSSL would not write) or none, extended key usage
/// serverAuth and clientAuth, valid 30 days.
pub fn issue_san(
    dir: &Path,
    name: &str,
    ca: &CertFiles,
    cn: &str,
    san: Option<&str>,
    key: Key,
) -> CertFiles {
    issue_eku(dir, name, ca, cn, san, key, "serverAuth,clientAuth")
}

/// [`issue_san`] with the extended key usage `eku` (`serverAuth` alone:
/// a certificate as public CAs issue them since 2026, without clientAuth).
pub fn issue_eku(
    dir: &Path,
    name: &str,
    ca: &CertFiles,
    cn: &str,
    san: Option<&str>,
    key: Key,
    eku: &str,
) -> CertFiles {
    let f = files(dir, name, "pem");
    let csr = dir.join(format!("{name}.csr"));
    let ext = dir.join(format!("{name}.ext"));
    let usage = if key == Key::Rsa2048 {
        "digitalSignature,keyEncipherment"
    } else {
        "digitalSignature"
    };
    let mut text =
        format!("basicConstraints=CA:FALSE\nkeyUsage=critical,{usage}\nextendedKeyUsage={eku}\n");
    if let Some(san) = san {
        text.push_str(&format!("subjectAltName={san}\n"));
    }
    std::fs::write(&ext, text).expect("write the extensions file");
    let mut args = vec!["req"];
    args.extend(key.args());
    let subj = format!("/CN={cn}");
    args.extend([
        "-nodes",
        "-keyout",
        s(&f.key),
        "-out",
        s(&csr),
        "-subj",
        &subj,
    ]);
    run(dir, &args);
    run(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            s(&csr),
            "-CA",
            s(&ca.cert),
            "-CAkey",
            s(&ca.key),
            "-CAcreateserial",
            "-out",
            s(&f.cert),
            "-days",
            "30",
            "-extfile",
            s(&ext),
        ],
    );
    f
}

/// [`issue_san`] with DNS names.
pub fn issue(
    dir: &Path,
    name: &str,
    ca: &CertFiles,
    cn: &str,
    sans: &[&str],
    key: Key,
) -> CertFiles {
    let san: Vec<String> = sans.iter().map(|n| format!("DNS:{n}")).collect();
    issue_san(dir, name, ca, cn, Some(&san.join(",")), key)
}

/// A self-signed certificate for `cn` (subjectAltName DNS:`cn`, and with
/// `eku` extended key usage serverAuth and clientAuth), valid 30 days; the
/// certificate in `name`.`cert_ext`.
pub fn self_signed(
    dir: &Path,
    name: &str,
    cert_ext: &str,
    cn: &str,
    key: Key,
    eku: bool,
) -> CertFiles {
    let f = files(dir, name, cert_ext);
    let san = format!("subjectAltName=DNS:{cn}");
    let mut exts = vec![san.as_str()];
    if eku {
        exts.push("extendedKeyUsage=serverAuth,clientAuth");
    }
    req_x509(dir, &f, cn, key, &exts);
    f
}
