//! The runtime on generated scripts: whatever the parser accepts runs to a
//! result or a located error, never a panic.

use super::Shell;
use crate::lang::parse_script;
use xshell_cmdlets::BatchHost;
use xshell_cmdlets::format::Format;
use xshell_core::store::Store;

/// Pieces scripts are built from: constructs, operators, casts and
/// statics, without unbounded loops (`while`, `for`, `do`), cmdlets or
/// anything that writes a file.
const PIECES: &[&str] = &[
    "if ($x) { 1 } else { 2 }",
    "foreach ($i in 1..3) { $i }",
    "foreach ($i in $x) { continue }",
    "switch ($x) { 1 { 'a' } default { break } }",
    "try { throw 'e' } catch { $_.Exception.Message } finally { 0 }",
    "try { 1 / 0 } catch [int] { 2 }",
    "function f($a) { $a; f $a }",
    "function g { param([int]$n = 'x') return $n }",
    "f 1",
    "g",
    "$x = ",
    "$x += ",
    "$x++",
    "$x[0] = ",
    "$x.a = ",
    "$x[-1] += ",
    "--$x",
    "$x",
    "$null",
    "1",
    "-1",
    "255",
    "'a'",
    "\"b $x $(1)\"",
    "@()",
    "@(1, 'a', $null)",
    "@{a = 1}",
    "(1, 2)",
    " + ",
    " - ",
    " * ",
    " / ",
    " % ",
    " .. ",
    " -f ",
    " -replace ",
    " -split ",
    " -join ",
    " -match ",
    " -is ",
    " -as ",
    " -eq ",
    " -in ",
    "[int]",
    "[byte[]]",
    "[string]",
    "[array]",
    "[datetime]",
    "[pscustomobject]",
    "[Math]::Round(",
    "[string]::Join(',', ",
    "[IO.File]::ReadAllText(",
    ")",
    "'{0} {1,5:N2} {2:X}' -f ",
    "$Error[0]",
    "$?",
    "$Matches",
    "throw",
    "exit 1",
    "break",
    // Ended by ';' so that no later piece turns `$null` into a file name.
    " > $null;",
    " 2>$null;",
    " 2>&1",
    " | ForEach-Object { $_ }",
    " | Where-Object { $_ }",
    "; ",
    "\n",
];

#[test]
fn generated_scripts_never_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    // The binary's main thread has 8 MB of stack; so does this one.
    let worker = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            let store = Store::open_dir(&store_dir);
            let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed
            };
            let mut ran = 0;
            for _ in 0..20_000 {
                let n = 1 + (next() % 8) as usize;
                let src: String = (0..n)
                    .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                    .collect();
                let Ok(script) = parse_script(&src) else {
                    continue;
                };
                ran += 1;
                let mut host = BatchHost::default();
                let mut out = Vec::new();
                let mut shell = Shell::new(&store, &mut host, &mut out, Format::Table);
                if let Err(e) = shell.run(&script, "gen", &src) {
                    let text = e.render("gen", &src);
                    assert!(text.starts_with("gen:"), "{src:?}: {text}");
                }
            }
            ran
        })
        .expect("spawn");
    let ran = worker.join().expect("a generated script panicked");
    assert!(ran > 2000, "only {ran} generated scripts parsed");
}
