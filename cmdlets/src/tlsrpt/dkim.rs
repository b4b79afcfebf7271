//! New-DkimSigningKey: the key the engine DKIM-signs its TLS reports with
//! (RFC 8460 5.3), and the DNS record to publish for it.

use serde::Serialize;

use crate::bind::Bound;
use crate::context::Ctx;
use crate::decl::*;
use crate::error::CmdletError;
use crate::value::{Object, Value, View};
use xshell_core::dkim::{self, Algorithm, SigningKey};
use xshell_core::store::StoreError;

params!(p {
    Domain: String = param(
        Kind::Str,
        "The signing domain (d=): the domain of Set-TransportConfig -TlsRptReportingAddress, whose DNS gets the key record."
    )
    .mandatory(),
    Selector: String = param(
        Kind::Str,
        "The selector (s=): the key record is <Selector>._domainkey.<Domain>. A new selector per key lets the old record stay published while mail signed with it is under way."
    )
    .mandatory(),
    Algorithm: String = param(
        Kind::Enum(&["Ed25519", "Rsa2048"]),
        "Ed25519 (ed25519-sha256, RFC 8463) or Rsa2048 (rsa-sha256, 2048 bits). Every verifier knows RSA; RFC 8463 requires verifiers to know Ed25519, but some still do not."
    )
    .default("Rsa2048"),
    Force: bool = param(Kind::Switch, "Replace an existing key for this selector and domain (its published record stops matching)."),
});

pub static DECL: CmdletDecl = CmdletDecl {
    name: "New-DkimSigningKey",
    aliases: &[],
    synopsis: "Create the DKIM key the TLS reports are signed with, and show the DNS record to publish.",
    description: "xshell extension (Exchange Online has New-DkimSigningConfig; Postfix uses OpenDKIM). RFC 8460 5.3 \
requires mailed TLS reports to carry a DKIM signature of the reporting domain; receivers discard unsigned ones. \
New-DkimSigningKey makes a private key (PKCS#8, mode 0600) in the keys folder of this server's state folder \
(STATE/keys/<Selector>._domainkey.<Domain>.dkim), never in the store: on an etcd store, copy the file to the same \
place on every server that sends reports. It outputs the TXT record to publish at <Selector>._domainkey.<Domain> \
(v=DKIM1; k=rsa or ed25519; s=tlsrpt, the service type RFC 8460 registers for TLS reports; p=the public key) and a zone file line with the \
record split into strings of at most 255 octets. Once the record is published, Set-TransportConfig \
-TlsRptDkimSelector <Selector> makes the engine sign every mailed report whose TlsRptReportingAddress is in \
<Domain>. Rotation: make a key with a new selector, publish its record, switch -TlsRptDkimSelector, and remove \
the old record a few days later. An existing key for the same selector and domain is kept unless -Force.",
    params: p::LIST,
    sets: &[],
    impact: Impact::Medium,
    outputs: "A DkimSigningKey object: Domain, Selector, Algorithm, KeyFile, DnsName, TxtRecord, ZoneLine.",
    examples: &[Example {
        title: "An RSA key for contoso.com's TLS reports, selector tlsrpt2026",
        code: "New-DkimSigningKey -Domain contoso.com -Selector tlsrpt2026",
        setup: &[],
        expect: &["tlsrpt2026._domainkey.contoso.com. IN TXT \"v=DKIM1; k=rsa; s=tlsrpt; p="],
    }],
    run,
};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyInfo {
    domain: String,
    selector: String,
    algorithm: &'static str,
    key_file: String,
    dns_name: String,
    txt_record: String,
    zone_line: String,
}

fn run(ctx: &mut Ctx<'_>, b: &Bound) -> Result<Vec<Value>, CmdletError> {
    let domain: String = b.get(p::Domain).unwrap_or_default();
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    dkim::check_name(&domain, "domain")
        .map_err(|e| CmdletError::bad_value("Domain", e.to_string()))?;
    if !domain.contains('.') {
        return Err(CmdletError::bad_value(
            "Domain",
            format!("'{domain}' is not a domain name (no dot)"),
        ));
    }
    let selector: String = b.get(p::Selector).unwrap_or_default();
    let selector = selector.trim().to_ascii_lowercase();
    dkim::check_name(&selector, "selector")
        .map_err(|e| CmdletError::bad_value("Selector", e.to_string()))?;
    let alg = match b.get(p::Algorithm).as_deref() {
        Some(a) if a.eq_ignore_ascii_case("Ed25519") => Algorithm::Ed25519,
        _ => Algorithm::Rsa,
    };
    let backend = ctx.store.backend();
    let Some(state) = backend.state_dir() else {
        return Err(CmdletError::Failed(
            "this store has no local state folder to keep the private key in".into(),
        ));
    };
    let name = dkim::key_file_name(&selector, &domain);
    let file = state.join("keys").join(&name);
    match backend.get_secret(&name) {
        Ok(_) if !b.switch(p::Force) => {
            return Err(CmdletError::bad_value(
                "Selector",
                format!(
                    "a key for selector '{selector}' of {domain} exists ({}); its record may be published: \
                     use a new selector (rotation), or -Force to replace it",
                    file.display()
                ),
            ));
        }
        Ok(_) | Err(StoreError::MissingKey(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let target = dkim::record_name(&selector, &domain);
    if ctx.what_if {
        ctx.host.info(&format!(
            "What if: Performing the operation \"New DKIM signing key\" on target \"{target}\"."
        ));
        return Ok(Vec::new());
    }
    if !ctx.should_process("New DKIM signing key", &target)? {
        return Ok(Vec::new());
    }
    let fail = |e: dkim::DkimError| CmdletError::Failed(e.to_string());
    let key = SigningKey::generate(alg).map_err(fail)?;
    let record = key.txt_record().map_err(fail)?;
    let pem = zeroize::Zeroizing::new(key.to_pem().map_err(fail)?);
    backend.put_secret(&name, pem.as_bytes())?;
    let cfg = ctx.store.snapshot()?;
    let tc = &cfg.transport_config;
    match &tc.tls_rpt_reporting_address {
        Some(a) if !a.domain().eq_ignore_ascii_case(&domain) => ctx.warn(&format!(
            "TlsRptReportingAddress is {a}: reports are signed with the key of its domain, not {domain}"
        )),
        _ => {}
    }
    if tc.tls_rpt_dkim_selector.as_deref() != Some(selector.as_str()) {
        ctx.host.info(&format!(
            "Publish the TXT record, then: Set-TransportConfig -TlsRptDkimSelector {selector}"
        ));
    }
    let info = KeyInfo {
        domain: domain.clone(),
        selector: selector.clone(),
        algorithm: alg.tag(),
        key_file: file.display().to_string(),
        dns_name: target,
        zone_line: dkim::zone_line(&selector, &domain, &record),
        txt_record: record,
    };
    Ok(vec![Value::Object(Object::from_serde(
        "DkimSigningKey",
        View::List,
        None,
        &info,
    ))])
}
