//! The argv front end: a clap command tree generated from the cmdlet
//! declarations, global options, and the exit-code contract
//! (0 success, 1 a cmdlet failed, 2 usage error).

use crate::host::TerminalHost;
use crate::shell::Shell;
use clap::{Arg as ClapArg, ArgAction, ArgMatches, Command};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use xshell_cmdlets::bind::{self, Source};
use xshell_cmdlets::decl::{CmdletDecl, Kind};
use xshell_cmdlets::format::{self, Format};
use xshell_cmdlets::{CATALOGUE, CmdletError, Host, Props, Value};
use xshell_core::store::Store;

/// Writes `text` to standard output. A reader that went away (`xshell ... |
/// head`) is not a failure of the command: the rest is dropped and the exit
/// code stays the command's. Any other write error is returned.
pub fn write_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Writes one line to standard error; if that fails too, there is nowhere
/// left to say so, and the exit code still tells.
pub fn write_err(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// [`write_out`] for a command's result: a failed write becomes exit code 1
/// with a message.
fn emit(text: &str, code: i32) -> i32 {
    match write_out(text) {
        Ok(()) => code,
        Err(e) => {
            write_err(&format!("error: cannot write the output: {e}"));
            1
        }
    }
}

const ABOUT: &str = "Exchange-Management-Shell-style administration of SMTP Domain Security.\n\n\
Every cmdlet is a subcommand: `xshell set-transportconfig --tls-receive-domain-secure-list a.tld`.\n\
Exit codes: 0 success, 1 a cmdlet failed, 2 usage error.";

fn positional_id(p: &str) -> String {
    format!("{p}#pos")
}

/// The clap subcommand of one cmdlet, generated from its declaration.
pub fn cmdlet_command(decl: &'static CmdletDecl) -> Command {
    let mut c = Command::new(decl.command())
        .about(decl.synopsis)
        .long_about(format!("{}\n\n{}", decl.synopsis, decl.description))
        .visible_aliases(decl.aliases.iter().copied())
        .after_help(format!("More: xshell help {} --full", decl.name));
    let mut positional: Vec<_> = decl
        .params
        .iter()
        .filter(|p| p.position.is_some())
        .collect();
    positional.sort_by_key(|p| p.position);
    positional.dedup_by_key(|p| p.position);
    for (i, p) in positional.iter().enumerate() {
        c = c.arg(
            ClapArg::new(positional_id(p.name))
                .index(i + 1)
                .value_name(p.name)
                .help(format!("{} (same as --{})", p.help, p.flag()))
                .conflicts_with(p.name),
        );
    }
    for p in decl.all_params() {
        let mut a = ClapArg::new(p.name).long(p.flag()).help(p.help);
        for alias in p.aliases {
            a = a.alias(xshell_cmdlets::decl::kebab(alias));
        }
        a = match p.kind {
            Kind::Switch | Kind::Bool => a
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .value_name("BOOL"),
            Kind::List(_) => a
                .action(ArgAction::Append)
                .value_name(p.kind.placeholder().to_uppercase()),
            _ => a.value_name(p.kind.placeholder().to_uppercase()),
        };
        if !p.kind.choices().is_empty() {
            a = a.long_help(format!(
                "{}\n[values: {}]",
                p.help,
                p.kind.choices().join(", ")
            ));
        }
        c = c.arg(a);
    }
    c
}

pub fn build_cli() -> Command {
    let mut cmd = root_command();
    for decl in CATALOGUE {
        cmd = cmd.subcommand(cmdlet_command(decl));
    }
    cmd
}

/// The command tree without the cmdlets' subcommands: global options and
/// the built-in subcommands.
fn root_command() -> Command {
    Command::new("xshell")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Exchange-Management-Shell-style administration of SMTP Domain Security")
        .long_about(ABOUT)
        .arg(
            ClapArg::new("store")
                .long("store")
                .global(true)
                .value_name("DIR|URL")
                .help("The store: a folder, file:///path, or etcd://HOST:PORT[,HOST:PORT...]/PREFIX [env: XSHELL_STORE; default: $XDG_DATA_HOME/xshell or ~/.local/share/xshell]"),
        )
        .arg(
            ClapArg::new("state-dir")
                .long("state-dir")
                .global(true)
                .value_name("DIR")
                .help("etcd store: this server's local folder (private keys, the engine's control socket); the same as its xshell-transport's [env: XSHELL_STATE_DIR; default: $XDG_DATA_HOME/xshell/etcd/PREFIX]"),
        )
        .arg(
            ClapArg::new("etcd-cacert")
                .long("etcd-cacert")
                .global(true)
                .value_name("PEM")
                .help("etcd store: the CA certificate of the etcd servers; connects with TLS [env: XSHELL_ETCD_CACERT]"),
        )
        .arg(
            ClapArg::new("etcd-cert")
                .long("etcd-cert")
                .global(true)
                .value_name("PEM")
                .help("etcd store: client certificate for etcd's client-certificate authentication [env: XSHELL_ETCD_CERT]"),
        )
        .arg(
            ClapArg::new("etcd-key")
                .long("etcd-key")
                .global(true)
                .value_name("PEM")
                .help("etcd store: the client certificate's private key [env: XSHELL_ETCD_KEY]; an etcd user and password come only from XSHELL_ETCD_USER and XSHELL_ETCD_PASSWORD_FILE (or XSHELL_ETCD_PASSWORD)"),
        )
        .arg(
            ClapArg::new("output")
                .long("output")
                .short('o')
                .global(true)
                .value_name("FORMAT")
                .value_parser(["table", "list", "json"])
                .help("Output format"),
        )
        .arg(
            ClapArg::new("command")
                .short('c')
                .long("command")
                .value_name("STATEMENTS")
                .help("Run statements in the shell language, e.g. -c 'Get-SendConnector | Format-List'"),
        )
        .arg(
            ClapArg::new("file")
                .short('f')
                .long("file")
                .value_name("SCRIPT")
                .conflicts_with("command")
                .help("Run a script file (.xsh, .ps1, ...); '-' reads standard input"),
        )
        .subcommand(
            Command::new("help")
                .about("Show a cmdlet's help (Get-Help)")
                .arg(ClapArg::new("cmdlet").value_name("CMDLET"))
                .arg(ClapArg::new("full").long("full").action(ArgAction::SetTrue).help("Parameters and examples"))
                .arg(ClapArg::new("examples").long("examples").action(ArgAction::SetTrue).help("Examples only")),
        )
        .subcommand(
            Command::new("gen-docs")
                .hide(true)
                .about("Write docs/cmdlets/*.md from the declarations")
                .arg(ClapArg::new("dir").value_name("DIR").default_value("docs/cmdlets")),
        )
        .subcommand(
            Command::new("completions")
                .about("Print a shell completion script (bash, zsh, fish, powershell, elvish)")
                .long_about(
                    "Print a shell completion script for xshell's subcommands and flags, generated from the \
                     cmdlet declarations.\n\n\
                     bash:  xshell completions bash > ~/.local/share/bash-completion/completions/xshell\n\
                     zsh:   xshell completions zsh > \"${fpath[1]}/_xshell\"\n\
                     fish:  xshell completions fish > ~/.config/fish/completions/xshell.fish",
                )
                .arg(
                    ClapArg::new("shell")
                        .value_name("SHELL")
                        .required(true)
                        .value_parser(clap::value_parser!(clap_complete::Shell)),
                ),
        )
        .subcommand(
            Command::new("man")
                .about("Write man pages: xshell.1 and one xshell-<command>.1 per subcommand")
                .arg(
                    ClapArg::new("out")
                        .long("out")
                        .value_name("DIR")
                        .required(true)
                        .help("The folder to write the pages to (created if missing)"),
                ),
        )
        .disable_help_subcommand(true)
        .infer_long_args(true)
}

/// Subcommands that are not cmdlets.
const BUILTIN_COMMANDS: &[&str] = &["help", "gen-docs", "completions", "man"];

/// Lower-cases the subcommand word so `Set-SendConnector` and `SET-SENDCONNECTOR` work.
/// Also returns the cmdlet named where the subcommand stands, if any.
fn normalize_argv(args: Vec<String>) -> (Vec<String>, Option<&'static CmdletDecl>) {
    let mut out = Vec::with_capacity(args.len());
    let mut cmdlet = None;
    let mut it = args.into_iter();
    if let Some(prog) = it.next() {
        out.push(prog);
    }
    let mut found = false;
    let mut expect_value = false;
    for a in it {
        if !found && !expect_value && !a.starts_with('-') {
            found = true;
            let lower = a.to_ascii_lowercase();
            match xshell_cmdlets::find(&a) {
                Some(d) => out.push({
                    cmdlet = Some(d);
                    if d.aliases.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
                        lower
                    } else {
                        d.command()
                    }
                }),
                None => out.push(if BUILTIN_COMMANDS.contains(&lower.as_str()) {
                    lower
                } else {
                    a
                }),
            }
            continue;
        }
        if !found && matches!(a.as_str(), "-c" | "--command" | "-f" | "--file") {
            // Everything after a script option is its value, not a subcommand.
            found = true;
        }
        expect_value = !found && (a == "--store" || a == "--output" || a == "-o");
        out.push(a);
    }
    (out, cmdlet)
}

/// Parses a cmdlet's command line against a tree that holds only that
/// cmdlet's subcommand: building all of them costs more than running a
/// Get- cmdlet. The extra subcommands cannot change how a line that parses
/// here parses, so a success is final; anything else (help, a usage error)
/// gives None and is parsed again against the whole tree, whose messages
/// are the ones users see.
fn parse_one_cmdlet(decl: &'static CmdletDecl, args: &[String]) -> Option<ArgMatches> {
    let cli = root_command().subcommand(cmdlet_command(decl));
    if ambiguous_flag(&cli, args).is_some() {
        return None;
    }
    cli.try_get_matches_from(args).ok()
}

/// A CLI list value written as the language's hashtable
/// (`'@{Add="c.tld"; Remove="a.tld"}'`): parsed and evaluated by the shell
/// language itself, so both front ends read a list edit alike.
fn edit_value(
    p: &xshell_cmdlets::decl::ParamDecl,
    text: &str,
    store: &Store,
) -> Result<Value, CmdletError> {
    use crate::lang::{ExprKind, PipelineElement, Statement, StatementKind};
    let bad = |why: String| CmdletError::bad_value(p.name, why);
    let script = crate::lang::parse_script(text)
        .map_err(|e| bad(format!("'{text}' is not a list edit: {}", e.message)))?;
    let hashtable = match script.statements.as_slice() {
        [
            Statement {
                kind: StatementKind::Pipeline(pl),
                ..
            },
        ] => match pl.elements.as_slice() {
            [PipelineElement::Expression(e)] if matches!(e.kind, ExprKind::Hashtable(_)) => Some(e),
            _ => None,
        },
        _ => None,
    };
    let expr = hashtable.ok_or_else(|| {
        bad(format!(
            "'{text}' is not a list edit; use @{{Add=\"x\"; Remove=\"y\"}}"
        ))
    })?;
    let mut host = xshell_cmdlets::BatchHost::default();
    let mut sink = Vec::new();
    let mut shell = Shell::new(store, &mut host, &mut sink, Format::Table);
    shell
        .expr(expr)
        .map_err(|e| bad(format!("'{text}': {}", e.error)))
}

/// Named values from clap matches, for the shared binder.
fn named_values(
    decl: &'static CmdletDecl,
    m: &ArgMatches,
    store: &Store,
) -> Result<Vec<(&'static xshell_cmdlets::decl::ParamDecl, Value)>, CmdletError> {
    let mut named = Vec::new();
    for p in decl.all_params() {
        let vals: Option<Vec<String>> = m
            .get_many::<String>(p.name)
            .or_else(|| {
                if p.position.is_some() {
                    m.get_many::<String>(&positional_id(p.name))
                } else {
                    None
                }
            })
            .map(|v| v.cloned().collect());
        let Some(vals) = vals else { continue };
        let value = match vals.as_slice() {
            [one] if matches!(p.kind, Kind::List(_)) && one.trim_start().starts_with("@{") => {
                edit_value(p, one, store)?
            }
            [one] if matches!(p.kind, Kind::Bytes) => stdin_bytes(p, one)?,
            [one] => Value::Str(one.clone()),
            many => Value::List(
                many.iter()
                    .flat_map(|v| {
                        v.split(',')
                            .map(|x| Value::Str(x.trim().to_string()))
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            ),
        };
        named.push((p, value));
    }
    Ok(named)
}

/// A bytes parameter on the command line (`--file-data -`): the bytes
/// come from standard input, as a list of byte values for the binder.
fn stdin_bytes(p: &xshell_cmdlets::decl::ParamDecl, arg: &str) -> Result<Value, CmdletError> {
    use std::io::Read;
    /// Certificate files are far smaller; a bigger input is a mistake.
    const MAX: u64 = 1024 * 1024;
    if arg != "-" {
        return Err(CmdletError::bad_value(
            p.name,
            format!(
                "--{} takes '-' (the file's bytes on standard input), not '{arg}'; to read a file, give its path (--path)",
                p.flag()
            ),
        ));
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .take(MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CmdletError::bad_value(p.name, format!("cannot read standard input: {e}")))?;
    if bytes.len() as u64 > MAX {
        return Err(CmdletError::bad_value(
            p.name,
            "standard input is larger than 1 MB; it is not a certificate file",
        ));
    }
    if bytes.is_empty() {
        return Err(CmdletError::bad_value(p.name, "standard input is empty"));
    }
    Ok(Value::List(
        bytes
            .into_iter()
            .map(|b| Value::Int(i64::from(b)))
            .collect(),
    ))
}

fn print_error(e: &CmdletError, cmdlet: Option<&str>) {
    let text = e.to_string();
    match cmdlet {
        // The binder's messages already start with the cmdlet's name.
        Some(c) if !text.starts_with(&format!("{c}:")) => write_err(&format!("error: {c}: {text}")),
        _ => write_err(&format!("error: {text}")),
    }
}

/// A clap usage error as one line: the error and its tips, without the
/// usage block, so scripts see one line per failure as for cmdlet errors.
fn one_line_usage_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut parts = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty());
    let mut line = parts
        .next()
        .map(str::to_string)
        .unwrap_or_else(|| format!("error: {}", e.kind()));
    for more in parts {
        line.push_str(&format!(" ({more})"));
    }
    line.push_str("; see --help");
    line
}

/// Long flags may be shortened to any unambiguous prefix (clap's
/// `infer_long_args`, as parameter names in the shell language). Clap
/// reports an ambiguous prefix only as an unexpected argument; this finds
/// one first and names the candidates.
fn ambiguous_flag(cli: &Command, args: &[String]) -> Option<String> {
    let sub = args
        .iter()
        .skip(1)
        .take_while(|a| !matches!(a.as_str(), "-c" | "--command" | "-f" | "--file"))
        .find_map(|a| cli.find_subcommand(a))?;
    // Each flag once, with every name it answers to.
    let mut flags: Vec<(String, Vec<String>)> = vec![("help".into(), vec!["help".into()])];
    for a in cli.get_arguments().chain(sub.get_arguments()) {
        if let Some(long) = a.get_long() {
            let mut names = vec![long.to_string()];
            names.extend(
                a.get_all_aliases()
                    .unwrap_or_default()
                    .iter()
                    .map(|n| n.to_string()),
            );
            flags.push((long.to_string(), names));
        }
    }
    for arg in args.iter().skip(1) {
        if arg == "--" {
            break;
        }
        let Some(name) = arg.strip_prefix("--") else {
            continue;
        };
        let name = name.split('=').next().unwrap_or_default();
        if name.is_empty() || flags.iter().any(|(_, ns)| ns.iter().any(|n| n == name)) {
            continue;
        }
        let candidates: Vec<String> = flags
            .iter()
            .filter(|(_, ns)| ns.iter().any(|n| n.starts_with(name)))
            .map(|(long, _)| format!("--{long}"))
            .collect();
        if candidates.len() > 1 {
            return Some(format!(
                "error: '--{name}' is ambiguous: it could be {}; see --help",
                candidates.join(", ")
            ));
        }
    }
    None
}

/// `xshell man --out DIR`: the main page and one per subcommand.
fn write_man_pages(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut cli = build_cli();
    cli.build();
    let write = |cmd: Command, name: &str| -> Result<(), String> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd)
            .render(&mut buf)
            .map_err(|e| format!("cannot render {}: {e}", path.display()))?;
        std::fs::write(&path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    for sub in cli.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("xshell-{}", sub.get_name());
        write(
            sub.clone()
                .name(&name)
                .bin_name(format!("xshell {}", sub.get_name())),
            &name,
        )?;
    }
    write(cli, "xshell")
}

fn write_docs(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for d in CATALOGUE {
        let p = dir.join(format!("{}.md", d.name));
        std::fs::write(&p, xshell_cmdlets::docs::markdown(d))
            .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let idx = dir.join("README.md");
    std::fs::write(&idx, xshell_cmdlets::docs::index(CATALOGUE))
        .map_err(|e| format!("cannot write {}: {e}", idx.display()))
}

/// Parses a whole script, then runs it. Exit code 2 for a syntax error
/// (nothing ran), the failing cmdlet's code for a runtime error.
pub fn run_script_text(store: &Store, format: Format, name: &str, src: &str) -> i32 {
    let script = match crate::lang::parse_script(src) {
        Ok(s) => s,
        Err(e) => {
            write_err(&e.render(name, src));
            return 2;
        }
    };
    let mut host = TerminalHost::new();
    let mut stdout = std::io::stdout();
    let mut shell = Shell::new(store, &mut host, &mut stdout, format);
    match shell.run(&script, name, src) {
        // Errors continued past (-ErrorAction Continue) still fail the script.
        Ok(()) => shell.continued_exit_code(),
        Err(e) => {
            write_err(&e.render(name, src));
            e.exit_code()
        }
    }
}

/// Runs xshell with these arguments; returns the process exit code.
pub fn run(args: Vec<String>) -> i32 {
    let (args, cmdlet) = normalize_argv(args);
    if let Some(m) = cmdlet.and_then(|d| parse_one_cmdlet(d, &args)) {
        return run_matches(&m);
    }
    let cli = build_cli();
    if let Some(line) = ambiguous_flag(&cli, &args) {
        write_err(&line);
        return 2;
    }
    let matches = match cli.try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    0
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = e.print();
                    2
                }
                _ => {
                    write_err(&one_line_usage_error(&e));
                    2
                }
            };
        }
    };
    run_matches(&matches)
}

/// Runs what a parsed command line asks for.
fn run_matches(matches: &ArgMatches) -> i32 {
    let format: Format = matches
        .get_one::<String>("output")
        .and_then(|s| s.parse().ok())
        .unwrap_or(Format::Table);
    let store_dir = matches
        .get_one::<String>("store")
        .map(PathBuf::from)
        .unwrap_or_else(xshell_core::store::default_dir);
    let mut location = match xshell_core::store::Location::parse(&store_dir) {
        Ok(l) => l,
        Err(e) => {
            write_err(&format!("error: {e}"));
            return 2;
        }
    };
    if let xshell_core::store::Location::Etcd(settings) = &mut location {
        if let Some(p) = matches.get_one::<String>("state-dir") {
            settings.state_dir = PathBuf::from(p);
        }
        for (flag, slot) in [
            ("etcd-cacert", &mut settings.cacert),
            ("etcd-cert", &mut settings.cert),
            ("etcd-key", &mut settings.key),
        ] {
            if let Some(p) = matches.get_one::<String>(flag) {
                *slot = Some(PathBuf::from(p));
            }
        }
    } else if let Some(flag) = ["state-dir", "etcd-cacert", "etcd-cert", "etcd-key"]
        .into_iter()
        .find(|f| matches.contains_id(f))
    {
        write_err(&format!(
            "error: --{flag} applies to an etcd store (--store etcd://HOST:PORT/PREFIX)"
        ));
        return 2;
    }
    let local_dir = location.local_dir();
    // The store is opened once it is needed (help and completions need none).
    let open = move || match location.open() {
        Ok(s) => Ok(s),
        Err(e) => {
            write_err(&format!("error: {e}"));
            Err(1)
        }
    };
    if matches.subcommand().is_some()
        && (matches.contains_id("command") || matches.contains_id("file"))
    {
        write_err("error: -c/-f run a script; they cannot be combined with a subcommand");
        return 2;
    }
    if let Some(code) = matches.get_one::<String>("command") {
        let store = match open() {
            Ok(s) => s,
            Err(code) => return code,
        };
        return run_script_text(&store, format, "<command>", code);
    }
    if let Some(file) = matches.get_one::<String>("file") {
        let (name, text) = if file == "-" {
            let mut s = String::new();
            if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
                write_err(&format!(
                    "error: cannot read the script from standard input: {e}"
                ));
                return 1;
            }
            ("<stdin>".to_string(), s)
        } else {
            match std::fs::read_to_string(file) {
                Ok(t) => (file.clone(), t),
                Err(e) => {
                    write_err(&format!("error: cannot read script {file}: {e}"));
                    return 1;
                }
            }
        };
        let store = match open() {
            Ok(s) => s,
            Err(code) => return code,
        };
        return run_script_text(&store, format, &name, &text);
    }
    let Some((sub, sm)) = matches.subcommand() else {
        let store = match open() {
            Ok(s) => s,
            Err(code) => return code,
        };
        if std::io::stdin().is_terminal() {
            let mut host = TerminalHost::new();
            let mut stdout = std::io::stdout();
            let mut shell = Shell::new(&store, &mut host, &mut stdout, format);
            return crate::shell::prompt::run(&mut shell, Some(local_dir.join("history")));
        }
        let mut s = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s) {
            write_err(&format!(
                "error: cannot read the script from standard input: {e}"
            ));
            return 1;
        }
        return run_script_text(&store, format, "<stdin>", &s);
    };
    match sub {
        "help" => {
            let Some(name) = sm.get_one::<String>("cmdlet") else {
                let _ = build_cli().print_long_help();
                return 0;
            };
            match xshell_cmdlets::find(name) {
                Some(d) => emit(
                    &xshell_cmdlets::docs::help_text(
                        d,
                        sm.get_flag("full"),
                        sm.get_flag("examples"),
                    ),
                    0,
                ),
                None => {
                    write_err(&format!(
                        "error: no cmdlet named '{name}'; `xshell --help` lists them"
                    ));
                    2
                }
            }
        }
        "completions" => {
            let Some(shell) = sm.get_one::<clap_complete::Shell>("shell") else {
                return 2;
            };
            // Into a buffer first: clap_complete panics when its writer fails
            // (a closed pipe, `| head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut build_cli(), "xshell", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    write_err(&format!("error: cannot write the completion script: {e}"));
                    1
                }
            }
        }
        "man" => {
            let dir = sm
                .get_one::<String>("out")
                .map(PathBuf::from)
                .unwrap_or_default();
            match write_man_pages(&dir) {
                Ok(()) => 0,
                Err(e) => {
                    write_err(&format!("error: {e}"));
                    1
                }
            }
        }
        "gen-docs" => {
            let dir = sm
                .get_one::<String>("dir")
                .map(PathBuf::from)
                .unwrap_or_default();
            match write_docs(&dir) {
                Ok(()) => 0,
                Err(e) => {
                    write_err(&format!("error: {e}"));
                    1
                }
            }
        }
        _ => {
            let Some(decl) = CATALOGUE
                .iter()
                .copied()
                .find(|d| d.command() == sub || d.aliases.contains(&sub))
            else {
                write_err(&format!("error: unknown command '{sub}'"));
                return 2;
            };
            let store = match open() {
                Ok(s) => s,
                Err(code) => return code,
            };
            let mut host = TerminalHost::new();
            // Shown as a table, the objects need only their table's columns.
            let props = match format {
                Format::Table => Props::TableColumns,
                Format::List | Format::Json => Props::All,
            };
            let result = named_values(decl, sm, &store)
                .and_then(|named| bind::bind(decl, named, None, Source::Cli))
                .and_then(|b| {
                    xshell_cmdlets::invoke_with(decl, &store, &mut host as &mut dyn Host, &b, props)
                });
            match result {
                Ok(values) if format == Format::Json || !values.is_empty() => {
                    emit(&format::render(&values, format), 0)
                }
                Ok(_) => 0,
                // A failed verdict: the result still goes out, then the error.
                Err(CmdletError::Verdict { message, output }) => {
                    let code = emit(&format::render(&output, format), 1);
                    print_error(
                        &CmdletError::Verdict {
                            message,
                            output: Vec::new(),
                        },
                        Some(decl.name),
                    );
                    code.max(1)
                }
                Err(e) => {
                    print_error(&e, Some(decl.name));
                    e.exit_code()
                }
            }
        }
    }
}
