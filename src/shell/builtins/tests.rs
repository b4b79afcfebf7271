//! The builtins on values: each test runs a short script in a shell over
//! a temporary store and checks the values or the text it gives.
#![allow(clippy::unwrap_used)]

use crate::shell::Shell;
use xshell_cmdlets::Value;
use xshell_cmdlets::context::BatchHost;
use xshell_cmdlets::format::Format;
use xshell_core::store::Store;

/// Runs `src`; returns the values of its statements, or the error text.
fn values_in(dir: &std::path::Path, src: &str) -> Result<Vec<Value>, String> {
    let store = Store::open_dir(dir.join("store"));
    let mut host = BatchHost::default();
    let mut out = Vec::new();
    let script = crate::lang::parse_script(src).map_err(|e| e.render("t", src))?;
    let mut sh = Shell::new(&store, &mut host, &mut out, Format::Table);
    sh.source = src.to_string();
    sh.script_values(&script).map_err(|e| e.render("t", src))
}

fn values(src: &str) -> Vec<Value> {
    let t = tempfile::tempdir().unwrap();
    values_in(t.path(), src).unwrap()
}

fn error(src: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    values_in(t.path(), src).unwrap_err()
}

/// The text the statements' values print as.
fn text(src: &str) -> String {
    super::write::render(&values(src))
}

fn ints(v: &[Value]) -> Vec<i64> {
    v.iter()
        .map(|v| match v {
            Value::Int(i) => *i,
            other => panic!("not a number: {other:?}"),
        })
        .collect()
}

fn strs(v: &[Value]) -> Vec<String> {
    v.iter().map(|v| v.to_string()).collect()
}

fn prop(v: &Value, name: &str) -> Value {
    match v {
        Value::Object(o) => o.get(name).cloned().unwrap_or(Value::Null),
        Value::Map(m) => m
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Null),
        other => panic!("not an object: {other:?}"),
    }
}

/// Three objects with a name, a number and a flag.
const PEOPLE: &str = "$p = @{Name='bob'; Age=30; On=$true}, @{Name='Al'; Age=4; On=$false}, @{Name='cy'; Age=30; On=$true}\n";

#[test]
fn where_comparison_statement_forms() {
    let got = values(&format!("{PEOPLE}$p | ? Age -eq 30 | % Name"));
    assert_eq!(strs(&got), ["bob", "cy"]);
    let got = values(&format!(
        "{PEOPLE}$p | Where-Object -Property Age -LT -Value 30 | % Name"
    ));
    assert_eq!(strs(&got), ["Al"]);
    assert_eq!(
        strs(&values(&format!("{PEOPLE}$p | ? On | % Name"))),
        ["bob", "cy"]
    );
    assert_eq!(
        strs(&values(&format!("{PEOPLE}$p | ? On -Not | % Name"))),
        ["Al"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | where Name -like A* | % Name"
        ))),
        ["Al"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | where Name -clike a* | % Name"
        ))),
        Vec::<String>::new()
    );
    assert_eq!(
        strs(&values(&format!("{PEOPLE}$p | ? Name -CEQ cy | % Name"))),
        ["cy"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | ? Name -Match '^b' | % Name"
        ))),
        ["bob"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | ? Name -In 'al','cy' | % Name"
        ))),
        ["Al", "cy"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | ? Name -NotIn 'al','cy' | % Name"
        ))),
        ["bob"]
    );
    let got = values("@{S='IMAP','SMTP'}, @{S='POP'} | ? S -Contains smtp | % S");
    assert_eq!(strs(&got), ["IMAP", "SMTP"]);
    // The script-block form still works.
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | ? {{ $_.Age -gt 5 }} | % Name"
        ))),
        ["bob", "cy"]
    );
}

#[test]
fn where_refuses_two_operators_and_a_missing_value() {
    assert!(error("1 | ? Age -eq -gt 3").contains("one comparison operator at a time"));
    assert!(error("1 | ? Age -eq").contains("needs a value"));
    assert!(error("1 | ? Age -bogus 3").contains("'bogus'"));
    assert!(error("1 | ?").contains("script block or a property"));
    // The builtin's name is said once, by the error's prefix.
    assert!(!error("1 | ?").contains("Where-Object: Where-Object"));
}

#[test]
fn foreach_member_name_method_and_begin_process_end() {
    assert_eq!(
        strs(&values(&format!("{PEOPLE}$p | % Name"))),
        ["bob", "Al", "cy"]
    );
    assert_eq!(
        strs(&values(&format!(
            "{PEOPLE}$p | ForEach-Object -MemberName Name"
        ))),
        ["bob", "Al", "cy"]
    );
    assert_eq!(strs(&values("'ab','c' | % ToUpper")), ["AB", "C"]);
    assert_eq!(
        strs(&values("'ab','c' | % EndsWith -ArgumentList 'b'")),
        ["True", "False"]
    );
    let got = values("1,2,3 | % -Begin { 'start' } -Process { $_ } -End { 'end' }");
    assert_eq!(strs(&got), ["start", "1", "2", "3", "end"]);
    let got = values("1,2 | % -Process { $_ }, { 'x' }");
    assert_eq!(strs(&got), ["1", "x", "2", "x"]);
    let got = values("1,2 | % { 'b' } { $_ } { 'e' }");
    assert_eq!(strs(&got), ["b", "1", "2", "e"]);
    assert!(error("1 | %").contains("script block or a member name"));
    assert!(!error("1 | %").contains("ForEach-Object: ForEach-Object"));
}

#[test]
fn select_wildcards_calculated_and_exclusions() {
    let src = "$o = @{TLSSendDomainSecureList='a'; TLSReceiveDomainSecureList='b'; Other=1}\n";
    let got = values(&format!("{src}$o | select TLS*"));
    let Value::Object(o) = &got[0] else { panic!() };
    let names: Vec<&str> = o.props.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        ["TLSSendDomainSecureList", "TLSReceiveDomainSecureList"]
    );
    let got = values(&format!(
        "{PEOPLE}$p | select Name, @{{n='Twice';e={{$_.Age * 2}}}}"
    ));
    assert_eq!(prop(&got[0], "Twice"), Value::Int(60));
    assert_eq!(prop(&got[1], "Name"), Value::str("Al"));
    let got = values(&format!(
        "{PEOPLE}$p | select @{{Name='N'; Expression='Name'}}, @{{label='A'; e={{$_.Age}}}}"
    ));
    assert_eq!(prop(&got[2], "N"), Value::str("cy"));
    assert_eq!(prop(&got[2], "A"), Value::Int(30));
    let got = values(&format!("{PEOPLE}$p | select * -ExcludeProperty On, A*"));
    let Value::Object(o) = &got[0] else { panic!() };
    assert_eq!(o.props.len(), 1);
    assert!(error(&format!("{PEOPLE}$p | select @{{n='X'}}")).contains("Expression"));
    assert!(error(&format!("{PEOPLE}$p | select @{{n='X'; q=1; e='Name'}}")).contains("'q' key"));
}

#[test]
fn select_counts_index_unique_and_expand() {
    assert_eq!(ints(&values("1,2,3,4,5 | select -First 2")), [1, 2]);
    assert_eq!(ints(&values("1,2,3,4,5 | select -Last 2")), [4, 5]);
    assert_eq!(ints(&values("1,2,3,4,5 | select -Skip 3")), [4, 5]);
    assert_eq!(ints(&values("1,2,3,4,5 | select -Skip 1 -First 2")), [2, 3]);
    assert_eq!(ints(&values("1,2,3,4,5 | select -Index 0,4")), [1, 5]);
    assert_eq!(ints(&values("1,1,2,1 | select -Unique")), [1, 2]);
    assert_eq!(
        strs(&values("'derp','Derp' | select -Unique")),
        ["derp", "Derp"]
    );
    assert_eq!(
        strs(&values("'derp','Derp' | select -Unique -CaseInsensitive")),
        ["derp"]
    );
    let got = values("'aa','aa','Aa','ba','BA','BA' | Get-Unique -AsString");
    assert_eq!(strs(&got), ["aa", "Aa", "ba", "BA"]);
    let got = values("'aa','aa','Aa','ba','BA','BA' | gu -AsString -CaseInsensitive");
    assert_eq!(strs(&got), ["aa", "ba"]);
    assert_eq!(strs(&values("1, 2, 'a' | gu -OnType")), ["1", "a"]);
    assert_eq!(ints(&values("1,2 | select -First 5")), [1, 2]);
    let got = values("@{L='a','b'}, @{L='c'} | select -ExpandProperty L");
    assert_eq!(strs(&got), ["a", "b", "c"]);
    assert!(error("@{L=1} | select -ExpandProperty Nope").contains("'Nope'"));
    assert!(error("1 | select -First x").contains("First"));
    assert!(error("1 | select -First 1 -Fir 2").contains("more than once"));
}

#[test]
fn selected_objects_show_as_a_table_up_to_four_properties() {
    let four = text("@{a=1;b=2;c=3;d=4} | select a,b,c,d");
    assert!(four.contains("a b c d\n- - - -\n1 2 3 4"), "{four}");
    let five = text("@{a=1;b=2;c=3;d=4;e=5} | select a,b,c,d,e");
    assert!(five.contains("a : 1\nb : 2"), "{five}");
}

#[test]
fn sort_by_properties_numbers_and_directions() {
    assert_eq!(ints(&values("10,9,100,1 | sort")), [1, 9, 10, 100]);
    assert_eq!(
        ints(&values("10,9,100,1 | sort -Descending")),
        [100, 10, 9, 1]
    );
    assert_eq!(strs(&values("'10','9' | sort")), ["10", "9"]);
    assert_eq!(
        strs(&values("'b','A','a','B' | sort")),
        ["A", "a", "b", "B"]
    );
    assert_eq!(
        strs(&values("'b','A','a','B' | sort -CaseSensitive")),
        ["a", "A", "b", "B"]
    );
    assert_eq!(strs(&values("'b','a','B' | sort -Unique")), ["a", "b"]);
    let got = values(&format!("{PEOPLE}$p | sort Age, Name | % Name"));
    assert_eq!(strs(&got), ["Al", "bob", "cy"]);
    let got = values(&format!(
        "{PEOPLE}$p | sort @{{e='Age'; Descending=$true}}, @{{e={{$_.Name}}; Descending=$true}} | % Name"
    ));
    assert_eq!(strs(&got), ["cy", "bob", "Al"]);
    assert_eq!(ints(&values("5, 3, 1 | sort -Top 2")), [1, 3]);
    let got = values(&format!(
        "{PEOPLE}$p | sort @{{Expression='Name'; Descending=$true}} | % Name"
    ));
    assert_eq!(strs(&got), ["cy", "bob", "Al"]);
    assert_eq!(ints(&values("5,3,1 | sort -Bottom 1")), [5]);
    assert_eq!(ints(&values("3,1,2 | sort -Stable")), [1, 2, 3]);
}

#[test]
fn group_counts_names_and_hashtables() {
    let got = values(&format!("{PEOPLE}$p | group Age"));
    assert_eq!(got.len(), 2);
    assert_eq!(prop(&got[0], "Name"), Value::str("4"));
    assert_eq!(prop(&got[1], "Count"), Value::Int(2));
    let Value::List(g) = prop(&got[1], "Group") else {
        panic!()
    };
    assert_eq!(g.len(), 2);
    let t = text(&format!("{PEOPLE}$p | group Age -NoElement"));
    assert!(t.contains("Count Name\n----- ----\n"), "{t}");
    let got = values(&format!("{PEOPLE}$p | group Age, On"));
    assert_eq!(prop(&got[1], "Name"), Value::str("30, True"));
    let got = values("'a','A','b' | group");
    assert_eq!(prop(&got[0], "Count"), Value::Int(2));
    assert_eq!(values("'a','A','b' | group -CaseSensitive").len(), 3);
    let got = values(&format!("{PEOPLE}$p | group On -AsHashTable"));
    let Value::List(t) = prop(&got[0], "True") else {
        panic!("{got:?}")
    };
    assert_eq!(t.len(), 2);
}

#[test]
fn measure_counts_sums_and_text() {
    let got = values("1,2,3,4 | measure -Sum -Average -Maximum -Minimum");
    assert_eq!(prop(&got[0], "Count"), Value::Int(4));
    assert_eq!(prop(&got[0], "Sum"), Value::Int(10));
    assert_eq!(prop(&got[0], "Average"), Value::Float(2.5));
    assert_eq!(prop(&got[0], "Maximum"), Value::Int(4));
    assert_eq!(prop(&got[0], "Minimum"), Value::Int(1));
    assert_eq!(prop(&got[0], "Property"), Value::Null);
    let got = values(&format!("{PEOPLE}$p | measure Age -Sum"));
    assert_eq!(prop(&got[0], "Sum"), Value::Int(64));
    assert_eq!(prop(&got[0], "Average"), Value::Null);
    assert_eq!(prop(&got[0], "Property"), Value::str("Age"));
    let got = values("@{InCount=1; OutCount=2; Name='x'} | measure *Count -Sum");
    assert_eq!(got.len(), 2);
    assert_eq!(prop(&got[1], "Sum"), Value::Int(2));
    let got = values("'b','a' | measure -Maximum");
    assert_eq!(prop(&got[0], "Maximum"), Value::str("b"));
    let got = values("'one two', 'three' | measure -Line -Word -Character");
    assert_eq!(prop(&got[0], "Lines"), Value::Int(2));
    assert_eq!(prop(&got[0], "Words"), Value::Int(3));
    assert_eq!(prop(&got[0], "Characters"), Value::Int(12));
    assert!(error("'x' | measure -Sum").contains("not numeric"));
    assert!(error(&format!("{PEOPLE}$p | measure Nope -Sum")).contains("'Nope'"));
    let t = text("1,2 | measure");
    assert!(
        t.contains("Count             : 2\nAverage           : \n"),
        "{t}"
    );
}

#[test]
fn format_list_and_table_take_wildcards_and_calculated_properties() {
    let src = "$o = @{TLSSendDomainSecureList='a'; TLSReceiveDomainSecureList='b'; Other=1}\n";
    let t = strs(&values(&format!("{src}$o | fl TLS*"))).concat();
    assert!(
        t.contains("TLSSendDomainSecureList    : a\nTLSReceiveDomainSecureList : b"),
        "{t}"
    );
    assert!(!t.contains("Other"), "{t}");
    let t = strs(&values(&format!(
        "{PEOPLE}$p | ft Name, @{{n='Years';e={{$_.Age}}}}"
    )))
    .concat();
    assert!(t.contains("Name Years\n---- -----\nbob     30\n"), "{t}");
    let t = strs(&values(&format!("{PEOPLE}$p | ft Name -HideTableHeaders"))).concat();
    assert_eq!(t, "\nbob\nAl\ncy\n");
    let long = "x".repeat(70);
    let t = strs(&values(&format!("@{{A='{long}'}} | ft A"))).concat();
    assert!(t.contains(&format!("{}...", "x".repeat(57))), "{t}");
    let t = strs(&values(&format!("@{{A='{long}'}} | ft A -Wrap"))).concat();
    assert!(
        t.contains(&format!("{}\n{}\n", "x".repeat(60), "x".repeat(10))),
        "{t}"
    );
    let t = strs(&values(&format!("{PEOPLE}$p | ft Name -GroupBy Age"))).concat();
    assert!(t.contains("   Age: 30\n"), "{t}");
    assert!(t.contains("   Age: 4\n"), "{t}");
    assert!(values("@() | ft").is_empty());
    assert!(values("@() | fl").is_empty());
    let t = strs(&values(&format!("{PEOPLE}$p | fl *"))).concat();
    assert!(t.contains("Name : bob\nAge  : 30\nOn   : True"), "{t}");
}

/// Runs `src` with `{dir}` replaced by a fresh folder; returns the values
/// and the folder.
fn in_dir(src: &str) -> (Vec<Value>, tempfile::TempDir) {
    let t = tempfile::tempdir().unwrap();
    let src = src.replace("{dir}", &t.path().display().to_string());
    let v = values_in(t.path(), &src).unwrap();
    (v, t)
}

fn in_dir_error(src: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    let src = src.replace("{dir}", &t.path().display().to_string());
    values_in(t.path(), &src).unwrap_err()
}

#[test]
fn content_round_trips_lines_heads_tails_and_bytes() {
    let (v, t) = in_dir(
        "Set-Content {dir}/a.txt 'one','two'\nAdd-Content -Path {dir}/a.txt -Value three\n\
         Get-Content {dir}/a.txt",
    );
    assert_eq!(strs(&v), ["one", "two", "three"]);
    assert_eq!(
        std::fs::read(t.path().join("a.txt")).unwrap(),
        b"one\ntwo\nthree\n"
    );
    let (v, _) =
        in_dir("Set-Content {dir}/a 1,2,3,4\ngc {dir}/a -TotalCount 2\ngc {dir}/a -Tail 1");
    assert_eq!(strs(&v), ["1", "2", "4"]);
    let (v, _) = in_dir("Set-Content {dir}/a 'x','y'\nGet-Content {dir}/a -Raw");
    assert_eq!(v, [Value::str("x\ny\n")]);
    let (v, t) = in_dir("Set-Content {dir}/a 'x' -NoNewline\nAdd-Content {dir}/a 'y' -NoNewline");
    assert!(v.is_empty());
    assert_eq!(std::fs::read(t.path().join("a")).unwrap(), b"xy");
    // Bytes: -Encoding Byte -ReadCount 0 is one array of numbers.
    let t = tempfile::tempdir().unwrap();
    std::fs::write(t.path().join("b.bin"), [0u8, 200, 255]).unwrap();
    let src = format!(
        "$b = Get-Content -Path {}/b.bin -Encoding Byte -ReadCount 0\n$b.Count\n$b[1]\n(gc {0}/b.bin -AsByteStream).Count",
        t.path().display()
    );
    assert_eq!(ints(&values_in(t.path(), &src).unwrap()), [3, 200, 3]);
    let src = format!(
        "Set-Content {}/c.bin -Value 1,2,255 -AsByteStream",
        t.path().display()
    );
    values_in(t.path(), &src).unwrap();
    assert_eq!(std::fs::read(t.path().join("c.bin")).unwrap(), [1, 2, 255]);
    // UTF-16 with its byte-order mark reads back as text.
    let (v, t) = in_dir("Set-Content {dir}/u 'é' -Encoding unicode\ngc {dir}/u");
    assert_eq!(strs(&v), ["é"]);
    assert_eq!(
        &std::fs::read(t.path().join("u")).unwrap()[..2],
        [0xFF, 0xFE]
    );
}

#[test]
fn file_errors_name_the_file_and_the_parameter() {
    let e = in_dir_error("Get-Content {dir}/missing.txt");
    assert!(
        e.contains("missing.txt") && e.contains("does not exist"),
        "{e}"
    );
    assert!(error("gc 'c:\\certificates\\x.pfx'").contains("Windows path"));
    let e = error("'x' | Set-Content C:\\temp\\x.txt");
    assert!(
        e.contains("cannot find drive 'C'") && e.contains("Windows path"),
        "{e}"
    );
    assert!(error("'x' | Export-Csv d:/x.csv").contains("drive 'd'"));
    assert!(in_dir_error("Set-Content {dir}/a x -Encoding klingon").contains("'Encoding'"));
    assert!(in_dir_error("Set-Content {dir}/a 300 -AsByteStream").contains("not a byte"));
    assert!(error("Get-Content").contains("missing a file"));
    let e = in_dir_error("'a' | Out-File {dir}/o\n'b' | Out-File {dir}/o -NoClobber");
    assert!(e.contains("already exists"), "{e}");
}

#[test]
fn out_file_writes_what_the_console_shows() {
    let (_, t) = in_dir(
        "@{Name='a'; Port=1} | select Name, Port | Out-File {dir}/o.txt\n'tail' | Out-File {dir}/o.txt -Append",
    );
    let text = std::fs::read_to_string(t.path().join("o.txt")).unwrap();
    assert_eq!(text, "\nName Port\n---- ----\na       1\n\ntail\n");
    let (_, t) = in_dir("'abcdef', 'xy' | Out-File {dir}/w.txt -Width 3");
    assert_eq!(
        std::fs::read_to_string(t.path().join("w.txt")).unwrap(),
        "abc\nxy\n"
    );
    assert_eq!(
        strs(&values("'abcdef' | Out-String -Width 2 -Stream")),
        ["ab"]
    );
    assert!(error("'a' | Out-String -Width 0").contains("'Width'"));
    let (v, t) = in_dir("1,2 | Tee-Object {dir}/t.txt | measure | % Count");
    assert_eq!(ints(&v), [2]);
    assert_eq!(
        std::fs::read_to_string(t.path().join("t.txt")).unwrap(),
        "1\n2\n"
    );
    let got = values("1,2 | Tee-Object -Variable kept | Out-Null; $kept.Count");
    assert_eq!(ints(&got), [2]);
}

#[test]
fn csv_export_import_and_conversions() {
    let (v, t) = in_dir(
        "@{Name='a \"q\"'; Port=25}, @{Name='b,c'; Port=2525} | select Name, Port | Export-Csv {dir}/x.csv -NoTypeInformation\n\
         Import-Csv {dir}/x.csv",
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("x.csv")).unwrap(),
        "\"Name\",\"Port\"\n\"a \"\"q\"\"\",\"25\"\n\"b,c\",\"2525\"\n"
    );
    assert_eq!(prop(&v[0], "Name"), Value::str("a \"q\""));
    assert_eq!(prop(&v[1], "Port"), Value::str("2525"));
    let got = values("@{L='a','b'; M=1,'x'} | select L, M | ConvertTo-Csv");
    assert_eq!(strs(&got)[1], "\"System.String[]\",\"System.Object[]\"");
    let (v, t) = in_dir(
        "@{A=1} | select A | Export-Csv {dir}/y.csv\n@{A=2} | select A | Export-Csv {dir}/y.csv -Append\nImport-Csv {dir}/y.csv | % A",
    );
    assert_eq!(strs(&v), ["1", "2"]);
    assert_eq!(
        std::fs::read_to_string(t.path().join("y.csv")).unwrap(),
        "\"A\"\n\"1\"\n\"2\"\n"
    );
    let e = in_dir_error(
        "@{A=1} | select A | Export-Csv {dir}/z.csv\n@{B=2} | select B | Export-Csv {dir}/z.csv -Append",
    );
    assert!(e.contains("no column 'B'"), "{e}");
    let got = values("@{A=1;B='x'} | select A,B | ConvertTo-Csv -Delimiter ';'");
    assert_eq!(strs(&got), ["\"A\";\"B\"", "\"1\";\"x\""]);
    let got = values("@{A=1} | select A | ConvertTo-Csv -UseQuotes Never -IncludeTypeInformation");
    assert_eq!(
        strs(&got),
        ["#TYPE Selected.System.Collections.Hashtable", "A", "1"]
    );
    let got = values("'a;b', '1;\"2;3\"' | ConvertFrom-Csv -Delimiter ';'");
    assert_eq!(prop(&got[0], "b"), Value::str("2;3"));
    let got = values("'1,2' | ConvertFrom-Csv -Header X, Y");
    assert_eq!(prop(&got[0], "Y"), Value::str("2"));
    let got = values("\"a,b\", \"1\" | ConvertFrom-Csv");
    assert_eq!(prop(&got[0], "b"), Value::Null);
    assert!(error("'a,A' , '1,2' | ConvertFrom-Csv").contains("already present"));
    assert!(in_dir_error("Import-Csv {dir}/none.csv").contains("none.csv"));
}

#[test]
fn json_in_and_out() {
    let got = values(
        "'{\"Name\":\"a\",\"Inner\":{\"List\":[1,2],\"Flag\":true},\"Ratio\":0.5}' | ConvertFrom-Json",
    );
    assert_eq!(prop(&got[0], "Name"), Value::str("a"));
    let inner = prop(&got[0], "Inner");
    assert_eq!(
        prop(&inner, "List"),
        Value::List(vec![Value::Int(1), Value::Int(2)])
    );
    assert_eq!(prop(&inner, "Flag"), Value::Bool(true));
    assert_eq!(prop(&got[0], "Ratio"), Value::str("0.5"));
    assert_eq!(values("'[1,2,3]' | ConvertFrom-Json").len(), 3);
    assert_eq!(values("'[1,2,3]' | ConvertFrom-Json -NoEnumerate").len(), 1);
    let got = values("'{\"a\":{\"b\":1}}' | ConvertFrom-Json -AsHashtable");
    assert!(matches!(&got[0], Value::Map(m) if matches!(&m[0].1, Value::Map(_))));
    assert!(error("'{nope' | ConvertFrom-Json").contains("conversion from JSON failed"));
    let got = values("@{a=@{b=@{c=@{d=1}}}} | ConvertTo-Json -Compress");
    assert_eq!(
        strs(&got),
        ["{\"a\":{\"b\":{\"c\":\"System.Collections.Hashtable\"}}}"]
    );
    let got = values("@{a=@{b=@{c=@{d=1}}}} | ConvertTo-Json -Compress -Depth 5");
    assert_eq!(strs(&got), ["{\"a\":{\"b\":{\"c\":{\"d\":1}}}}"]);
    assert_eq!(
        strs(&values("1 | ConvertTo-Json -AsArray -Compress")),
        ["[1]"]
    );
    let got = values("@{x=1} | ConvertTo-Json");
    assert_eq!(strs(&got), ["{\n  \"x\": 1\n}"]);
}

#[test]
fn get_member_lists_types_and_members() {
    let got = values("@{Name='a'; Port=1} | select Name, Port | gm");
    let names: Vec<String> = got.iter().map(|m| prop(m, "Name").to_string()).collect();
    assert_eq!(
        names,
        [
            "Equals",
            "GetHashCode",
            "GetType",
            "ToString",
            "Name",
            "Port"
        ]
    );
    assert_eq!(prop(&got[5], "MemberType"), Value::str("NoteProperty"));
    assert_eq!(prop(&got[5], "Definition"), Value::str("int Port=1"));
    assert_eq!(
        prop(&got[0], "TypeName"),
        Value::str("Selected.System.Collections.Hashtable")
    );
    let got = values("'x', 'y', 1 | Get-Member -MemberType Property");
    assert_eq!(got.len(), 1);
    assert_eq!(prop(&got[0], "Definition"), Value::str("int Length {get;}"));
    let got = values("'x' | gm -Name To*");
    assert_eq!(got.len(), 3);
    assert!(error("'x' | gm -MemberType Bogus").contains("'MemberType'"));
    let t = text("'x' | gm -Name Length");
    assert_eq!(
        t,
        "\n   TypeName: System.String\n\nName   MemberType Definition\n------ ---------- -----------------\nLength Property   int Length {get;}\n\n"
    );
}

#[test]
fn select_string_in_text_and_files() {
    let got = values("'alpha','Beta','gamma' | Select-String a$");
    assert_eq!(strs(&got).len(), 3);
    assert_eq!(text("'alpha','Beta' | sls beta"), "Beta\n");
    assert!(values("'alpha','Beta' | sls beta -CaseSensitive").is_empty());
    assert_eq!(text("'a.b','axb' | sls a.b -SimpleMatch"), "a.b\n");
    assert_eq!(text("'a','b' | sls a -NotMatch"), "b\n");
    assert_eq!(values("'a','b' | sls z -Quiet"), [Value::Bool(false)]);
    let (v, _) = in_dir("Set-Content {dir}/f.txt 'x','needle','y'\nsls needle {dir}/f.txt");
    assert_eq!(prop(&v[0], "LineNumber"), Value::Int(2));
    assert_eq!(prop(&v[0], "Filename"), Value::str("f.txt"));
    assert!(error("'a' | sls '('").contains("'Pattern'"));
}

#[test]
fn custom_objects_print_their_properties() {
    assert_eq!(strs(&values("$o = @{A=1} | select A; \"$o\"")), ["@{A=1}"]);
}

#[test]
fn every_builtin_has_help_and_unique_names() {
    let mut seen: Vec<String> = Vec::new();
    for b in super::BUILTINS {
        for n in std::iter::once(&b.name).chain(b.aliases) {
            let n = n.to_ascii_lowercase();
            assert!(!seen.contains(&n), "{n} names two builtins");
            assert!(xshell_cmdlets::find(&n).is_none(), "{n} is also a cmdlet");
            assert_eq!(super::spec(&n).map(|s| s.name), Some(b.name));
            seen.push(n);
        }
        let help = super::help::builtin_help(b, true);
        assert!(help.contains(b.synopsis), "{help}");
        for p in b.params {
            assert!(help.contains(&format!("[-{p} <value>]")), "{help}");
        }
        for s in b.switches {
            assert!(help.contains(&format!("[-{s}]")), "{help}");
        }
        for e in b.examples {
            assert!(help.contains(&format!("PS> {}", e.command)), "{help}");
        }
        let got = values(&format!("Get-Help {}", b.name));
        assert!(strs(&got).concat().contains(b.name));
    }
    for alias in [
        "gu", "sort", "group", "measure", "gm", "select", "fl", "ft", "?", "%", "where", "foreach",
        "gc", "cat", "type", "ac", "epcsv", "ipcsv", "echo", "write", "tee", "sls", "oh",
    ] {
        assert!(super::spec(alias).is_some(), "{alias}");
    }
}

/// Every builtin's documented examples print exactly what their help
/// says (those that touch files are checked in tests/pipeline.rs).
#[test]
fn every_builtin_example_prints_its_documented_output() {
    let t = tempfile::tempdir().unwrap();
    let store = Store::open_dir(t.path().join("store"));
    let mut host = BatchHost::default();
    let mut out = Vec::new();
    let mut sh = Shell::new(&store, &mut host, &mut out, Format::Table);
    let setup = crate::lang::parse_script(super::EXAMPLE_SETUP).unwrap();
    sh.run(&setup, "setup", super::EXAMPLE_SETUP).unwrap();
    let mut checked = Vec::new();
    for b in super::BUILTINS {
        for e in b.examples.iter().filter(|e| !e.files) {
            let script = crate::lang::parse_script(e.command).unwrap();
            sh.run(&script, b.name, e.command)
                .unwrap_or_else(|err| panic!("{}: {}", e.command, err.render(b.name, e.command)));
            checked.push((e.command, e.output));
        }
    }
    drop(sh);
    // Outputs follow one another; compare them in order.
    let all = String::from_utf8(out).unwrap();
    let expected: String = checked.iter().map(|(_, o)| *o).collect();
    if all != expected {
        let mut rest = all.as_str();
        for (cmd, o) in &checked {
            assert!(
                rest.starts_with(o),
                "{cmd}\nexpected: {o:?}\ngot: {:?}",
                &rest[..rest.len().min(o.len() + 40)]
            );
            rest = &rest[o.len()..];
        }
    }
    assert_eq!(all, expected);
}
