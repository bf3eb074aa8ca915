//! Validates the files given as arguments and prints the human rendering: a quick way to see
//! diagnostics while working on this crate (`runbook validate` is the real command).

fn main() {
    for path in std::env::args().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(source) => {
                let loaded = runbook_playbook::load(&path, &source);
                print!(
                    "{}",
                    runbook_playbook::render_human(&loaded.diagnostics, false)
                );
                println!("{path}: valid = {}", loaded.playbook.is_some());
            }
            Err(error) => eprintln!("{path}: {error}"),
        }
    }
}
