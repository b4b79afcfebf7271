#![no_main]

use libfuzzer_sys::fuzz_target;
use xshell::lang::{complete_context, needs_more_input, parse_script};

fuzz_target!(|src: &str| {
    match parse_script(src) {
        Ok(script) => assert!(script.span.end == src.len()),
        Err(e) => {
            assert!(e.span.start <= e.span.end && e.span.end <= src.len());
            assert!(src.is_char_boundary(e.span.start) && src.is_char_boundary(e.span.end));
            let _ = e.render("fuzz.xsh", src);
        }
    }
    let _ = needs_more_input(src);
    // completion at every character boundary would be quadratic: sample a few offsets
    for cursor in [0, src.len() / 3, src.len() / 2, src.len(), src.len() + 1] {
        let ctx = complete_context(src, cursor);
        assert!(ctx.span.start <= ctx.span.end && ctx.span.end <= src.len());
    }
});
