//! xshell-cmdlets: the cmdlet catalogue.
//!
//! Every cmdlet is one `static DECL: CmdletDecl` in its own file, registered
//! in [`CATALOGUE`]. The CLI, the shell language, `Get-Help` and the Markdown
//! reference are generated from those declarations.

pub mod bind;
pub mod context;
pub mod datetime;
pub mod decl;
pub mod docs;
pub mod error;
pub mod format;
pub mod named;
pub mod opath;
pub mod value;
pub mod value_ser;

pub mod accepted_domain;
pub mod certificate;
pub mod diagnostics;
pub mod mail;
pub mod organization;
pub mod queue;
pub mod receive_connector;
pub mod send_connector;
pub mod server;
pub mod tlsrpt;
pub mod tracking;
pub mod transport_config;

pub use bind::{Arg, Bound};
pub use context::{BatchHost, ConfirmFlag, Ctx, Host};
pub use decl::CmdletDecl;
pub use error::CmdletError;
pub use value::{Object, Props, Value};

use xshell_core::store::Store;

/// Every cmdlet, in reference order.
pub static CATALOGUE: &[&CmdletDecl] = &[
    &transport_config::get_config::DECL,
    &transport_config::set_config::DECL,
    &transport_config::get_service::DECL,
    &transport_config::set_service::DECL,
    &transport_config::remove_service::DECL,
    &accepted_domain::new::DECL,
    &accepted_domain::get::DECL,
    &accepted_domain::set::DECL,
    &accepted_domain::remove::DECL,
    &send_connector::new::DECL,
    &send_connector::get::DECL,
    &send_connector::set::DECL,
    &send_connector::remove::DECL,
    &receive_connector::new::DECL,
    &receive_connector::get::DECL,
    &receive_connector::set::DECL,
    &receive_connector::remove::DECL,
    &certificate::import_root::DECL,
    &certificate::get_root::DECL,
    &certificate::remove_root::DECL,
    &certificate::new::DECL,
    &certificate::request::DECL,
    &certificate::import::DECL,
    &certificate::enable::DECL,
    &certificate::get::DECL,
    &certificate::export::DECL,
    &certificate::remove::DECL,
    &certificate::lab_ca_new::DECL,
    &certificate::lab_ca_sign::DECL,
    &organization::export::DECL,
    &organization::sync::DECL,
    &queue::get::DECL,
    &queue::get_message::DECL,
    &queue::retry::DECL,
    &queue::suspend::DECL,
    &queue::resume::DECL,
    &queue::remove_message::DECL,
    &tracking::get_log::DECL,
    &diagnostics::test_smtp::DECL,
    &diagnostics::test_domain_security::DECL,
    &diagnostics::test_outbound_tls_policy::DECL,
    &tlsrpt::get::DECL,
    &tlsrpt::send::DECL,
    &tlsrpt::dkim::DECL,
    &mail::send::DECL,
];

/// Finds a cmdlet by its name (`Set-SendConnector`), CLI command
/// (`set-sendconnector`) or alias, case-insensitively.
pub fn find(name: &str) -> Option<&'static CmdletDecl> {
    CATALOGUE.iter().copied().find(|d| {
        d.name.eq_ignore_ascii_case(name) || d.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Runs a bound cmdlet: applies the common parameters, then the cmdlet.
pub fn invoke(
    decl: &'static CmdletDecl,
    store: &Store,
    host: &mut dyn Host,
    bound: &Bound,
) -> Result<Vec<Value>, CmdletError> {
    invoke_with(decl, store, host, bound, Props::All)
}

/// [`invoke`] for a caller that reads only `props` of the output objects.
pub fn invoke_with(
    decl: &'static CmdletDecl,
    store: &Store,
    host: &mut dyn Host,
    bound: &Bound,
    props: Props,
) -> Result<Vec<Value>, CmdletError> {
    // A certificate named as its Identity reads, `<server>\<thumbprint>`.
    let local = certificate::local_thumbprint(store, bound)?;
    let bound = local.as_ref().unwrap_or(bound);
    queue::check_server(decl, store, bound)?;
    let mut ctx = Ctx::new(store, host, decl.name);
    ctx.props = props;
    ctx.what_if = bound.switch(decl::common::WhatIf);
    ctx.force = bound.switch(decl::Force);
    ctx.high_impact = decl.impact == decl::Impact::High;
    ctx.confirm = match bound.raw(decl::common::Confirm) {
        Some(Arg::Bool(true)) => ConfirmFlag::Ask,
        Some(Arg::Bool(false)) => ConfirmFlag::DoNotAsk,
        _ => ConfirmFlag::NotGiven,
    };
    (decl.run)(&mut ctx, bound)
}
