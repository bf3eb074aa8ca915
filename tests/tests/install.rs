//! docs/install.md and the Containerfile agree with the repository. Building the `dist` binary
//! takes minutes and no container engine runs here, so these tests check what the commands
//! name instead: the `cargo install` line's path and `--locked` (and that the lock file is
//! current, which `--locked` needs), the `dist` profile, and the image's builder stage,
//! non-root user and health check.

use runbook_tests::{Test, workspace_root};

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace_root().join(relative))
        .unwrap_or_else(|error| panic!("{relative}: {error}"))
}

/// The lines of the shell blocks of a Markdown page (```sh ... ```), comments cut.
fn shell_lines(markdown: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut in_shell = false;
    for line in markdown.lines() {
        let trimmed = line.trim();
        if let Some(fence) = trimmed.strip_prefix("```") {
            in_shell = !in_shell && fence == "sh";
            continue;
        }
        if in_shell {
            let command = trimmed.split(" #").next().unwrap_or_default().trim();
            if !command.is_empty() {
                lines.push(command.to_owned());
            }
        }
    }
    lines
}

fn the_line(lines: &[String], prefix: &str) -> Vec<String> {
    let line = lines
        .iter()
        .find(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("docs/install.md has no `{prefix}` command"));
    line.split_whitespace().map(str::to_owned).collect()
}

fn value_after(words: &[String], flag: &str) -> String {
    words
        .iter()
        .position(|word| word == flag)
        .and_then(|at| words.get(at + 1))
        .unwrap_or_else(|| panic!("{flag} has no value in {words:?}"))
        .clone()
}

#[test]
fn cargo_install_names_the_runbook_package_and_is_locked() {
    let lines = shell_lines(&read("docs/install.md"));
    let install = the_line(&lines, "cargo install");
    assert!(install.iter().any(|word| word == "--locked"), "{install:?}");
    let path = value_after(&install, "--path");
    let manifest = read(&format!("{path}/Cargo.toml"));
    assert!(
        manifest.contains("name = \"runbook\""),
        "{path}: {manifest}"
    );
    assert!(manifest.contains("[[bin]]"), "{path} builds no binary");

    // `--locked` fails when Cargo.lock is not current: check it is, without the network.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(workspace_root().join(&path).join("Cargo.toml"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo metadata --locked: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dist_build_names_an_existing_profile_and_package() {
    let lines = shell_lines(&read("docs/install.md"));
    let build = the_line(&lines, "cargo build");
    let profile = value_after(&build, "--profile");
    let package = value_after(&build, "-p");
    assert!(build.iter().any(|word| word == "--locked"), "{build:?}");
    assert!(
        read("Cargo.toml").contains(&format!("[profile.{profile}]")),
        "no profile {profile} in Cargo.toml"
    );
    assert_eq!(package, "runbook");
    let size = the_line(&lines, "ls -l");
    assert_eq!(size.last(), Some(&format!("target/{profile}/{package}")));
}

#[test]
fn the_containerfile_builds_dist_runs_as_a_user_and_checks_healthz() {
    let containerfile = read("Containerfile");
    // Continuation lines joined, comments dropped.
    let joined = containerfile
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\\\n", " ");
    let instructions: Vec<(&str, &str)> = joined
        .lines()
        .filter_map(|line| line.trim().split_once(' '))
        .collect();
    let froms: Vec<&str> = instructions
        .iter()
        .filter(|(keyword, _)| *keyword == "FROM")
        .map(|(_, rest)| *rest)
        .collect();
    assert_eq!(froms.len(), 2, "a builder stage and the image: {froms:?}");
    assert!(froms[0].ends_with("AS builder"), "{froms:?}");
    assert!(froms[1].contains("slim"), "a slim base: {froms:?}");
    let run = |needle: &str| {
        instructions
            .iter()
            .any(|(keyword, rest)| *keyword == "RUN" && rest.contains(needle))
    };
    assert!(
        run("cargo build --profile dist -p runbook --locked"),
        "{joined}"
    );
    assert!(
        instructions
            .iter()
            .any(|(keyword, rest)| *keyword == "COPY" && rest.starts_with("--from=builder")),
        "{joined}"
    );
    let user = instructions
        .iter()
        .find(|(keyword, _)| *keyword == "USER")
        .map(|(_, user)| user.trim())
        .unwrap_or_else(|| panic!("no USER: {joined}"));
    assert!(user != "root" && user != "0", "USER {user}");
    let health = instructions
        .iter()
        .find(|(keyword, _)| *keyword == "HEALTHCHECK")
        .map(|(_, rest)| *rest)
        .unwrap_or_else(|| panic!("no HEALTHCHECK: {joined}"));
    assert!(health.contains("/healthz"), "{health}");
    let command = instructions
        .iter()
        .find(|(keyword, _)| *keyword == "CMD")
        .map(|(_, rest)| *rest)
        .unwrap_or_else(|| panic!("no CMD: {joined}"));
    assert!(
        command.contains("\"serve\", \"--metrics-addr\""),
        "{command}"
    );
    // The health check asks the port the default command serves metrics on.
    let port = command
        .rsplit(':')
        .next()
        .map(|rest| rest.trim_matches(|c: char| !c.is_ascii_digit()))
        .unwrap_or_default();
    assert!(!port.is_empty(), "{command}");
    assert!(
        health.contains(&format!("127.0.0.1:{port}/healthz")),
        "{health}"
    );
    // .git and target/ stay out of the build context.
    let ignore = read(".dockerignore");
    assert!(ignore.lines().any(|line| line == ".git"), "{ignore}");
    assert!(ignore.lines().any(|line| line == "/target"), "{ignore}");
}

#[test]
fn the_documented_image_commands_name_existing_files_and_flags() {
    let lines = shell_lines(&read("docs/install.md"));
    let build = the_line(&lines, "podman build");
    let file = value_after(&build, "-f");
    assert!(workspace_root().join(&file).is_file(), "{file}");
    assert_eq!(build.last().map(String::as_str), Some("."), "{build:?}");
    // Every `runbook ...` command the page runs in the image parses (`--help` of the same
    // words), so that a renamed flag is caught here.
    let image_commands: Vec<Vec<String>> = lines
        .iter()
        .filter(|line| line.starts_with("runbook "))
        .map(|line| line.split_whitespace().skip(1).map(str::to_owned).collect())
        .collect();
    assert!(image_commands.len() >= 2, "{lines:?}");
    for words in image_commands {
        if words
            .first()
            .is_some_and(|word| word == "completions" || word == "man")
        {
            continue;
        }
        let mut args: Vec<String> = words
            .into_iter()
            .filter(|word| !word.starts_with("--version"))
            .collect();
        if args.is_empty() {
            continue;
        }
        args.push("--help".to_owned());
        let out = Test::new().args(&args).run();
        assert_eq!(out.code, 0, "runbook {args:?}: {}", out.stderr);
    }
}
