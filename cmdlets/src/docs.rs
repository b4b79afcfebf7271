//! Help text and the Markdown reference, generated from the declarations.

use crate::decl::{CmdletDecl, Kind, ParamDecl};

/// The CLI form of a shell-language example statement, e.g.
/// `Set-SendConnector Outbound -DomainSecureEnabled:$True` ->
/// `xshell set-sendconnector Outbound --domain-secure-enabled=true`.
/// Examples are written in a restricted form (one cmdlet, literal values),
/// so this mechanical translation is exact for them.
pub fn example_cli(decl: &CmdletDecl, code: &str) -> Option<Vec<String>> {
    let words = split_words(code)?;
    let (first, rest) = words.split_first()?;
    if !first.eq_ignore_ascii_case(decl.name) {
        return None;
    }
    let mut out = vec![decl.command()];
    let mut i = 0;
    while i < rest.len() {
        let w = &rest[i];
        if let Some(name) = w
            .strip_prefix('-')
            .filter(|n| n.starts_with(|c: char| c.is_ascii_alphabetic()))
        {
            let (name, colon) = match name.split_once(':') {
                Some((n, v)) => (n, Some(v)),
                None => (name, None),
            };
            let p = decl.all_params().into_iter().find(|p| p.is_named(name))?;
            let flag = format!("--{}", p.flag());
            match (colon, p.kind) {
                (Some(v), _) => out.push(format!("{flag}={}", cli_value(v))),
                (None, Kind::Switch) => out.push(flag),
                (None, Kind::Bool) => match rest.get(i + 1).map(|v| v.to_ascii_lowercase()) {
                    Some(v) if v == "$true" || v == "$false" => {
                        out.push(format!("{flag}={}", cli_value(&v)));
                        i += 1;
                    }
                    _ => out.push(flag),
                },
                (None, _) => {
                    out.push(flag);
                    out.push(cli_value(rest.get(i + 1)?));
                    i += 1;
                }
            }
        } else {
            out.push(cli_value(w));
        }
        i += 1;
    }
    Some(out)
}

fn cli_value(v: &str) -> String {
    match v.to_ascii_lowercase().as_str() {
        "$true" => "true".into(),
        "$false" => "false".into(),
        _ => v.to_string(),
    }
}

/// Splits an example into words; quotes group and are removed; `@{...}` stays one word.
fn split_words(code: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut chars = code.chars().peekable();
    let mut depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' if depth == 0 => {
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == c {
                        closed = true;
                        break;
                    }
                    cur.push(d);
                }
                if !closed {
                    return None;
                }
            }
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            c if c.is_whitespace() && depth == 0 => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    Some(words)
}

/// Shell-quotes a CLI word for display.
pub fn sh_quote(w: &str) -> String {
    if !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.,:/=@*+".contains(c))
    {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', "'\\''"))
    }
}

fn syntax_line(decl: &CmdletDecl, set: Option<&str>) -> String {
    let mut s = decl.name.to_string();
    let params: Vec<&ParamDecl> = decl
        .all_params()
        .into_iter()
        .filter(|p| set.is_none_or(|set| p.in_set(set)))
        .collect();
    let mut positional: Vec<&&ParamDecl> = params.iter().filter(|p| p.position.is_some()).collect();
    positional.sort_by_key(|p| p.position);
    for p in positional {
        let t = format!("[-{}] <{}>", p.name, p.kind.placeholder());
        s.push(' ');
        s.push_str(&if p.mandatory { t } else { format!("[{t}]") });
    }
    for p in params.iter().filter(|p| p.position.is_none()) {
        let t = match p.kind {
            Kind::Switch => format!("-{}", p.name),
            _ => format!("-{} <{}>", p.name, p.kind.placeholder()),
        };
        s.push(' ');
        s.push_str(&if p.mandatory { t } else { format!("[{t}]") });
    }
    s
}

fn param_facts(p: &ParamDecl) -> Vec<String> {
    let mut facts = vec![format!("Type: {}", p.kind.placeholder())];
    if p.mandatory {
        facts.push("Required".into());
    }
    if let Some(pos) = p.position {
        facts.push(format!("Position: {}", pos + 1));
    }
    if let Some(d) = p.default {
        facts.push(format!("Default: {d}"));
    }
    let choices = p.kind.choices();
    if !choices.is_empty() {
        facts.push(format!("Values: {}", choices.join(", ")));
    }
    match p.pipeline {
        crate::decl::Pipe::No => {}
        crate::decl::Pipe::ByValue => facts.push("Pipeline: by value".into()),
        crate::decl::Pipe::ByPropertyName => facts.push("Pipeline: by property name".into()),
        crate::decl::Pipe::Both => facts.push("Pipeline: by value and by property name".into()),
    }
    if !p.aliases.is_empty() {
        facts.push(format!("Aliases: {}", p.aliases.join(", ")));
    }
    if !p.sets.is_empty() {
        facts.push(format!("Sets: {}", p.sets.join(", ")));
    }
    facts
}

/// Get-Help text. `full` adds parameter details; `examples_only` shows just examples.
pub fn help_text(decl: &CmdletDecl, full: bool, examples_only: bool) -> String {
    let mut s = format!(
        "\nNAME\n    {}\n\nSYNOPSIS\n    {}\n",
        decl.name, decl.synopsis
    );
    if !examples_only {
        s.push_str("\nSYNTAX\n");
        if decl.sets.is_empty() {
            s.push_str(&format!("    {}\n", syntax_line(decl, None)));
        } else {
            for set in decl.sets {
                s.push_str(&format!("    {}\n", syntax_line(decl, Some(set))));
            }
        }
        s.push_str(&format!("\n    CLI: xshell {} ...\n", decl.command()));
        s.push_str(&format!("\nDESCRIPTION\n{}\n", indent(decl.description)));
        if full {
            s.push_str("\nPARAMETERS\n");
            for p in decl.all_params() {
                s.push_str(&format!(
                    "    -{} (--{})\n{}\n        {}\n\n",
                    p.name,
                    p.flag(),
                    indent2(p.help),
                    param_facts(p).join("; ")
                ));
            }
            s.push_str(&format!("OUTPUTS\n    {}\n", decl.outputs));
        }
    }
    if full || examples_only {
        for (i, ex) in decl.examples.iter().enumerate() {
            s.push_str(&format!(
                "\n    -------------------------- EXAMPLE {} --------------------------\n",
                i + 1
            ));
            s.push_str(&format!("    {}\n\n    PS> {}\n", ex.title, ex.code));
            if let Some(cli) = example_cli(decl, ex.code) {
                s.push_str(&format!(
                    "    $ xshell {}\n",
                    cli.iter()
                        .skip(1)
                        .fold(cli[0].clone(), |a, w| a + " " + &sh_quote(w))
                ));
            }
        }
    }
    s
}

fn indent(t: &str) -> String {
    t.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
fn indent2(t: &str) -> String {
    t.lines()
        .map(|l| format!("        {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `docs/cmdlets/<Name>.md`.
pub fn markdown(decl: &CmdletDecl) -> String {
    let mut s = format!("# {}\n\n{}\n\n", decl.name, decl.synopsis);
    s.push_str(
        "<!-- Generated from the cmdlet declaration by `xshell gen-docs`; do not edit. -->\n\n",
    );
    s.push_str("## Syntax\n\n```\n");
    if decl.sets.is_empty() {
        s.push_str(&syntax_line(decl, None));
        s.push('\n');
    } else {
        for set in decl.sets {
            s.push_str(&format!("# {set}\n{}\n", syntax_line(decl, Some(set))));
        }
    }
    s.push_str("```\n\n");
    let mut cli = format!("xshell {}", decl.command());
    for a in decl.aliases {
        cli.push_str(&format!(" (also: xshell {a})"));
    }
    s.push_str(&format!(
        "CLI: `{cli}`\n\n## Description\n\n{}\n\n## Parameters\n\n",
        decl.description
    ));
    s.push_str("| Parameter | CLI flag | Details | Description |\n|---|---|---|---|\n");
    for p in decl.all_params() {
        let flag = if p.position.is_some() {
            format!("`<{}>` or `--{}`", p.name, p.flag())
        } else {
            format!("`--{}`", p.flag())
        };
        s.push_str(&format!(
            "| `-{}` | {} | {} | {} |\n",
            p.name,
            flag,
            param_facts(p).join("; ").replace('|', "\\|"),
            p.help.replace('\n', " ").replace('|', "\\|")
        ));
    }
    s.push_str(&format!("\n## Outputs\n\n{}\n", decl.outputs));
    if !decl.examples.is_empty() {
        s.push_str("\n## Examples\n");
        for ex in decl.examples {
            s.push_str(&format!(
                "\n### {}\n\n```powershell\n{}\n```\n",
                ex.title, ex.code
            ));
            if let Some(cli) = example_cli(decl, ex.code) {
                let line = cli
                    .iter()
                    .map(|w| sh_quote(w))
                    .collect::<Vec<_>>()
                    .join(" ");
                s.push_str(&format!("\n```sh\nxshell {line}\n```\n"));
            }
        }
    }
    s
}

/// The index page `docs/cmdlets/README.md`.
pub fn index(decls: &[&CmdletDecl]) -> String {
    let mut s = String::from(
        "# Cmdlet reference\n\n<!-- Generated by `xshell gen-docs`; do not edit. -->\n\n| Cmdlet | CLI | Synopsis |\n|---|---|---|\n",
    );
    for d in decls {
        s.push_str(&format!(
            "| [{}]({}.md) | `xshell {}` | {} |\n",
            d.name,
            d.name,
            d.command(),
            d.synopsis
        ));
    }
    s
}
