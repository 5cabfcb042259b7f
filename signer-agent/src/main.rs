fn main() {
    eprintln!("signer-agent: not yet implemented");
    std::process::exit(2);
}
