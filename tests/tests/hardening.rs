//! What runbook refuses or warns about, end to end through the binary: files that are not
//! regular, too large or not UTF-8.

use std::path::Path;
use std::time::{Duration, Instant};

use runbook_tests::Test;

const VALID: &str = "version: 1\nname: hello\nsteps:\n  - id: greet\n    log: hi\n";

/// A playbook with one input, for `--inputs` files.
const WITH_INPUT: &str = "version: 1\nname: greet\ninputs:\n  who: { type: string }\nsteps:\n  - id: greet\n    log: \"hi {{ inputs.who }}\"\n";

/// Makes a FIFO at `path`, and a thread that opens and closes it for writing after a while: a
/// runbook blocked on the FIFO is then released, and the test fails on the time it took
/// instead of hanging.
#[cfg(unix)]
fn fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success(), "mkfifo {}", path.display());
    let path = path.to_owned();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(15));
        // Read-write never blocks on Linux; closing it at once gives a blocked reader EOF.
        let _ = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path);
    });
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once_by_validate_run_and_plan() {
    for command in [
        &["validate", "pipe.yaml"][..],
        &["run", "pipe.yaml", "--sim", "--store", "none"],
        &["plan", "pipe.yaml"],
        &["schedules", "validate", "pipe.yaml"],
    ] {
        let test = Test::new();
        fifo(&test.path().join("pipe.yaml"));
        let started = Instant::now();
        let outcome = test.args(command).run();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(10), "{command:?} took {took:?}");
        assert_ne!(outcome.code, 0, "{command:?}: {}", outcome.stderr);
        assert!(
            outcome
                .stderr
                .contains("pipe.yaml: it is a FIFO (named pipe), not a regular file"),
            "{command:?}: {}",
            outcome.stderr
        );
        assert!(!outcome.stderr.contains("all valid"), "{}", outcome.stderr);
        assert!(!outcome.stderr.contains("panicked"), "{}", outcome.stderr);
    }
}

#[cfg(unix)]
#[test]
fn run_dev_zero_fails_fast_without_reading_it() {
    let started = Instant::now();
    let outcome = Test::new()
        .args(["run", "/dev/zero", "--sim", "--store", "none"])
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read /dev/zero: it is a character device, not a regular file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn invalid_utf8_is_an_error_that_validate_counts() {
    let outcome = Test::new()
        .file("ok.yaml", VALID)
        .file("bin.yaml", b"version: 1\nname: \xff\xfe\n")
        .args(["validate", "ok.yaml", "bin.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read bin.yaml: not UTF-8 text (invalid byte on line 2, at byte offset 17)"
        ),
        "{}",
        outcome.stderr
    );
    assert!(!outcome.stderr.contains("all valid"), "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("checked 2 files: 1 error, 0 warnings"),
        "{}",
        outcome.stderr
    );

    let run = Test::new()
        .file("bin.yaml", b"version: 1\nname: \xff\xfe\n")
        .args(["run", "bin.yaml", "--sim", "--store", "none"])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not UTF-8 text"), "{}", run.stderr);
}

#[test]
fn a_folder_given_as_a_playbook_or_inputs_file_is_named() {
    let outcome = Test::new()
        .file("book/a.yaml", VALID)
        .args(["run", "book", "--sim", "--store", "none"])
        .run();
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read book: it is a folder, not a file"),
        "{}",
        outcome.stderr
    );

    let outcome = Test::new()
        .file("greet.yaml", WITH_INPUT)
        .file("inputs/x", "")
        .args(["plan", "greet.yaml", "--inputs", "inputs"])
        .run();
    assert_ne!(outcome.code, 0, "{}", outcome.stderr);
    assert!(
        outcome
            .stderr
            .contains("cannot read the inputs file inputs: it is a folder, not a file"),
        "{}",
        outcome.stderr
    );
}

#[test]
fn playbooks_and_inputs_files_over_their_limit_are_refused() {
    // One byte over 1 MiB: a comment line, so only the size is wrong.
    let mut big = String::from(VALID);
    big.push('#');
    big.push_str(&"x".repeat((1 << 20) + 1 - big.len()));
    let outcome = Test::new()
        .file("big.yaml", &big)
        .args(["validate", "big.yaml"])
        .run();
    assert_eq!(outcome.code, 1, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read big.yaml: it is larger than 1048576 bytes, the limit for playbooks"
        ),
        "{}",
        outcome.stderr
    );

    // 50 MB of inputs used 700 MB of memory before anything said no.
    let inputs = format!("who: \"{}\"\n", "y".repeat(2 << 20));
    let started = Instant::now();
    let outcome = Test::new()
        .file("greet.yaml", WITH_INPUT)
        .file("inputs.yaml", inputs)
        .args([
            "run",
            "greet.yaml",
            "--inputs",
            "inputs.yaml",
            "--sim",
            "--store",
            "none",
        ])
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(outcome.code, 2, "{}", outcome.stderr);
    assert!(
        outcome.stderr.contains(
            "cannot read the inputs file inputs.yaml: it is larger than 1048576 bytes, the limit for inputs files"
        ),
        "{}",
        outcome.stderr
    );

    #[cfg(unix)]
    {
        let outcome = Test::new()
            .file("greet.yaml", WITH_INPUT)
            .args(["plan", "greet.yaml", "--inputs", "/dev/zero"])
            .run();
        assert_ne!(outcome.code, 0, "{}", outcome.stderr);
        assert!(
            outcome.stderr.contains("it is a character device"),
            "{}",
            outcome.stderr
        );
    }
}
