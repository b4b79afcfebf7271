fn main() {
    let code = xshell::cli::run(std::env::args().collect());
    std::process::exit(code);
}
