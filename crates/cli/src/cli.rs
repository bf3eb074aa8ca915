//! Command-line definitions (clap derive): the top-level parser, the list of subcommands, and
//! the arguments of `validate` and `schema`. The other subcommands define their arguments next
//! to their code in `commands/<name>.rs` (`RunArgs`, `PlanArgs`, `ServeArgs`, ...); options
//! shared by several commands are in `connect.rs`, `store.rs` and `inputs.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `runbook --version`: the package version, the commit it was built from and the build date
/// (set by build.rs; `unknown` outside a git checkout).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("RUNBOOK_GIT_COMMIT"),
    ", built ",
    env!("RUNBOOK_BUILD_DATE"),
    ")"
);

/// The connection's environment variables, in the `--help` of the commands that talk to
/// Tanium (`run`, `plan`, `serve`).
macro_rules! tanium_environment {
    () => {
        concat!(
            "Environment:\n",
            "  TANIUM_URL            the Tanium server (as --url)\n",
            "  TANIUM_TOKEN          an API token\n",
            "  TANIUM_USERNAME       a user to log in as, when TANIUM_TOKEN is not set\n",
            "  TANIUM_PASSWORD       that user's password\n",
            "  TANIUM_DOMAIN         that user's domain (optional)\n",
            "  TANIUM_CA_CERT        a private CA's PEM file (as --ca-cert)\n",
            "  TANIUM_ALLOW_HTTP     1 or true: plain http:// to a host that is not loopback (as --allow-http)\n",
            "  RUNBOOK_HTTP_ALLOW    hosts `http` steps may reach, with commas (as --http-allow)\n",
            "  RUNBOOK_HTTP_CA_CERT  a CA's PEM file `http` steps trust (as --http-ca-cert)\n",
        )
    };
}

/// `runbook run --help`: the environment it reads.
pub const RUN_ENVIRONMENT: &str = concat!(
    tanium_environment!(),
    "  RUNBOOK_DATABASE_URL  where runs are recorded (as --store)\n",
    "  <secret names>        each secret the playbook lists, from the variable of its name\n",
    "  NO_COLOR, TERM=dumb   plain lines: no colour, no progress bars",
);

/// `runbook plan --help`: the environment it reads (the connection only with --live).
pub const PLAN_ENVIRONMENT: &str = concat!(
    tanium_environment!(),
    "  (the TANIUM_* variables are read with --live only)\n",
    "  NO_COLOR              no colour",
);

/// `runbook serve --help`: the environment it reads.
pub const SERVE_ENVIRONMENT: &str = concat!(
    tanium_environment!(),
    "  RUNBOOK_DATABASE_URL  the store the processes share (as --store)\n",
    "  RUNBOOK_SECRET_KEY    opens the secret inputs runs were queued with (the same\n",
    "                        key in every serve process of the store and in enqueue)\n",
    "  <secret names>        the secrets the queued runs' playbooks list, by name\n",
    "  RUST_LOG              which log lines are written (default info)\n",
    "  HOSTNAME              the host part of this process's worker id, when\n",
    "                        /proc/sys/kernel/hostname cannot be read",
);

/// `runbook enqueue --help`: the environment it reads.
pub const ENQUEUE_ENVIRONMENT: &str = concat!(
    "Environment:\n",
    "  RUNBOOK_DATABASE_URL  the store serve works (as --store)\n",
    "  RUNBOOK_SECRET_KEY    seals the playbook's secret inputs (32 bytes, hex or base64;\n",
    "                        `openssl rand -hex 32`), the key of the serve processes",
);

/// Validate, plan and run Tanium playbooks.
#[derive(Debug, Parser)]
#[command(name = "runbook", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check playbooks offline: YAML, keys, types, durations, ids, templates and the names
    /// they use. In a folder, each YAML file is recognised by its top-level keys: playbooks
    /// and schedules files are checked with their own rules, other YAML (inputs files,
    /// simulator fleet files, ...) is skipped with a note. Exit status: 0 clean, 1 problems
    /// found, 2 usage error or nothing to check.
    Validate(ValidateArgs),
    /// Print the JSON Schema (draft-07) of the playbook format.
    Schema(SchemaArgs),
    /// Run a playbook against Tanium (TANIUM_URL with TANIUM_TOKEN, or TANIUM_USERNAME and
    /// TANIUM_PASSWORD) or, with --sim, against the built-in simulator. With --plan FILE, run
    /// exactly a reviewed plan (`runbook plan --out FILE`; docs/plans.md). Exit status: 0 the
    /// run succeeded, 1 it failed (step failure, assertion, guard, timeout), 2 usage error or
    /// invalid playbook, 3 the reviewed plan no longer holds (expired, edited, or the playbook,
    /// an input, the server, a package or an endpoint count moved; nothing was issued by the
    /// step it stopped, nor at all when refused before the start), 130 interrupted (issued
    /// actions keep running in Tanium).
    #[command(after_help = RUN_ENVIRONMENT)]
    Run(Box<crate::commands::run_playbook::RunArgs>),
    /// Show what a run would do, offline: every step rendered with the exact HTTP requests it
    /// would send; values only the server knows are shown as <placeholders>. Nothing is sent.
    /// With --live it also reads from Tanium (packages, parameters, groups, endpoint counts)
    /// and applies the guard. With --out FILE it also writes the plan as a reviewed plan file,
    /// which `runbook run --plan FILE` carries out until it expires (--ttl, default 1h) or
    /// goes stale (docs/plans.md). Exit status: 0 the plan can run, 1 it cannot (bad inputs,
    /// guard exceeded, unknown package with --live, a false assertion), 2 usage error.
    #[command(after_help = PLAN_ENVIRONMENT)]
    Plan(Box<crate::commands::plan::PlanArgs>),
    /// Serve the built-in Tanium simulator in the foreground (for demos and manual tests);
    /// prints its URL and API token. With --state FILE it keeps its state across restarts.
    Sim(crate::commands::sim::SimArgs),
    /// Recorded runs: list, show, resume after a crash, cancel.
    Runs(crate::commands::runs::RunsArgs),
    /// Schedules files for `runbook serve`: validate them, show the next firing times, print
    /// their JSON Schema.
    Schedules(crate::commands::schedules::SchedulesArgs),
    /// Triggers files for the hooks of `runbook serve --http`: validate them, print
    /// their JSON Schema.
    Triggers(crate::commands::triggers::TriggersArgs),
    /// Queue a run of a playbook for the workers of `runbook serve` (validates it and binds its
    /// inputs first); prints the run's id. Secret inputs are sealed with RUNBOOK_SECRET_KEY.
    #[command(after_help = ENQUEUE_ENVIRONMENT)]
    Enqueue(crate::commands::enqueue::EnqueueArgs),
    /// Run schedules and queued runs as a service: a scheduler fires the schedules file into
    /// the store's queue, workers claim queued runs and run them. Several processes share one
    /// PostgreSQL store. SIGTERM or SIGINT: runs stop at a checkpoint and go back to the queue.
    #[command(after_help = SERVE_ENVIRONMENT)]
    Serve(Box<crate::commands::serve::ServeArgs>),
    /// API tokens for the HTTP API of `runbook serve`: create (printed once; the store keeps
    /// only a hash), list, revoke. Roles: viewer reads; operator starts and cancels runs;
    /// approver decides approvals; admin all.
    Tokens(crate::commands::tokens::TokensArgs),
    /// Gates of `approve` steps waiting for people: list them.
    Approvals(crate::commands::approvals::ApprovalsArgs),
    /// Decide a gate of an `approve` step: approve (or --deny) step STEP of run RUN, as
    /// $USER or --as NAME. Nobody decides a run they started; each decision is audited.
    Approve(crate::commands::approvals::ApproveArgs),
    /// Run the cases of test files (`*.test.yaml`, docs/testing.md): each case's playbook
    /// against a simulator of its own, with the world the case describes, in parallel on a
    /// fast clock; a difference between what a case expects and what its run did is shown as
    /// expected against actual. Exit status: 0 every case passed, 1 a case failed, 2 a test
    /// file (or its playbook) is invalid or nothing was found to run.
    Test(crate::commands::test::TestArgs),
    /// The audit log, newest first: who (a token name or `cli:<user>`) changed what, when,
    /// from which address.
    Audit(crate::commands::audit::AuditArgs),
    /// Print a shell completion script for bash, zsh, fish or powershell, e.g.
    /// `runbook completions bash > ~/.local/share/bash-completion/completions/runbook`.
    Completions(CompletionsArgs),
    /// Print runbook's man page (roff) to stdout, or with --out-dir write one page per command
    /// (runbook.1, runbook-run.1, ...) into a folder, e.g. for /usr/local/share/man/man1.
    Man(ManArgs),
}

/// `runbook validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Playbook or schedules files (a file named here is checked as a playbook unless it is
    /// a schedules, triggers or test file), or folders searched recursively for `*.yaml`
    /// and `*.yml`.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// How to print the problems found (json: each file with its kind, the diagnostics and
    /// the counts).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Fail (exit 1) on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Leave out the files and folders that match GLOB (repeatable). A pattern without `/`
    /// matches a name at any depth (`--exclude '*.fleet.yaml'`); one with `/` matches the
    /// path relative to the folder given (`--exclude 'drafts/**'`). `*` stays within a
    /// folder, `**` crosses folders.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
}

/// Output format of `runbook validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Compiler-style text with the source line and a caret; colour on a terminal.
    Human,
    /// JSON: the diagnostics (`validate`: with each file's kind and the counts).
    Json,
    /// GitHub Actions annotations (`::error file=..,line=..,col=..::message`).
    Github,
}

/// `runbook schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {}

/// `runbook completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// The shells `runbook completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
    /// PowerShell.
    Powershell,
}

/// `runbook man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write runbook.1 and a page per command (runbook-run.1, runbook-runs-list.1, ...) into
    /// this folder instead of printing runbook.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}
