//! Parser tests: the walkthrough, each language feature, errors with their carets, the
//! nesting cap, completion contexts and a random "token soup" that must never panic.

use super::*;

// ----- helpers ----------------------------------------------------------------------------

fn parse(src: &str) -> Script {
    match parse_script(src) {
        Ok(script) => {
            check_spans(&script, src);
            script
        }
        Err(e) => panic!("parse failed:\n{}", e.render("test.xsh", src)),
    }
}

fn err(src: &str) -> ParseError {
    match parse_script(src) {
        Ok(s) => panic!("expected an error for {src:?}, got {s:#?}"),
        Err(e) => e,
    }
}

fn rendered(src: &str) -> String {
    err(src).render("t.xsh", src)
}

fn pipeline(stmt: &Statement) -> &Pipeline {
    match &stmt.kind {
        StatementKind::Pipeline(p) => p,
        other => panic!("not a pipeline: {other:?}"),
    }
}

fn command(el: &PipelineElement) -> &Command {
    match el {
        PipelineElement::Command(c) => c,
        other => panic!("not a command: {other:?}"),
    }
}

/// The single command of a one-statement, one-stage script.
fn only_command(script: &Script) -> &Command {
    assert_eq!(script.statements.len(), 1);
    let p = pipeline(&script.statements[0]);
    assert_eq!(p.elements.len(), 1);
    command(&p.elements[0])
}

fn expr_stmt(script: &Script) -> &Expr {
    assert_eq!(script.statements.len(), 1);
    match &pipeline(&script.statements[0]).elements[..] {
        [PipelineElement::Expression(e)] => e,
        other => panic!("not a single expression: {other:?}"),
    }
}

fn param(arg: &Arg) -> (&str, Option<&Expr>) {
    match arg {
        Arg::Parameter {
            name, colon_value, ..
        } => (name, colon_value.as_ref()),
        other => panic!("not a parameter: {other:?}"),
    }
}

fn value(arg: &Arg) -> &Expr {
    match arg {
        Arg::Value(e) => e,
        other => panic!("not a value: {other:?}"),
    }
}

fn text(e: &Expr) -> &str {
    match &e.kind {
        ExprKind::String { value, .. } => value,
        other => panic!("not a string: {other:?}"),
    }
}

fn bare(e: &Expr) -> &str {
    match &e.kind {
        ExprKind::String {
            value,
            style: StringStyle::Bareword,
        } => value,
        other => panic!("not a bareword: {other:?}"),
    }
}

fn items(e: &Expr) -> &[Expr] {
    match &e.kind {
        ExprKind::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn var(e: &Expr) -> &str {
    match &e.kind {
        ExprKind::Variable { name } => name,
        other => panic!("not a variable: {other:?}"),
    }
}

fn int(e: &Expr) -> i64 {
    match e.kind {
        ExprKind::Number(Number::Int(v)) => v,
        ref other => panic!("not an integer: {other:?}"),
    }
}

fn binary(e: &Expr) -> (BinaryOp, &Expr, &Expr) {
    match &e.kind {
        ExprKind::Binary { op, lhs, rhs, .. } => (*op, lhs, rhs),
        other => panic!("not binary: {other:?}"),
    }
}

fn member(e: &Expr) -> (&Expr, &str) {
    match &e.kind {
        ExprKind::Member { target, name, .. } => (target, name),
        other => panic!("not a member: {other:?}"),
    }
}

fn eq() -> BinaryOp {
    BinaryOp::Compare {
        op: CompareOp::Eq,
        case_sensitive: false,
    }
}

// ----- span invariants --------------------------------------------------------------------

struct SpanCheck<'a> {
    src: &'a str,
}

impl SpanCheck<'_> {
    fn span(&self, s: Span, parent: Span, what: &str) {
        assert!(s.start <= s.end, "{what}: inverted {s:?}");
        assert!(s.end <= self.src.len(), "{what}: {s:?} past end");
        assert!(self.src.is_char_boundary(s.start) && self.src.is_char_boundary(s.end));
        assert!(
            parent.start <= s.start && s.end <= parent.end,
            "{what}: {s:?} outside parent {parent:?} in {:?}",
            self.src
        );
    }
    fn script(&self, s: &Script, parent: Span) {
        self.span(s.span, parent, "script");
        for st in &s.statements {
            self.statement(st, s.span);
        }
    }
    fn statement(&self, st: &Statement, parent: Span) {
        self.span(st.span, parent, "statement");
        match &st.kind {
            StatementKind::Pipeline(p) => self.pipeline(p, st.span),
            StatementKind::Assignment(a) => {
                self.expr(&a.target, st.span);
                self.span(a.op_span, st.span, "=");
                // `++$x` is `$x += 1` with the operator before the target.
                if !matches!(a.op_span.text(self.src), "++" | "--") {
                    assert!(
                        a.target.span.end <= a.op_span.start && a.op_span.end <= a.value.span.start
                    );
                }
                self.pipeline(&a.value, st.span);
            }
            StatementKind::If { clauses, else_body } => {
                for (c, b) in clauses {
                    self.pipeline(c, st.span);
                    self.script(b, st.span);
                }
                if let Some(b) = else_body {
                    self.script(b, st.span);
                }
            }
            StatementKind::Foreach {
                variable_span,
                collection,
                body,
                ..
            } => {
                self.span(*variable_span, st.span, "loop variable");
                self.pipeline(collection, st.span);
                self.script(body, st.span);
            }
            StatementKind::While { condition, body }
            | StatementKind::DoLoop {
                condition, body, ..
            } => {
                self.pipeline(condition, st.span);
                self.script(body, st.span);
            }
            StatementKind::For {
                init,
                condition,
                step,
                body,
            } => {
                if let Some(i) = init {
                    self.statement(i, st.span);
                }
                if let Some(c) = condition {
                    self.pipeline(c, st.span);
                }
                if let Some(s) = step {
                    self.statement(s, st.span);
                }
                self.script(body, st.span);
            }
            StatementKind::Break | StatementKind::Continue => {}
            StatementKind::Return(v) | StatementKind::Exit(v) | StatementKind::Throw(v) => {
                if let Some(p) = v {
                    self.pipeline(p, st.span);
                }
            }
            StatementKind::Try {
                body,
                catches,
                finally,
            } => {
                self.script(body, st.span);
                for c in catches {
                    for (_, span) in &c.types {
                        self.span(*span, st.span, "catch type");
                    }
                    self.script(&c.body, st.span);
                }
                if let Some(f) = finally {
                    self.script(f, st.span);
                }
            }
            StatementKind::Function(f) => {
                self.span(f.name_span, st.span, "function name");
                assert_eq!(f.name_span.text(self.src), f.name);
                for p in &f.params {
                    self.span(p.span, st.span, "parameter");
                    if let Some(d) = &p.default {
                        self.expr(d, p.span);
                    }
                }
                self.script(&f.body, st.span);
            }
            StatementKind::Param(params) => {
                for p in params {
                    self.span(p.span, st.span, "parameter");
                }
            }
            StatementKind::Switch {
                subject, clauses, ..
            } => {
                self.pipeline(subject, st.span);
                for c in clauses {
                    if let Some(p) = &c.pattern {
                        self.expr(p, st.span);
                    }
                    self.script(&c.body, st.span);
                }
            }
        }
    }
    fn pipeline(&self, p: &Pipeline, parent: Span) {
        self.span(p.span, parent, "pipeline");
        assert!(!p.elements.is_empty());
        for r in &p.redirections {
            self.span(r.span, p.span, "redirection");
            if let RedirectTarget::File { path, .. } = &r.target {
                self.expr(path, r.span);
            }
        }
        for (i, el) in p.elements.iter().enumerate() {
            match el {
                PipelineElement::Expression(e) => {
                    assert_eq!(i, 0, "expression after '|'");
                    self.expr(e, p.span)
                }
                PipelineElement::Command(c) => {
                    self.span(c.span, p.span, "command");
                    self.span(c.name.span, c.span, "command name");
                    for a in &c.args {
                        self.span(a.span(), c.span, "arg");
                        if let Arg::Parameter {
                            name_span,
                            colon_value,
                            span,
                            name,
                        } = a
                        {
                            self.span(*name_span, *span, "param name");
                            assert_eq!(name_span.text(self.src), name);
                            if let Some(v) = colon_value {
                                self.expr(v, *span);
                            }
                        } else if let Arg::Value(v) = a {
                            self.expr(v, c.span);
                        }
                    }
                }
            }
        }
    }
    fn expr(&self, e: &Expr, parent: Span) {
        self.span(e.span, parent, "expr");
        let s = e.span;
        match &e.kind {
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) => {}
            ExprKind::String { .. } | ExprKind::Variable { .. } | ExprKind::Splat { .. } => {}
            ExprKind::Expandable { parts, .. } => {
                for p in parts {
                    if let StringPart::Expr(x) = p {
                        self.expr(x, s);
                    }
                }
            }
            ExprKind::Member {
                target,
                name_span,
                name,
            } => {
                self.expr(target, s);
                self.span(*name_span, s, "member name");
                assert_eq!(name_span.text(self.src), name);
            }
            ExprKind::MethodCall {
                target,
                name_span,
                args,
                ..
            } => {
                self.expr(target, s);
                self.span(*name_span, s, "method name");
                for a in args {
                    self.expr(a, s);
                }
            }
            ExprKind::Index { target, index } => {
                self.expr(target, s);
                self.expr(index, s);
            }
            ExprKind::Unary {
                op_span, operand, ..
            } => {
                self.span(*op_span, s, "unary op");
                self.expr(operand, s);
            }
            ExprKind::Binary {
                op_span, lhs, rhs, ..
            } => {
                self.span(*op_span, s, "binary op");
                self.expr(lhs, s);
                self.expr(rhs, s);
                assert!(lhs.span.end <= op_span.start && op_span.end <= rhs.span.start);
            }
            ExprKind::Array(items) => {
                assert!(items.len() >= 2);
                for i in items {
                    self.expr(i, s);
                }
            }
            ExprKind::ArraySubexpression(sc) | ExprKind::Subexpression(sc) => self.script(sc, s),
            ExprKind::ScriptBlock(sc) => self.script(sc, s),
            ExprKind::Paren(st) => self.statement(st, s),
            ExprKind::Hashtable(entries) => {
                for en in entries {
                    self.span(en.span, s, "entry");
                    self.expr(&en.key, en.span);
                    self.pipeline(&en.value, en.span);
                }
            }
            ExprKind::TypeLiteral(t) => self.span(t.span, s, "type"),
            ExprKind::Cast { type_name, operand } => {
                self.span(type_name.span, s, "type");
                self.expr(operand, s);
            }
            ExprKind::Static {
                type_name,
                member,
                member_span,
                args,
            } => {
                self.span(type_name.span, s, "type");
                self.span(*member_span, s, "static member");
                assert_eq!(member_span.text(self.src), member);
                for a in args.iter().flatten() {
                    self.expr(a, s);
                }
            }
            ExprKind::IncDec { variable, .. } => self.expr(variable, s),
        }
    }
}

fn check_spans(script: &Script, src: &str) {
    assert_eq!(script.span, Span::new(0, src.len()));
    SpanCheck { src }.script(script, script.span);
}

// ----- the walkthrough --------------------------------------------------------------------

#[test]
fn walkthrough_new_exchange_certificate_request() {
    let src = r#"New-ExchangeCertificate -GenerateRequest -SubjectName "C=DE,O=OrgA,CN=mail.orga.example" -DomainName mail.orga.example,orga.example -Path orga.req"#;
    let script = parse(src);
    let c = only_command(&script);
    assert_eq!(c.name.text, "New-ExchangeCertificate");
    assert_eq!(c.args.len(), 7);
    assert_eq!(param(&c.args[0]), ("GenerateRequest", None));
    assert_eq!(param(&c.args[1]).0, "SubjectName");
    let subject = value(&c.args[2]);
    assert_eq!(text(subject), "C=DE,O=OrgA,CN=mail.orga.example");
    assert!(matches!(
        subject.kind,
        ExprKind::String {
            style: StringStyle::DoubleQuoted,
            ..
        }
    ));
    assert_eq!(param(&c.args[3]).0, "DomainName");
    let names: Vec<&str> = items(value(&c.args[4])).iter().map(bare).collect();
    assert_eq!(names, ["mail.orga.example", "orga.example"]);
    assert_eq!(
        value(&c.args[4]).span.text(src),
        "mail.orga.example,orga.example"
    );
    assert_eq!(param(&c.args[5]).0, "Path");
    assert_eq!(bare(value(&c.args[6])), "orga.req");
    assert_eq!(c.span, Span::new(0, src.len()));
}

#[test]
fn walkthrough_import_pipe_enable() {
    let src = r"Import-ExchangeCertificate -Path c:\certificates\import.pfx | Enable-ExchangeCertificate -Services SMTP";
    let script = parse(src);
    let p = pipeline(&script.statements[0]);
    assert_eq!(p.elements.len(), 2);
    let import = command(&p.elements[0]);
    assert_eq!(import.name.text, "Import-ExchangeCertificate");
    assert_eq!(bare(value(&import.args[1])), r"c:\certificates\import.pfx");
    let enable = command(&p.elements[1]);
    assert_eq!(enable.name.text, "Enable-ExchangeCertificate");
    assert_eq!(enable.name.span.text(src), "Enable-ExchangeCertificate");
    assert_eq!(param(&enable.args[0]).0, "Services");
    assert_eq!(bare(value(&enable.args[1])), "SMTP");
}

#[test]
fn walkthrough_set_transport_config() {
    let script = parse("Set-TransportConfig -TLSReceiveDomainSecureList domaene.tld");
    let c = only_command(&script);
    assert_eq!(param(&c.args[0]).0, "TLSReceiveDomainSecureList");
    assert_eq!(bare(value(&c.args[1])), "domaene.tld");
}

#[test]
fn walkthrough_colon_values() {
    let script = parse("Set-SendConnector Outbound -DomainSecureEnabled:$True");
    let c = only_command(&script);
    assert_eq!(bare(value(&c.args[0])), "Outbound");
    let (name, v) = param(&c.args[1]);
    assert_eq!(name, "DomainSecureEnabled");
    assert_eq!(v.map(|v| &v.kind), Some(&ExprKind::Bool(true)));

    let script =
        parse("Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS");
    let c = only_command(&script);
    assert_eq!(c.args.len(), 4);
    assert_eq!(param(&c.args[2]), ("AuthMechanism", None));
    assert_eq!(bare(value(&c.args[3])), "TLS");

    let script = parse("Remove-X a -Confirm:$false");
    let c = only_command(&script);
    assert_eq!(
        param(&c.args[1]).1.map(|v| &v.kind),
        Some(&ExprKind::Bool(false))
    );
}

#[test]
fn walkthrough_hashtable_edit() {
    let src = r#"Set-TransportConfig -TLSSendDomainSecureList @{Add="c.tld"; Remove="a.tld"}"#;
    let script = parse(src);
    let c = only_command(&script);
    let ExprKind::Hashtable(entries) = &value(&c.args[1]).kind else {
        panic!()
    };
    assert_eq!(entries.len(), 2);
    assert_eq!(bare(&entries[0].key), "Add");
    let add = expr_of(&entries[0].value);
    assert_eq!(text(add), "c.tld");
    assert_eq!(bare(&entries[1].key), "Remove");
    assert_eq!(text(expr_of(&entries[1].value)), "a.tld");
    assert_eq!(
        value(&c.args[1]).span.text(src),
        r#"@{Add="c.tld"; Remove="a.tld"}"#
    );
}

fn expr_of(p: &Pipeline) -> &Expr {
    match &p.elements[..] {
        [PipelineElement::Expression(e)] => e,
        other => panic!("not a single expression: {other:?}"),
    }
}

#[test]
fn walkthrough_where_object_and_format_list() {
    let src = r#"Get-ExchangeCertificate | Where-Object { $_.Status -eq "Valid" } | Format-List Thumbprint,Services"#;
    let script = parse(src);
    let p = pipeline(&script.statements[0]);
    assert_eq!(p.elements.len(), 3);
    let wh = command(&p.elements[1]);
    assert_eq!(wh.name.text, "Where-Object");
    let ExprKind::ScriptBlock(block) = &value(&wh.args[0]).kind else {
        panic!()
    };
    assert_eq!(block.span.text(src), r#" $_.Status -eq "Valid" "#);
    let cond = expr_stmt(block);
    let (op, lhs, rhs) = binary(cond);
    assert_eq!(op, eq());
    let (target, name) = member(lhs);
    assert_eq!(var(target), "_");
    assert_eq!(name, "Status");
    assert_eq!(text(rhs), "Valid");
    let fl = command(&p.elements[2]);
    let props: Vec<&str> = items(value(&fl.args[0])).iter().map(bare).collect();
    assert_eq!(props, ["Thumbprint", "Services"]);
}

#[test]
fn walkthrough_assignment_then_member_argument() {
    let src = "$cert = New-ExchangeCertificate -DomainName a.tld; Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP";
    let script = parse(src);
    assert_eq!(script.statements.len(), 2);
    let StatementKind::Assignment(a) = &script.statements[0].kind else {
        panic!()
    };
    assert_eq!(var(&a.target), "cert");
    assert_eq!(a.op_span.text(src), "=");
    let new = command(&a.value.elements[0]);
    assert_eq!(new.name.text, "New-ExchangeCertificate");
    assert_eq!(bare(value(&new.args[1])), "a.tld");
    assert_eq!(
        script.statements[0].span.text(src),
        "$cert = New-ExchangeCertificate -DomainName a.tld"
    );
    let enable = command(&pipeline(&script.statements[1]).elements[0]);
    let (target, name) = member(value(&enable.args[1]));
    assert_eq!((var(target), name), ("cert", "Thumbprint"));
    assert_eq!(value(&enable.args[1]).span.text(src), "$cert.Thumbprint");
}

#[test]
fn walkthrough_timespan_and_size() {
    let script = parse("Set-TransportService -MessageExpirationTimeout 2.00:00:00 -MaxSize 25MB");
    let c = only_command(&script);
    assert_eq!(bare(value(&c.args[1])), "2.00:00:00");
    assert_eq!(int(value(&c.args[3])), 26_214_400);
    let script = parse("Set-X -Timeout 00:10:00 -Size 1.5GB -Hex 0x1F -N -5 -F 1.5");
    let c = only_command(&script);
    assert_eq!(bare(value(&c.args[1])), "00:10:00");
    assert_eq!(
        value(&c.args[3]).kind,
        ExprKind::Number(Number::Float(1_610_612_736.0))
    );
    assert_eq!(int(value(&c.args[5])), 31);
    assert_eq!(int(value(&c.args[7])), -5);
    assert_eq!(value(&c.args[9]).kind, ExprKind::Number(Number::Float(1.5)));
}

#[test]
fn walkthrough_as_one_script() {
    let src = r#"# provisioning
New-ExchangeCertificate -GenerateRequest -SubjectName "C=DE,O=OrgA,CN=mail.orga.example" -DomainName mail.orga.example,orga.example -Path orga.req
Import-ExchangeCertificate -Path c:\certificates\import.pfx | Enable-ExchangeCertificate -Services SMTP
Set-TransportConfig -TLSReceiveDomainSecureList domaene.tld

Set-SendConnector Outbound -DomainSecureEnabled:$True
Set-ReceiveConnector Inbound -DomainSecureEnabled:$True -AuthMechanism TLS   # trailing comment
Set-TransportConfig -TLSSendDomainSecureList @{Add="c.tld"; Remove="a.tld"}
Get-ExchangeCertificate | Where-Object { $_.Status -eq "Valid" } | Format-List Thumbprint,Services
$cert = New-ExchangeCertificate -DomainName a.tld; Enable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP
Set-TransportService -MessageExpirationTimeout 2.00:00:00 -MaxSize 25MB
"#;
    let script = parse(src);
    assert_eq!(script.statements.len(), 10);
    let (line, col) = script.statements[3].span.line_col(src);
    assert_eq!((line, col), (6, 1));
}

// ----- command mode -----------------------------------------------------------------------

#[test]
fn command_names_keep_their_text() {
    let script = parse("get-exchangecertificate");
    assert_eq!(only_command(&script).name.text, "get-exchangecertificate");
    let script = parse("? { $_ } ; % { $_ }");
    assert_eq!(
        command(&pipeline(&script.statements[0]).elements[0])
            .name
            .text,
        "?"
    );
    assert_eq!(
        command(&pipeline(&script.statements[1]).elements[0])
            .name
            .text,
        "%"
    );
    let script = parse(r".\tool.exe x");
    assert_eq!(only_command(&script).name.text, r".\tool.exe");
    // a word that is not a number starts a command
    assert_eq!(only_command(&parse("7z a")).name.text, "7z");
}

#[test]
fn switch_then_positional_is_flat() {
    let script = parse("Enable-ExchangeCertificate -Force ABCDEF -Services SMTP,IMAP");
    let c = only_command(&script);
    assert_eq!(param(&c.args[0]), ("Force", None));
    assert_eq!(bare(value(&c.args[1])), "ABCDEF");
    assert_eq!(param(&c.args[2]), ("Services", None));
    assert_eq!(items(value(&c.args[3])).len(), 2);
}

#[test]
fn parameter_spans_and_colon_forms() {
    let src = "Cmd -Name:value -Services:SMTP,IMAP -Flag: $x";
    let script = parse(src);
    let c = only_command(&script);
    let Arg::Parameter {
        name_span,
        span,
        colon_value: Some(v),
        ..
    } = &c.args[0]
    else {
        panic!()
    };
    assert_eq!(name_span.text(src), "Name");
    assert_eq!(span.text(src), "-Name:value");
    assert_eq!(bare(v), "value");
    let (_, v) = param(&c.args[1]);
    assert_eq!(items(v.unwrap_or_else(|| panic!())).len(), 2);
    let (_, v) = param(&c.args[2]);
    assert_eq!(var(v.unwrap_or_else(|| panic!())), "x");
}

#[test]
fn typographic_dashes_and_quotes() {
    let src =
        "Set-X \u{2013}Name \u{201C}a b\u{201D} \u{2014}Other \u{2018}it\u{2019}\u{2019}s\u{2019}";
    let script = parse(src);
    let c = only_command(&script);
    assert_eq!(param(&c.args[0]).0, "Name");
    assert_eq!(text(value(&c.args[1])), "a b");
    assert_eq!(param(&c.args[2]).0, "Other");
    assert_eq!(text(value(&c.args[3])), "it\u{2019}s");
}

#[test]
fn negative_numbers_are_values_not_parameters() {
    let c = parse("Set-X -5 -1.5GB -0x10");
    let c = only_command(&c);
    assert_eq!(int(value(&c.args[0])), -5);
    assert_eq!(
        value(&c.args[1]).kind,
        ExprKind::Number(Number::Float(-1_610_612_736.0))
    );
    assert_eq!(int(value(&c.args[2])), -16);
    // not a parameter name, not a number: a bareword
    let c = parse("Set-X -foo.bar");
    assert_eq!(bare(value(&only_command(&c).args[0])), "-foo.bar");
}

#[test]
fn barewords_with_special_characters() {
    let src = r"Cmd *.contoso.com mail.orga.example C=DE user@orga.example a/b ~\x [abc] x=y a#b";
    let script = parse(src);
    let c = only_command(&script);
    let words: Vec<&str> = c.args.iter().map(|a| bare(value(a))).collect();
    assert_eq!(
        words,
        [
            "*.contoso.com",
            "mail.orga.example",
            "C=DE",
            "user@orga.example",
            "a/b",
            r"~\x",
            "[abc]",
            "x=y",
            "a#b"
        ]
    );
}

#[test]
fn unquoted_commas_build_arrays() {
    let src =
        r#"New-X -SubjectName C=DE,O=OrgA,CN=x -DomainName a.tld, b.tld ,"c d" -Q "C=DE,O=OrgA""#;
    let script = parse(src);
    let c = only_command(&script);
    let dn: Vec<&str> = items(value(&c.args[1])).iter().map(bare).collect();
    assert_eq!(dn, ["C=DE", "O=OrgA", "CN=x"]);
    let names: Vec<&str> = items(value(&c.args[3])).iter().map(text).collect();
    assert_eq!(names, ["a.tld", "b.tld", "c d"]);
    assert_eq!(text(value(&c.args[5])), "C=DE,O=OrgA");
    // a newline after a comma continues the list
    let script = parse("Cmd a,\n  b\nOther");
    assert_eq!(script.statements.len(), 2);
    assert_eq!(items(value(&only_command_of(&script, 0).args[0])).len(), 2);
}

fn only_command_of(script: &Script, i: usize) -> &Command {
    command(&pipeline(&script.statements[i]).elements[0])
}

#[test]
fn backtick_escapes_and_line_continuation() {
    let src = "New-X -A one `\n   -B two `  \r\n -C three\nNext";
    let script = parse(src);
    assert_eq!(script.statements.len(), 2);
    let c = only_command_of(&script, 0);
    assert_eq!(c.args.len(), 6);
    assert_eq!(bare(value(&c.args[5])), "three");
    let script = parse("Cmd a` b a`,b");
    let c = only_command(&script);
    assert_eq!(bare(value(&c.args[0])), "a b");
    assert_eq!(bare(value(&c.args[1])), "a,b");
}

#[test]
fn comments_and_blank_lines() {
    let src =
        "\n\n# only a comment\n  Get-X # comment | Not-A-Stage\n<# block\ncomment #> Get-Y ;; \n\n";
    let script = parse(src);
    assert_eq!(script.statements.len(), 2);
    assert_eq!(pipeline(&script.statements[0]).elements.len(), 1);
    assert_eq!(only_command_of(&script, 1).name.text, "Get-Y");
    assert!(parse("").statements.is_empty());
    assert!(parse("  # nothing\n;").statements.is_empty());
    assert!(parse("\u{feff}Get-X").statements.len() == 1);
}

#[test]
fn variables_and_members_in_command_mode() {
    let src = r"Cmd $_ ${weird name} $env:TEMP $x.A.B $list[0] $list[0].Name (Get-SendConnector Outbound).Name $x.Method(1, 'a')";
    let script = parse(src);
    let c = only_command(&script);
    assert_eq!(var(value(&c.args[0])), "_");
    assert_eq!(var(value(&c.args[1])), "weird name");
    assert_eq!(var(value(&c.args[2])), "env:TEMP");
    let (ab, b) = member(value(&c.args[3]));
    assert_eq!(b, "B");
    assert_eq!(member(ab).1, "A");
    let ExprKind::Index { target, index } = &value(&c.args[4]).kind else {
        panic!()
    };
    assert_eq!((var(target), int(index)), ("list", 0));
    assert_eq!(member(value(&c.args[5])).1, "Name");
    let (paren, name) = member(value(&c.args[6]));
    assert_eq!(name, "Name");
    let ExprKind::Paren(inner) = &paren.kind else {
        panic!()
    };
    let sc = command(&pipeline(inner).elements[0]);
    assert_eq!(sc.name.text, "Get-SendConnector");
    assert_eq!(bare(value(&sc.args[0])), "Outbound");
    let ExprKind::MethodCall { name, args, .. } = &value(&c.args[7]).kind else {
        panic!()
    };
    assert_eq!((name.as_str(), args.len()), ("Method", 2));
}

#[test]
fn variable_followed_by_word_is_expandable() {
    let src = r"Import-X -Path $dir\import.pfx";
    let script = parse(src);
    let c = only_command(&script);
    let ExprKind::Expandable {
        parts,
        style: StringStyle::Bareword,
    } = &value(&c.args[1]).kind
    else {
        panic!()
    };
    assert_eq!(parts.len(), 2);
    assert!(matches!(&parts[0], StringPart::Expr(e) if var(e) == "dir"));
    assert_eq!(parts[1], StringPart::Literal(r"\import.pfx".into()));
    let script = parse("Cmd pre$x.txt");
    let ExprKind::Expandable { parts, .. } = &value(&only_command(&script).args[0]).kind else {
        panic!()
    };
    assert_eq!(parts.len(), 3);
}

#[test]
fn true_false_null_any_case() {
    let e = parse("$TRUE,$False,$null,$NULL");
    let kinds: Vec<&ExprKind> = items(expr_stmt(&e)).iter().map(|e| &e.kind).collect();
    assert_eq!(
        kinds,
        [
            &ExprKind::Bool(true),
            &ExprKind::Bool(false),
            &ExprKind::Null,
            &ExprKind::Null
        ]
    );
}

// ----- strings ----------------------------------------------------------------------------

#[test]
fn single_quoted_strings_are_literal() {
    let s = parse(r#"'it''s $x `n "q"'"#);
    assert_eq!(text(expr_stmt(&s)), r#"it's $x `n "q""#);
}

#[test]
fn double_quoted_strings_expand_variables_only() {
    let src = r#""Cert $cert.Thumbprint: $($cert.Thumbprint) ${a b} `$x `"q`" tab`tnl`n "" $ 5 $""#;
    let s = parse(src);
    let e = expr_stmt(&s);
    let ExprKind::Expandable {
        parts,
        style: StringStyle::DoubleQuoted,
    } = &e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!(parts.len(), 7);
    assert_eq!(parts[0], StringPart::Literal("Cert ".into()));
    assert!(matches!(&parts[1], StringPart::Expr(v) if var(v) == "cert"));
    assert_eq!(parts[2], StringPart::Literal(".Thumbprint: ".into()));
    let StringPart::Expr(sub) = &parts[3] else {
        panic!()
    };
    let ExprKind::Subexpression(inner) = &sub.kind else {
        panic!()
    };
    assert_eq!(member(expr_stmt(inner)).1, "Thumbprint");
    assert_eq!(sub.span.text(src), "$($cert.Thumbprint)");
    assert!(matches!(&parts[5], StringPart::Expr(v) if var(v) == "a b"));
    assert_eq!(
        parts[6],
        StringPart::Literal(" $x \"q\" tab\tnl\n \" $ 5 $".into())
    );
}

#[test]
fn double_quoted_without_expansion_is_a_plain_string() {
    let s = parse(r#""C=DE,O=OrgA,CN=x""#);
    assert_eq!(
        expr_stmt(&s).kind,
        ExprKind::String {
            value: "C=DE,O=OrgA,CN=x".into(),
            style: StringStyle::DoubleQuoted
        }
    );
    let s = parse(r#""$true and $null""#);
    let ExprKind::Expandable { parts, .. } = &expr_stmt(&s).kind else {
        panic!()
    };
    assert!(matches!(
        &parts[0],
        StringPart::Expr(Expr {
            kind: ExprKind::Bool(true),
            ..
        })
    ));
}

#[test]
fn nested_quotes_in_subexpressions() {
    let s = parse(r#""a $("b $("c")") d""#);
    assert!(matches!(expr_stmt(&s).kind, ExprKind::Expandable { .. }));
}

#[test]
fn strings_can_span_lines() {
    let s = parse("'a\nb'; \"c\nd\"");
    assert_eq!(s.statements.len(), 2);
}

// ----- expressions ------------------------------------------------------------------------

#[test]
fn comparison_operators_case_insensitive() {
    for (src, op, cs) in [
        ("$a -eq 1", CompareOp::Eq, false),
        ("$a -EQ 1", CompareOp::Eq, false),
        ("$a -ne 1", CompareOp::Ne, false),
        ("$a -like 'x*'", CompareOp::Like, false),
        ("$a -NotLike 'x*'", CompareOp::NotLike, false),
        ("$a -match 'x'", CompareOp::Match, false),
        ("$a -notmatch 'x'", CompareOp::NotMatch, false),
        ("$a -gt 1", CompareOp::Gt, false),
        ("$a -ge 1", CompareOp::Ge, false),
        ("$a -lt 1", CompareOp::Lt, false),
        ("$a -le 1", CompareOp::Le, false),
        ("$a -contains 1", CompareOp::Contains, false),
        ("$a -notcontains 1", CompareOp::NotContains, false),
        ("$a -in 1", CompareOp::In, false),
        ("$a -notin 1", CompareOp::NotIn, false),
        ("$a -ceq 1", CompareOp::Eq, true),
        ("$a -ieq 1", CompareOp::Eq, false),
        ("$a -clike 1", CompareOp::Like, true),
        ("$a -ccontains 1", CompareOp::Contains, true),
    ] {
        let s = parse(src);
        let (got, _, _) = binary(expr_stmt(&s));
        assert_eq!(
            got,
            BinaryOp::Compare {
                op,
                case_sensitive: cs
            },
            "{src}"
        );
    }
}

#[test]
fn logical_operators_and_precedence() {
    let src = r#"$_.Status -eq "Valid" -and $_.Services -like "*S*" -or -not $x"#;
    let s = parse(src);
    let (or, lhs, rhs) = binary(expr_stmt(&s));
    assert_eq!(or, BinaryOp::Or);
    let (and, l, r) = binary(lhs);
    assert_eq!(and, BinaryOp::And);
    assert_eq!(binary(l).0, eq());
    assert_eq!(
        binary(r).0,
        BinaryOp::Compare {
            op: CompareOp::Like,
            case_sensitive: false
        }
    );
    assert!(matches!(
        rhs.kind,
        ExprKind::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));

    // -not binds tighter than -eq; ! too
    let s = parse("-not $a -eq $b");
    let (op, l, _) = binary(expr_stmt(&s));
    assert_eq!(op, eq());
    assert!(matches!(
        l.kind,
        ExprKind::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));
    let s = parse("!$a");
    assert!(matches!(
        expr_stmt(&s).kind,
        ExprKind::Unary {
            op: UnaryOp::Not,
            ..
        }
    ));

    // arithmetic: * over +, + over comparison
    let s = parse("1 + 2 * 3 -gt 4 - 1");
    let (gt, l, r) = binary(expr_stmt(&s));
    assert!(matches!(
        gt,
        BinaryOp::Compare {
            op: CompareOp::Gt,
            ..
        }
    ));
    let (add, _, mul) = binary(l);
    assert_eq!(add, BinaryOp::Add);
    assert_eq!(binary(mul).0, BinaryOp::Multiply);
    assert_eq!(binary(r).0, BinaryOp::Subtract);

    // left associativity; operators continue over newlines
    let s = parse("$a -and\n  $b -and $c");
    let (_, l, r) = binary(expr_stmt(&s));
    assert_eq!(binary(l).0, BinaryOp::And);
    assert_eq!(var(r), "c");
}

#[test]
fn comma_binds_tighter_than_comparison() {
    let s = parse(r#"$x -in "a","b""#);
    let (_, _, rhs) = binary(expr_stmt(&s));
    assert_eq!(items(rhs).len(), 2);
    let s = parse("-1, 2");
    let it = items(expr_stmt(&s));
    assert_eq!((int(&it[0]), int(&it[1])), (-1, 2));
    let s = parse("$x - 5");
    assert_eq!(binary(expr_stmt(&s)).0, BinaryOp::Subtract);
    let s = parse("$x -5");
    assert_eq!(binary(expr_stmt(&s)).0, BinaryOp::Subtract);
    let s = parse("- $x");
    assert!(matches!(
        expr_stmt(&s).kind,
        ExprKind::Unary {
            op: UnaryOp::Negate,
            ..
        }
    ));
}

#[test]
fn expression_literals() {
    assert_eq!(int(expr_stmt(&parse("25MB"))), 26_214_400);
    assert_eq!(int(expr_stmt(&parse("0x1F"))), 31);
    assert_eq!(int(expr_stmt(&parse("-5"))), -5);
    assert_eq!(
        expr_stmt(&parse("1e3")).kind,
        ExprKind::Number(Number::Float(1000.0))
    );
    assert_eq!(
        expr_stmt(&parse(".5")).kind,
        ExprKind::Number(Number::Float(0.5))
    );
    let s = parse("@(Get-X; 1)");
    let ExprKind::ArraySubexpression(inner) = &expr_stmt(&s).kind else {
        panic!()
    };
    assert_eq!(inner.statements.len(), 2);
    let s = parse("@()");
    assert!(
        matches!(&expr_stmt(&s).kind, ExprKind::ArraySubexpression(sc) if sc.statements.is_empty())
    );
    let s = parse("$(Get-X).Count");
    assert_eq!(member(expr_stmt(&s)).1, "Count");
    let s = parse("@{}");
    assert!(matches!(&expr_stmt(&s).kind, ExprKind::Hashtable(e) if e.is_empty()));
    let s = parse("\"abc\".Length");
    assert_eq!(member(expr_stmt(&s)).1, "Length");
}

#[test]
fn hashtables_multiline_and_lists() {
    let src = "@{\n  Add = \"x.tld\"\n  'Remove' = \"y.tld\",\n   \"z.tld\" ;\n  3 = (Get-X)\n  Cmd = Get-Y -A b\n}";
    let s = parse(src);
    let ExprKind::Hashtable(entries) = &expr_stmt(&s).kind else {
        panic!()
    };
    assert_eq!(entries.len(), 4);
    assert_eq!(text(&entries[1].key), "Remove");
    assert_eq!(items(expr_of(&entries[1].value)).len(), 2);
    assert_eq!(int(&entries[2].key), 3);
    let cmd = command(&entries[3].value.elements[0]);
    assert_eq!(cmd.name.text, "Get-Y");
    assert_eq!(cmd.args.len(), 2);
}

#[test]
fn assignments() {
    let s = parse("$x = 5");
    let StatementKind::Assignment(a) = &s.statements[0].kind else {
        panic!()
    };
    assert_eq!(int(expr_of(&a.value)), 5);
    let s = parse("$x.Name = 'a'; $list[0] = $y | Get-Z");
    let StatementKind::Assignment(a) = &s.statements[0].kind else {
        panic!()
    };
    assert_eq!(member(&a.target).1, "Name");
    let StatementKind::Assignment(a) = &s.statements[1].kind else {
        panic!()
    };
    assert!(matches!(a.target.kind, ExprKind::Index { .. }));
    assert_eq!(a.value.elements.len(), 2);
    let s = parse("$x =\n  Get-X");
    assert!(matches!(s.statements[0].kind, StatementKind::Assignment(_)));
    let s = parse("$null = Get-X");
    let StatementKind::Assignment(a) = &s.statements[0].kind else {
        panic!()
    };
    assert_eq!(a.target.kind, ExprKind::Null);
    let s = parse("($x = 5)");
    assert!(
        matches!(&expr_stmt(&s).kind, ExprKind::Paren(st) if matches!(st.kind, StatementKind::Assignment(_)))
    );
}

#[test]
fn pipelines_with_expression_first() {
    let s = parse("$cert | Enable-ExchangeCertificate -Services SMTP");
    let p = pipeline(&s.statements[0]);
    assert!(matches!(&p.elements[0], PipelineElement::Expression(e) if var(e) == "cert"));
    let s = parse(r#""a","b" | Set-X"#);
    let p = pipeline(&s.statements[0]);
    assert!(matches!(&p.elements[0], PipelineElement::Expression(e) if items(e).len() == 2));
    let s = parse("Get-X |\n  Where-Object { $_ } |\n\n  # comment\n  Format-List");
    assert_eq!(pipeline(&s.statements[0]).elements.len(), 3);
}

#[test]
fn script_blocks_nest_scripts() {
    let src = "Invoke-X { Get-A; $b = 1\n Get-C | Get-D { $_ } }";
    let s = parse(src);
    let c = only_command(&s);
    let ExprKind::ScriptBlock(block) = &value(&c.args[0]).kind else {
        panic!()
    };
    assert_eq!(block.statements.len(), 3);
    let s = parse("{}");
    assert!(matches!(&expr_stmt(&s).kind, ExprKind::ScriptBlock(sc) if sc.statements.is_empty()));
}

// ----- errors -----------------------------------------------------------------------------

#[test]
fn error_unterminated_string_renders_caret() {
    let src = "Get-X\n\nSet-TransportConfig -TLSReceiveDomainSecureList \"a.tld\n";
    let e = err(src);
    assert!(e.incomplete);
    assert_eq!(
        e.render("provision.xsh", src),
        "provision.xsh:3:49: error: unterminated string starting here\n    \
         Set-TransportConfig -TLSReceiveDomainSecureList \"a.tld\n    \
         \u{20}                                               ^"
    );
    assert_eq!(e.line_col(src), (3, 49));
}

#[test]
fn error_messages_and_positions() {
    let cases: &[(&str, &str, (usize, usize))] = &[
        ("Get-X { a", "missing closing '}'", (1, 7)),
        ("Get-X (Get-Y", "missing closing ')'", (1, 7)),
        ("Get-X $(Get-Y", "missing closing ')'", (1, 7)),
        ("Get-X @(1", "missing closing ')'", (1, 7)),
        ("Get-X @{a=1", "missing closing '}'", (1, 7)),
        ("$x[1", "missing closing ']'", (1, 3)),
        ("Get-X )", "unexpected ')'", (1, 7)),
        ("Get-X }", "unexpected '}'", (1, 7)),
        ("Get-X - a", "a parameter name must follow '-'", (1, 7)),
        ("Get-X -", "a parameter name must follow '-'", (1, 7)),
        ("Get-X 'abc", "unterminated string starting here", (1, 7)),
        (
            "foreach ($x $y) { }",
            "missing 'in' in foreach: foreach ($item in $list) { ... }",
            (1, 13),
        ),
        ("If $x { }", "missing '(' after 'if', found '$x'", (1, 4)),
        ("trap { }", "'trap' is not supported by xshell", (1, 1)),
        (
            "switch -File x ($y) { }",
            "switch option '-File' is not supported (options: -Wildcard, -Regex, -Exact, -CaseSensitive)",
            (1, 8),
        ),
        (
            "switch ($x) { 'a' }",
            "missing '{' after 'a switch pattern', found '}'",
            (1, 19),
        ),
        ("else { }", "'else' must follow if (...) { }", (1, 1)),
        (
            "try { }",
            "try { } needs a catch { } or finally { } block",
            (1, 1),
        ),
        (
            "do { } 1",
            "missing 'while (...)' or 'until (...)' after do { }",
            (1, 8),
        ),
        ("if () { }", "missing condition inside 'if ()'", (1, 4)),
        (
            "if ($x > 1) { }",
            "'>' in a condition would write a file (as in PowerShell); to compare, use -gt",
            (1, 8),
        ),
        (
            "function { }",
            "missing function name after 'function'",
            (1, 10),
        ),
        (
            "function f($a, $a) { }",
            "parameter '$a' is declared twice",
            (1, 16),
        ),
        ("[a b!]", "'[a b!]' is not a type name", (1, 1)),
        ("[int]::", "missing member name after '::'", (1, 8)),
        (
            "Get-X 2>&2",
            "only '2>&1' (or '*>&1', '3>&1') merges a stream into the output",
            (1, 7),
        ),
        ("Get-X >", "missing value after '>'", (1, 7)),
        (
            "@\"x\n\"@",
            "a here-string's text starts on the line after @\" (or @')",
            (1, 3),
        ),
        (
            "$x++ = 1",
            "cannot assign to this expression: the left side of '=' must be a variable",
            (1, 1),
        ),
        (
            "Get-X | $x",
            "'$x' cannot follow '|': only the first element of a pipeline can be an expression",
            (1, 9),
        ),
        ("Get-X | | Get-Y", "missing command after '|'", (1, 7)),
        ("Get-X |;", "missing command after '|'", (1, 7)),
        ("$x -eq", "missing value after '-eq'", (1, 4)),
        (
            "$x -foo 1",
            "unknown operator '-foo' (operators: -eq -ne -gt -ge -lt -le -like -notlike -match -notmatch -contains -notcontains -in -notin -replace -split -join -f -is -isnot -as -and -or -xor -not)",
            (1, 4),
        ),
        (
            "$x -band 1",
            "the operator '-band' is not supported by xshell",
            (1, 4),
        ),
        ("$x == 1", "'==' is not an xshell operator; use -eq", (1, 4)),
        ("$x != 1", "'!=' is not an xshell operator; use -ne", (1, 4)),
        ("$x >= 1", "'>=' is not an xshell operator; use -ge", (1, 4)),
        (
            "5 += 1",
            "cannot assign to this expression: the left side of '+=' must be a variable",
            (1, 1),
        ),
        (
            "5 = $x",
            "cannot assign to this expression: the left side of '=' must be a variable",
            (1, 1),
        ),
        ("$x = ", "missing value after '='", (1, 4)),
        ("$", "a variable name must follow '$'", (1, 1)),
        ("Get-X $ y", "a variable name must follow '$'", (1, 7)),
        ("@", "unexpected '@'", (1, 1)),
        ("Get-X a,", "missing value after ','", (1, 8)),
        ("Get-X a, ;", "missing value after ','", (1, 8)),
        ("Get-X -Name:", "missing value after '-Name:'", (1, 7)),
        (
            "Get-X < in.txt",
            "input redirection ('<') is not supported (nor by PowerShell); pipe instead: Get-Content x | ...",
            (1, 7),
        ),
        (
            "Get-X & Get-Y",
            "'&' is not supported by xshell; run one command per statement, separated by ';'",
            (1, 7),
        ),
        (
            "Get-X || Get-Y",
            "'||' is not supported by xshell; use -or inside an expression",
            (1, 7),
        ),
        ("[int", "missing closing ']'", (1, 1)),
        (
            "$x -eq Valid",
            "unexpected 'Valid': in an expression, quote text (\"Valid\") and put commands in parentheses",
            (1, 8),
        ),
        ("$x $y", "unexpected '$y'", (1, 4)),
        ("\"a\" b", "unexpected 'b'", (1, 5)),
        ("()", "missing expression inside '()'", (1, 1)),
        ("(Get-A\nGet-B)", "unexpected 'Get-B': expected ')'", (2, 1)),
        ("@{Add}", "missing '=' after hashtable key 'Add'", (1, 6)),
        (
            "@{Add=1 Remove=2}",
            "unexpected 'Remove=2' in hashtable: separate entries with ';' or a new line",
            (1, 9),
        ),
        (
            "@{Add=1; add=2}",
            "duplicate key 'add' in hashtable",
            (1, 10),
        ),
        ("@{=1}", "expected a hashtable key, found '='", (1, 3)),
        ("@\"\nx\n", "unterminated here-string", (1, 1)),
        (
            "$x::Foo",
            "'::' goes after a type in brackets: [Math]::Round(2.5)",
            (1, 3),
        ),
        ("${}", "empty variable name", (1, 1)),
        ("${abc", "missing closing '}' of variable name", (1, 1)),
        (
            "<# never closed",
            "missing closing '#>' of block comment",
            (1, 1),
        ),
        ("Get-X `", "line continuation '`' at end of input", (1, 7)),
        ("$x -eq 1x", "bad number '1x'", (1, 8)),
        (
            ". .\\script.ps1",
            "dot-sourcing ('. script') is not supported by xshell",
            (1, 1),
        ),
        (
            "$x -not $y",
            "'-not' goes before a value ('-not $x'); to compare, use -ne",
            (1, 4),
        ),
        (
            "$x = -Force",
            "unexpected '-Force': a value was expected (parameters go after a command name)",
            (1, 6),
        ),
        ("$a[]", "missing index inside '[]'", (1, 3)),
        ("$x.Foo(1,", "missing closing ')'", (1, 7)),
        (
            "Get-A\n  Set-B -X \"é",
            "unterminated string starting here",
            (2, 12),
        ),
        (
            "$é -eq ü",
            "unexpected 'ü': in an expression, quote text (\"ü\") and put commands in parentheses",
            (1, 8),
        ),
    ];
    for (src, message, pos) in cases {
        let e = match parse_script(src) {
            Ok(s) => panic!("{src:?} parsed: {s:?}"),
            Err(e) => e,
        };
        assert_eq!(&e.message, message, "message for {src:?}");
        assert_eq!(
            e.line_col(src),
            *pos,
            "position for {src:?}: {}",
            e.render("t", src)
        );
    }
}

#[test]
fn unicode_error_caret_counts_chars() {
    let src = "Set-X -Name 'Grüße' -B }";
    let r = rendered(src);
    assert_eq!(
        r,
        "t.xsh:1:24: error: unexpected '}'\n    Set-X -Name 'Grüße' -B }\n                           ^"
    );
}

#[test]
fn render_keeps_tabs_and_hides_control_characters() {
    let src = "\tGet-X \u{1b}[31m )";
    let r = rendered(src);
    assert_eq!(
        r,
        "t.xsh:1:14: error: unexpected ')'\n    \tGet-X ?[31m )\n    \t            ^"
    );
    // an error at end of input points after the last character
    let src = "Get-X |";
    assert_eq!(
        rendered(src),
        "t.xsh:1:7: error: missing command after '|'\n    Get-X |\n          ^"
    );
    let src = "Get-X @(\r\n";
    assert_eq!(
        rendered(src),
        "t.xsh:1:7: error: missing closing ')'\n    Get-X @(\n          ^"
    );
}

#[test]
fn needs_more_input_cases() {
    for src in [
        "Get-X \"abc",
        "Get-X 'abc",
        "Get-X {",
        "Get-X { Get-Y\n",
        "Get-X (",
        "Get-X $(",
        "Get-X @{Add=1",
        "Get-X |",
        "Get-X |\n",
        "Get-X `",
        "Get-X `\n",
        "Get-X a,",
        "$x -and",
        "$x =",
        "$x[",
        "<# comment",
        "Get-X \"a $(Get-Y",
        "foreach",
        "if ($x) {",
        "if ($x) { 1 } else",
        "try { 1 }",
        "do { 1 }",
        "function f {",
        "$s = @\"\nabc",
        "[int",
    ] {
        assert!(needs_more_input(src), "{src:?}");
    }
    for src in [
        "",
        "Get-X",
        "Get-X )",
        "Get-X }",
        "Get-X -",
        "$x = 1",
        "foreach {",
        "Get-X # {",
        "Get-X '{'",
    ] {
        assert!(!needs_more_input(src), "{src:?}");
    }
}

// ----- nesting and robustness -------------------------------------------------------------

#[test]
fn nesting_up_to_the_cap_parses() {
    let depth = MAX_DEPTH / 2;
    let src = format!("{}1{}", "(".repeat(depth), ")".repeat(depth));
    parse(&src);
    let src = format!("Cmd {}Get-X{}", "{ ".repeat(depth), " }".repeat(depth));
    parse(&src);
    let src = format!("$x{}", ".A".repeat(MAX_DEPTH - 2));
    parse(&src);
    let src = format!("1{}", " -or 1".repeat(MAX_DEPTH - 2));
    parse(&src);
    // exactly at the cap, mixing every recursive construct (and within the default test
    // thread's stack)
    let openers = ["(", "{ ", "$(", "@(", "@{a=", "\"$(", "-not ", "!"];
    let closers = [")", " }", ")", ")", "}", ")\"", "", ""];
    let mut src = String::new();
    for i in 0..MAX_DEPTH {
        src.push_str(openers[i % openers.len()]);
    }
    src.push('1');
    for i in (0..MAX_DEPTH).rev() {
        src.push_str(closers[i % closers.len()]);
    }
    parse(&src);
    src.insert(0, '(');
    src.push(')');
    assert!(err(&src).message.starts_with("nesting is too deep"));
}

#[test]
fn nesting_beyond_the_cap_is_an_error() {
    let n = 10_000;
    for src in [
        format!("{}1{}", "(".repeat(n), ")".repeat(n)),
        "(".repeat(n),
        "{".repeat(n),
        "$(".repeat(n),
        "@(".repeat(n),
        "@{a=".repeat(n),
        format!("Cmd {}", "{ ".repeat(n)),
        "\"$(".repeat(n),
        "!".repeat(n) + "$x",
        "-not ".repeat(n) + "$x",
        "- ".repeat(n) + "1",
        format!("$x{}", ".A".repeat(n)),
        format!("$x{}", "[0]".repeat(n)),
        format!("$x{}", ".M()".repeat(n)),
        format!("1{}", " -and 1".repeat(n)),
        format!("1{}", "+1".repeat(n)),
        format!("$x{}", "[$x".repeat(n)),
        "if (1) { ".repeat(n),
        "if (".repeat(n),
        "foreach ($x in 1) { ".repeat(n),
        "while (1) { ".repeat(n),
        "try { ".repeat(n),
        "function f { ".repeat(n),
        format!("{}1", "[int]".repeat(n)),
        "$x = if (1) { ".repeat(n),
    ] {
        let e = err(&src);
        assert!(
            e.message.starts_with("nesting is too deep"),
            "{}: {}",
            src.get(..20).unwrap_or(""),
            e.message
        );
    }
    // wide but flat input is fine
    let src = format!("Cmd {}", vec!["a"; 20_000].join(","));
    parse(&src);
    let src = vec!["Get-X"; 5_000].join(" | ");
    parse(&src);
}

#[test]
fn weird_inputs_never_panic() {
    let weird = [
        "$",
        "@",
        "-",
        "\"",
        "'",
        "`",
        "#",
        "<#",
        "{",
        "}",
        "(",
        ")",
        "[",
        "]",
        ",",
        ";",
        "|",
        "=",
        "!",
        "&",
        ">",
        "<",
        "$(",
        "${",
        "@{",
        "@(",
        "$x.",
        "$x[",
        "$x.y(",
        "-5",
        "--",
        "-:",
        "-a:",
        "é",
        "😀",
        "$😀",
        "-😀",
        "\u{2013}",
        "\u{201C}",
        "\u{2018}",
        "\u{feff}",
        "\0",
        "\r",
        "\r\n",
        "`\r",
        "0x",
        "1..2",
        "1e",
        ".",
        "..",
        "...",
        ". ",
        "..\\x",
        "$x = $y = 1",
        "Get-X -a:-b",
        "\"$",
        "\"`",
        "\"$(",
        "'''",
        "\"\"\"",
        "@{a",
        "@{a=",
        "@{'a'=1;'a'=2}",
        "$x.A.",
        "a`",
        "Get-X $x`",
        "Cmd é,ü,😀",
        "\u{2014}\u{2014}x",
        "Get-X -😀x",
        "1MB2",
        "0x1FFFFFFFFFFFFFFFFF",
        "99999999999999999999999",
        "-99999999999999999999",
        "1.5e400",
        "$x -eq -",
        "$x -eq -not",
        "!",
        "-not",
        "-",
        "Get-X -Name: `\n",
        "Get-X \"$env:",
        "\"${",
        "\"${a`",
        "#>",
        "<#>",
        "$?$$$^",
    ];
    for src in weird {
        let _ = parse_script(src);
        let _ = needs_more_input(src);
        for cursor in 0..=src.len() + 1 {
            let ctx = complete_context(src, cursor);
            assert!(ctx.span.end <= src.len());
        }
        if let Err(e) = parse_script(src) {
            assert!(
                e.span.start <= e.span.end && e.span.end <= src.len(),
                "{src:?}: {e:?}"
            );
            assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
            let _ = e.render("w", src);
        } else if let Ok(s) = parse_script(src) {
            check_spans(&s, src);
        }
    }
}

/// xorshift64*: deterministic pseudo-random numbers without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "Get-ExchangeCertificate",
        "Set-X",
        " ",
        " ",
        " ",
        "\n",
        ";",
        "|",
        "-Name",
        "-Name:",
        "-Force",
        "-",
        "-5",
        "$x",
        "$_",
        "$true",
        "$",
        "${a b}",
        ".",
        ".Name",
        "[0]",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        "$(",
        "@(",
        "@{",
        "=",
        "==",
        ",",
        "\"",
        "'",
        "\"a $x b\"",
        "'q'",
        "`",
        "`\n",
        "#c\n",
        "<#",
        "#>",
        "-eq",
        "-and",
        "-not",
        "!",
        "-like",
        "25MB",
        "0x1F",
        "2.00:00:00",
        "a.tld",
        "c:\\x",
        "*",
        "+",
        "+=",
        "é",
        "😀",
        "\u{2013}",
        "\u{201C}",
        "\r\n",
        "&",
        ">",
        "foreach",
        "::",
        "Add=",
        "1e5",
        "..",
        "\t",
        "\u{0}",
        "$env:X",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = 1 + rng.below(24);
        let mut src = String::new();
        for _ in 0..len {
            src.push_str(TOKENS[rng.below(TOKENS.len())]);
        }
        match parse_script(&src) {
            Ok(script) => {
                parsed += 1;
                check_spans(&script, &src);
            }
            Err(e) => {
                assert!(
                    e.span.start <= e.span.end && e.span.end <= src.len(),
                    "{src:?}"
                );
                assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
                let _ = e.render("soup", &src);
            }
        }
        let _ = needs_more_input(&src);
        let cursor = rng.below(src.len() + 2);
        let ctx = complete_context(&src, cursor);
        assert!(ctx.span.start <= ctx.span.end && ctx.span.end <= src.len());
    }
    assert!(parsed > 100, "only {parsed} parsed");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let src = String::from_utf8_lossy(&bytes);
        let _ = parse_script(&src);
        let _ = complete_context(&src, rng.below(src.len() + 1));
    }
}

// ----- constructs -------------------------------------------------------------------------

/// The expression of a one-statement script.
fn one_expr(src: &str) -> Expr {
    let script = parse(src);
    assert_eq!(script.statements.len(), 1, "{src}");
    expr_of(pipeline(&script.statements[0])).clone()
}

#[test]
fn if_elseif_else_across_lines() {
    let src = "if ($a -eq 1) {\n  'one'\n}\nelseif (Get-X) { 'x' }\nelse { 'other' }\n'after'";
    let script = parse(src);
    assert_eq!(script.statements.len(), 2);
    let StatementKind::If { clauses, else_body } = &script.statements[0].kind else {
        panic!("{:?}", script.statements[0].kind)
    };
    assert_eq!(clauses.len(), 2);
    assert!(matches!(
        clauses[1].0.elements[0],
        PipelineElement::Command(_)
    ));
    assert_eq!(else_body.as_ref().map(|b| b.statements.len()), Some(1));
    // `else` on the next line after a block that ends the script is not taken for a command.
    let script = parse("if ($x) { 1 }\n\n'a'");
    assert_eq!(script.statements.len(), 2);
}

#[test]
fn loops_and_jumps() {
    let script = parse(
        "foreach ($c in Get-SendConnector) { if ($c.Port -eq 25) { continue }; $c }\n\
         while ($i -lt 3) { $i++ }\n\
         do { $i-- } until ($i -le 0)\n\
         do { break } while ($true)\n\
         for ($i = 0; $i -lt 3; $i += 1) { }\n\
         for (;;) { break }",
    );
    let kinds: Vec<&StatementKind> = script.statements.iter().map(|s| &s.kind).collect();
    let StatementKind::Foreach {
        variable,
        collection,
        ..
    } = kinds[0]
    else {
        panic!()
    };
    assert_eq!(variable, "c");
    assert!(matches!(
        collection.elements[0],
        PipelineElement::Command(_)
    ));
    assert!(matches!(kinds[1], StatementKind::While { .. }));
    assert!(matches!(
        kinds[2],
        StatementKind::DoLoop { until: true, .. }
    ));
    assert!(matches!(
        kinds[3],
        StatementKind::DoLoop { until: false, .. }
    ));
    let StatementKind::For {
        init: Some(init),
        condition: Some(_),
        step: Some(step),
        ..
    } = kinds[4]
    else {
        panic!()
    };
    assert!(matches!(init.kind, StatementKind::Assignment(_)));
    let StatementKind::Assignment(a) = &step.kind else {
        panic!()
    };
    assert_eq!(a.op, AssignOp::Add);
    assert!(matches!(
        kinds[5],
        StatementKind::For {
            init: None,
            condition: None,
            step: None,
            ..
        }
    ));
}

#[test]
fn try_catch_finally_throw() {
    let src = "try { Get-X } catch [System.IO.IOException], [Exception] { $_.Exception.Message; throw }\ncatch { throw $_ } finally { 'done' }";
    let script = parse(src);
    let StatementKind::Try {
        catches, finally, ..
    } = &script.statements[0].kind
    else {
        panic!()
    };
    assert_eq!(catches.len(), 2);
    let types: Vec<&str> = catches[0].types.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["System.IO.IOException", "Exception"]);
    assert!(catches[1].types.is_empty());
    assert!(finally.is_some());
    assert!(matches!(
        catches[0].body.statements[1].kind,
        StatementKind::Throw(None)
    ));
    let script = parse("throw \"bad: $x\"; return; exit 2; break; continue");
    assert!(matches!(
        script.statements[0].kind,
        StatementKind::Throw(Some(_))
    ));
    assert!(matches!(
        script.statements[1].kind,
        StatementKind::Return(None)
    ));
    assert!(matches!(
        script.statements[2].kind,
        StatementKind::Exit(Some(_))
    ));
}

#[test]
fn functions_with_param_blocks() {
    let src = "function Get-Double {\n  [CmdletBinding()]\n  param([Parameter(Mandatory)][int]$N = 2, [switch]$Loud, $Rest)\n  $N * 2\n}\nfunction f($a, $b) { $a }";
    let script = parse(src);
    let StatementKind::Function(f) = &script.statements[0].kind else {
        panic!()
    };
    assert_eq!(f.name, "Get-Double");
    let names: Vec<&str> = f.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["N", "Loud", "Rest"]);
    assert_eq!(f.params[0].type_name.as_deref(), Some("int"));
    assert!(f.params[0].default.is_some());
    assert!(f.params[1].switch);
    assert_eq!(f.body.statements.len(), 1);
    let StatementKind::Function(g) = &script.statements[1].kind else {
        panic!()
    };
    assert_eq!(g.params.len(), 2);
    // The function name is a command where it is used.
    let s = parse("Get-Double -N 3");
    let c = only_command(&s);
    assert_eq!(c.name.text, "Get-Double");
}

#[test]
fn here_strings() {
    let src = "$a = @\"\nName: $x\n  \"quoted\" `$y\n\"@\n$b = @'\nliteral $x\n'@";
    let script = parse(src);
    let StatementKind::Assignment(a) = &script.statements[0].kind else {
        panic!()
    };
    let PipelineElement::Expression(e) = &a.value.elements[0] else {
        panic!()
    };
    let ExprKind::Expandable { parts, .. } = &e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(parts[0], StringPart::Literal("Name: ".into()));
    assert_eq!(
        parts[2],
        StringPart::Literal("\n  \"quoted\" $y".into()),
        "quotes are literal, escapes apply"
    );
    let StatementKind::Assignment(b) = &script.statements[1].kind else {
        panic!()
    };
    let PipelineElement::Expression(e) = &b.value.elements[0] else {
        panic!()
    };
    assert_eq!(text(e), "literal $x");
    // Empty, and CRLF line ends.
    let script = parse("@'\r\n'@");
    let PipelineElement::Expression(e) = &pipeline(&script.statements[0]).elements[0] else {
        panic!()
    };
    assert_eq!(text(e), "");
    let script = parse("@'\r\na\r\n'@");
    let PipelineElement::Expression(e) = &pipeline(&script.statements[0]).elements[0] else {
        panic!()
    };
    assert_eq!(text(e), "a");
}

#[test]
fn types_casts_and_statics() {
    let script = parse(
        "[int]$x; [byte[]] (Get-X); $y -is [string]; [System.IO.File]::ReadAllBytes('a.pfx'); [int]::MaxValue",
    );
    let exprs: Vec<&Expr> = script
        .statements
        .iter()
        .map(|s| match &pipeline(s).elements[0] {
            PipelineElement::Expression(e) => e,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(matches!(&exprs[0].kind, ExprKind::Cast { type_name, .. } if type_name.name == "int"));
    assert!(
        matches!(&exprs[1].kind, ExprKind::Cast { type_name, .. } if type_name.name == "byte[]")
    );
    let (op, _, rhs) = binary(exprs[2]);
    assert_eq!(op, BinaryOp::Is);
    assert!(matches!(&rhs.kind, ExprKind::TypeLiteral(t) if t.name == "string"));
    assert!(matches!(
        &exprs[3].kind,
        ExprKind::Static { type_name, member, args: Some(a), .. }
            if type_name.name == "System.IO.File" && member == "ReadAllBytes" && a.len() == 1
    ));
    assert!(matches!(
        &exprs[4].kind,
        ExprKind::Static { args: None, .. }
    ));
    // In a command argument, in parentheses.
    let s = parse("Import-ExchangeCertificate -FileData ([System.IO.File]::ReadAllBytes('x.pfx'))");
    let c = only_command(&s);
    assert!(matches!(value(&c.args[1]).kind, ExprKind::Paren(_)));
    // `[int]$x = 5` constrains the assignment.
    let script = parse("[int]$x = '5'");
    assert!(matches!(
        script.statements[0].kind,
        StatementKind::Assignment(_)
    ));
}

#[test]
fn new_operators_and_precedence() {
    let e = one_expr("'{0}-{1}' -f $a, $b");
    let (op, _, rhs) = binary(&e);
    assert_eq!(op, BinaryOp::Format);
    assert_eq!(items(rhs).len(), 2, "the comma binds tighter than -f");
    let e = one_expr("$s -replace 'a(.)', 'b$1' -eq 'x'");
    let (op, lhs, _) = binary(&e);
    assert!(
        matches!(op, BinaryOp::Compare { .. }),
        "left to right at one level"
    );
    assert!(matches!(
        binary(lhs).0,
        BinaryOp::Replace {
            case_sensitive: false
        }
    ));
    let e = one_expr("1 + 2 * 3 -gt 6 -and $true");
    let (op, lhs, _) = binary(&e);
    assert_eq!(op, BinaryOp::And);
    let (op, sum, _) = binary(lhs);
    assert!(matches!(op, BinaryOp::Compare { .. }));
    let (op, _, product) = binary(sum);
    assert_eq!(op, BinaryOp::Add);
    assert_eq!(binary(product).0, BinaryOp::Multiply);
    let e = one_expr("1..5");
    assert_eq!(binary(&e).0, BinaryOp::Range);
    let e = one_expr("-join $a");
    assert!(matches!(
        e.kind,
        ExprKind::Unary {
            op: UnaryOp::Join,
            ..
        }
    ));
    let e = one_expr("$a -csplit ','");
    assert_eq!(
        binary(&e).0,
        BinaryOp::Split {
            case_sensitive: true
        }
    );
    let e = one_expr("$a -isnot [int]");
    assert_eq!(binary(&e).0, BinaryOp::IsNot);
}

#[test]
fn assignment_operators_and_increments() {
    for (src, op) in [
        ("$x += 1", AssignOp::Add),
        ("$x -= 1", AssignOp::Subtract),
        ("$x *= 2", AssignOp::Multiply),
        ("$x /= 2", AssignOp::Divide),
        ("$x %= 2", AssignOp::Remainder),
        ("$x++", AssignOp::Add),
        ("++$x", AssignOp::Add),
        ("$x--", AssignOp::Add),
    ] {
        let script = parse(src);
        let StatementKind::Assignment(a) = &script.statements[0].kind else {
            panic!("{src}")
        };
        assert_eq!(a.op, op, "{src}");
    }
    let e = one_expr("$a[$i++]");
    let ExprKind::Index { index, .. } = &e.kind else {
        panic!()
    };
    assert!(matches!(
        index.kind,
        ExprKind::IncDec {
            prefix: false,
            delta: 1,
            ..
        }
    ));
}

#[test]
fn redirections() {
    let script = parse(
        "Get-X > out.txt; Get-X >> $log; Get-X 2>&1 | Out-String; Get-X 2>$null; Get-X *> $null; $x > $null",
    );
    let redirs: Vec<&Vec<Redirection>> = script
        .statements
        .iter()
        .map(|s| &pipeline(s).redirections)
        .collect();
    assert!(matches!(
        &redirs[0][..],
        [Redirection {
            stream: Stream::Output,
            target: RedirectTarget::File { append: false, .. },
            ..
        }]
    ));
    assert!(matches!(
        &redirs[1][..],
        [Redirection {
            target: RedirectTarget::File { append: true, .. },
            ..
        }]
    ));
    assert!(matches!(
        &redirs[2][..],
        [Redirection {
            stream: Stream::Error,
            target: RedirectTarget::Output,
            ..
        }]
    ));
    assert_eq!(pipeline(&script.statements[2]).elements.len(), 2);
    assert!(matches!(
        &redirs[3][..],
        [Redirection {
            stream: Stream::Error,
            target: RedirectTarget::Null,
            ..
        }]
    ));
    assert!(matches!(
        &redirs[4][..],
        [Redirection {
            stream: Stream::All,
            target: RedirectTarget::Null,
            ..
        }]
    ));
    assert!(matches!(
        &redirs[5][..],
        [Redirection {
            stream: Stream::Output,
            target: RedirectTarget::Null,
            ..
        }]
    ));
    // A number argument before a redirection stays an argument.
    let s = parse("Get-X 5 2>$null");
    let c = only_command(&s);
    assert_eq!(c.args.len(), 1);
}

#[test]
fn keywords_are_only_keywords_as_whole_words() {
    // `foreach` after a pipe is ForEach-Object; `if-x` and `Do-Thing` are commands.
    let script = parse("Get-X | foreach { $_ }; if-x; Do-Thing -For 1");
    assert_eq!(
        command(&pipeline(&script.statements[0]).elements[1])
            .name
            .text,
        "foreach"
    );
    assert_eq!(
        command(&pipeline(&script.statements[1]).elements[0])
            .name
            .text,
        "if-x"
    );
    assert_eq!(
        command(&pipeline(&script.statements[2]).elements[0])
            .name
            .text,
        "Do-Thing"
    );
    // `$x = if ...` and `$n = foreach ...` take the statement's output.
    let script = parse("$x = if ($a) { 1 } else { 2 }");
    let StatementKind::Assignment(a) = &script.statements[0].kind else {
        panic!()
    };
    assert!(matches!(
        &a.value.elements[0],
        PipelineElement::Expression(Expr {
            kind: ExprKind::Subexpression(_),
            ..
        })
    ));
}

#[test]
fn a_script_param_block() {
    let script = parse(
        "[CmdletBinding()]\nparam(\n  [string]$Server = 'EX01',\n  [switch]$WhatIf\n)\nGet-X $Server",
    );
    assert_eq!(
        script.statements.len(),
        2,
        "the attribute is not a statement"
    );
    let StatementKind::Param(params) = &script.statements[0].kind else {
        panic!("{:?}", script.statements)
    };
    assert_eq!(params.len(), 2);
    assert!(params[1].switch);
}

#[test]
fn switch_statements() {
    let src = "switch -Wildcard -CaseSensitive ($name) {\n  'EX*' { 'exchange' }\n  { $_.Length -gt 9 } { 'long'; break }\n  42 { }\n  default { 'other' }\n}";
    let script = parse(src);
    let StatementKind::Switch {
        mode,
        case_sensitive,
        clauses,
        ..
    } = &script.statements[0].kind
    else {
        panic!()
    };
    assert_eq!(*mode, SwitchMode::Wildcard);
    assert!(*case_sensitive);
    assert_eq!(clauses.len(), 4);
    assert!(matches!(
        clauses[1].pattern.as_ref().map(|p| &p.kind),
        Some(ExprKind::ScriptBlock(_))
    ));
    assert!(clauses[3].pattern.is_none());
    assert!(needs_more_input("switch ($x) {\n 'a' { 1 }"));
}

#[test]
fn completion_inside_constructs() {
    for src in [
        "if ($x) { Get-SendC",
        "foreach ($c in Get-SendC",
        "if (Get-SendC",
        "try { 1 } catch { Get-SendC",
        "function f { Get-SendC",
        "switch ($x) { 'a' { Get-SendC",
    ] {
        let ctx = complete_context(src, src.len());
        assert_eq!(ctx.kind, CompletionKind::CommandName, "{src}");
        assert_eq!(ctx.partial, "Get-SendC", "{src}");
    }
}

#[test]
fn splatting_is_a_command_argument() {
    let script = parse_script("Import-Certificate @params -Verbose").unwrap();
    let StatementKind::Pipeline(p) = &script.statements[0].kind else {
        panic!("not a pipeline")
    };
    let PipelineElement::Command(c) = &p.elements[0] else {
        panic!("not a command")
    };
    assert!(matches!(
        &c.args[0],
        Arg::Value(Expr { kind: ExprKind::Splat { name }, span }) if name == "params" && (span.start, span.end) == (19, 26)
    ));
}
