fn main() {
    eprintln!("pop3d: not built yet");
    std::process::exit(75);
}
