//! The web console's runs page (`GET /runs`) on a store of 100,000 finished runs: time to first
//! byte of the first page, of a page deep in the list, and of a filtered deep page, against a
//! release `runbook serve --http` this binary starts itself (goal: p95 under 100 ms for each).
//!
//! For each store, SQLite (a file in a temporary folder) and PostgreSQL (only when
//! `RUNBOOK_TEST_POSTGRES_URL` is set: a database of its own, created with `psql` and dropped at
//! the end): the store is opened with [`SqlStore::open`] (which runs the migrations), then
//! `--runs` finished runs are written in bulk by the database's own client (`sqlite3`, `psql`)
//! from a script of multi-row `INSERT`s in one transaction: UUIDv7 run ids one second apart
//! (the engine's ids are `Uuid::now_v7()`, so id order is start order), four playbook names,
//! every fourth run `failed`, the others `succeeded`. PostgreSQL's table is then `ANALYZE`d (what
//! autovacuum would soon do); SQLite's is not (runbook never runs `ANALYZE` on it).
//!
//! Then `runbook serve --sim --http 127.0.0.1:0 --workers 1 --api-rate 1000000` on that store
//! (`--sim`: no Tanium server is needed to serve pages; the rate far above the load, whose
//! pages the session's token would otherwise be refused 429 past 50 a second), a viewer token made with
//! `runbook tokens create`, a console sign-in (`GET /login` for the CSRF cookie, `POST /login`
//! with the token, the session cookie kept), and for each page `--warmup` requests then
//! `--requests` measured ones, one at a time: the time from the request's send to its status
//! line and headers (time to first byte; the body is read after the clock stops), and the whole
//! answer. Each page's body is checked once to hold a full page of 50 runs.
//!
//! ```sh
//! cargo build --release -p runbook
//! cargo build --release -p runbook-benches --bin console_runs_page
//! RUNBOOK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test target/release/console_runs_page
//! ```
//!
//! Options (defaults): `--runbook PATH` (the `runbook` beside this binary), `--runs 100000`,
//! `--deep 90000` (the cursor of the deep pages: the id of the run that is this many from the
//! newest), `--warmup 20`, `--requests 200`, `--only sqlite|postgres`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runbook_store::SqlStore;

/// The goal of the brief: each page's time to first byte under this at the 95th percentile.
const GOAL_P95: Duration = Duration::from_millis(100);
/// Runs a page of the console shows.
const PAGE_ROWS: usize = 50;
/// Rows per `INSERT` of the seeding script.
const ROWS_PER_INSERT: usize = 500;
const PLAYBOOK_NAMES: [&str; 4] = [
    "isolate-host",
    "collect-triage",
    "patch-compliance",
    "console-bench",
];

/// The playbook the serve process loads (the runs need not be of a loaded playbook).
const PLAYBOOK: &str =
    "version: 1\nname: console-bench\nsteps:\n  - id: note\n    log: \"hello\"\n";

/// A small playbook source kept in every seeded run, as a real run keeps its playbook's.
const SEEDED_SOURCE: &str = "version: 1\nname: {name}\nsteps:\n  - id: note\n    log: hello\n";

#[derive(Debug, Clone)]
struct Options {
    runbook: PathBuf,
    runs: usize,
    deep: usize,
    warmup: usize,
    requests: usize,
    only: Option<Backend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: console_runs_page [--runbook PATH] [--runs N] [--deep N] [--warmup N] \
         [--requests N] [--only sqlite|postgres]"
    );
    ExitCode::from(2)
}

fn parse_options() -> Option<Options> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|folder| folder.join("runbook")))
        .filter(|path| path.exists())
        .unwrap_or_else(|| PathBuf::from("target/release/runbook"));
    let mut options = Options {
        runbook: beside,
        runs: 100_000,
        deep: 90_000,
        warmup: 20,
        requests: 200,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runbook" => options.runbook = PathBuf::from(args.next()?),
            "--runs" => options.runs = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--deep" => options.deep = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--warmup" => options.warmup = args.next()?.parse().ok()?,
            "--requests" => options.requests = args.next()?.parse().ok().filter(|&n| n > 0)?,
            "--only" => {
                options.only = Some(match args.next()?.as_str() {
                    "sqlite" => Backend::Sqlite,
                    "postgres" => Backend::Postgres,
                    _ => return None,
                });
            }
            _ => return None,
        }
    }
    // The deep pages need PAGE_ROWS runs (of each status) older than their cursor.
    if options.deep + 4 * PAGE_ROWS > options.runs {
        return None;
    }
    Some(options)
}

fn main() -> ExitCode {
    let Some(options) = parse_options() else {
        return usage();
    };
    runbook_benches::exit_code_of(
        "console_runs_page",
        "some page missed the goal or a check failed",
        run(options),
    )
}

/// One measured page.
#[derive(Debug)]
struct PageFigures {
    label: &'static str,
    first_byte: Vec<Duration>,
    whole: Vec<Duration>,
    rows: usize,
}

/// One store's figures.
#[derive(Debug)]
struct StoreFigures {
    backend: Backend,
    seeding: Duration,
    pages: Vec<PageFigures>,
}

async fn run(options: Options) -> Result<bool, String> {
    let folder = std::env::temp_dir().join(format!("runbook-console-runs-{}", std::process::id()));
    std::fs::create_dir_all(&folder).map_err(|error| error.to_string())?;
    let result = measure_all(&options, &folder).await;
    let _ = std::fs::remove_dir_all(&folder);
    let figures = result?;

    println!();
    println!(
        "GET /runs time to first byte, {} runs in the store, {} requests each after {} warm-up, one at a time:",
        group(options.runs),
        options.requests,
        options.warmup
    );
    println!(
        "| store | page | rows | p50 | p95 | p99 | max | whole answer p95 |\n|---|---|---|---|---|---|---|---|"
    );
    let mut passed = true;
    for store in &figures {
        for page in &store.pages {
            let mut first_byte = page.first_byte.clone();
            first_byte.sort();
            let mut whole = page.whole.clone();
            whole.sort();
            let p95 = percentile(&first_byte, 0.95);
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                store.backend.name(),
                page.label,
                page.rows,
                ms(percentile(&first_byte, 0.50)),
                ms(p95),
                ms(percentile(&first_byte, 0.99)),
                ms(first_byte.last().copied().unwrap_or_default()),
                ms(percentile(&whole, 0.95)),
            );
            if p95 >= GOAL_P95 || page.rows != PAGE_ROWS {
                passed = false;
            }
        }
    }
    println!();
    for store in &figures {
        println!(
            "seeding {}: {} runs in {:.2} s",
            store.backend.name(),
            group(options.runs),
            store.seeding.as_secs_f64()
        );
    }
    println!(
        "goal p95 < 100 ms:    {}",
        if passed { "met" } else { "NOT met" }
    );
    Ok(passed)
}

async fn measure_all(options: &Options, folder: &Path) -> Result<Vec<StoreFigures>, String> {
    let mut figures = Vec::new();
    if options.only != Some(Backend::Postgres) {
        let path = folder.join("runs.db");
        let url = format!("sqlite://{}", path.display());
        figures.push(measure_store(options, folder, Backend::Sqlite, &url).await?);
    }
    if options.only != Some(Backend::Sqlite) {
        match std::env::var("RUNBOOK_TEST_POSTGRES_URL") {
            Ok(admin) => {
                let database = Database::create(&admin)?;
                let store_figures =
                    measure_store(options, folder, Backend::Postgres, &database.url).await;
                drop(database);
                figures.push(store_figures?);
            }
            Err(_) => println!("postgres: skipped (RUNBOOK_TEST_POSTGRES_URL is not set)"),
        }
    }
    Ok(figures)
}

async fn measure_store(
    options: &Options,
    folder: &Path,
    backend: Backend,
    url: &str,
) -> Result<StoreFigures, String> {
    println!(
        "{}: migrating and seeding {} runs",
        backend.name(),
        group(options.runs)
    );
    let store = SqlStore::open(url)
        .await
        .map_err(|error| format!("opening {url}: {error}"))?;
    store.close().await;

    let script = folder.join(format!("seed-{}.sql", backend.name()));
    let started = Instant::now();
    let ids = write_seed_script(&script, options.runs, backend)?;
    match backend {
        Backend::Sqlite => run_script("sqlite3", &[&url["sqlite://".len()..]], &script)?,
        Backend::Postgres => run_script("psql", &[url, "-v", "ON_ERROR_STOP=1", "-q"], &script)?,
    }
    let seeding = started.elapsed();
    let _ = std::fs::remove_file(&script);
    println!(
        "{}: seeded in {:.2} s",
        backend.name(),
        seeding.as_secs_f64()
    );

    let mut serve = Serve::start(&options.runbook, folder, url)?;
    let token = create_token(&options.runbook, url)?;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| error.to_string())?;
    let session = sign_in(&client, &serve.base, &token).await?;

    // Ids were made oldest first: the newest is the last.
    let deep_cursor = &ids[ids.len() - options.deep];
    let pages: [(&'static str, String); 3] = [
        ("first page", "/runs".to_owned()),
        ("deep page", format!("/runs?cursor={deep_cursor}")),
        (
            "deep page, status=failed",
            format!("/runs?status=failed&cursor={deep_cursor}"),
        ),
    ];
    let mut measured = Vec::new();
    for (label, path) in pages {
        let url = format!("{}{path}", serve.base);
        let rows = page_rows(&client, &url, &session).await?;
        for _ in 0..options.warmup {
            timed_get(&client, &url, &session).await?;
        }
        let mut first_byte = Vec::with_capacity(options.requests);
        let mut whole = Vec::with_capacity(options.requests);
        for _ in 0..options.requests {
            let (headers, answer) = timed_get(&client, &url, &session).await?;
            first_byte.push(headers);
            whole.push(answer);
        }
        let mut sorted = first_byte.clone();
        sorted.sort();
        println!(
            "{}: {label:<26} rows {rows}  p50 {}  p95 {}",
            backend.name(),
            ms(percentile(&sorted, 0.50)),
            ms(percentile(&sorted, 0.95))
        );
        measured.push(PageFigures {
            label,
            first_byte,
            whole,
            rows,
        });
    }
    serve.stop();
    Ok(StoreFigures {
        backend,
        seeding,
        pages: measured,
    })
}

// ---------------------------------------------------------------------------------------------
// Seeding.

/// Writes the seeding script (one transaction of multi-row `INSERT`s) and returns the run ids,
/// oldest first.
fn write_seed_script(path: &Path, runs: usize, backend: Backend) -> Result<Vec<String>, String> {
    let file = File::create(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let mut out = BufWriter::new(file);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| error.to_string())?
        .as_millis() as u64;
    // One run a second, the newest a minute ago.
    let first_ms = now_ms - 60_000 - (runs as u64) * 1000;
    let mut random = 0x2545_F491_4F6C_DD1D_u64;
    let mut ids = Vec::with_capacity(runs);
    let write = |out: &mut BufWriter<File>, text: &str| {
        out.write_all(text.as_bytes())
            .map_err(|error| format!("{}: {error}", path.display()))
    };
    write(&mut out, "BEGIN;\n")?;
    for index in 0..runs {
        if index % ROWS_PER_INSERT == 0 {
            if index > 0 {
                write(&mut out, ";\n")?;
            }
            write(
                &mut out,
                "INSERT INTO runs (run_id, playbook_name, playbook_source, playbook_hash, \
                 playbook_path, inputs, started_by, status, outputs, error, started_at, \
                 finished_at, queued_at) VALUES\n",
            )?;
        } else {
            write(&mut out, ",\n")?;
        }
        let started_ms = first_ms + index as u64 * 1000;
        let run_id = uuid_v7(
            started_ms,
            next_random(&mut random),
            next_random(&mut random),
        );
        let name = PLAYBOOK_NAMES[index % PLAYBOOK_NAMES.len()];
        let failed = index % 4 == 3;
        // Both databases take newlines inside a string literal.
        let source = format!("'{}'", SEEDED_SOURCE.replace("{name}", name));
        let (status, outputs, error) = if failed {
            (
                "failed",
                "NULL".to_owned(),
                format!("'step isolate: Tanium answered 503 (run {index})'"),
            )
        } else {
            ("succeeded", "'{\"ok\":true}'".to_owned(), "NULL".to_owned())
        };
        let started_at = rfc3339(started_ms);
        let finished_at = rfc3339(started_ms + 350 + (index as u64 % 400));
        write(
            &mut out,
            &format!(
                "('{run_id}', '{name}', {source}, '{hash:064x}', 'playbooks/{name}.yaml', \
                 '{{\"hostname\":\"WIN-{host:05}\"}}', 'api:console-bench', '{status}', \
                 {outputs}, {error}, '{started_at}', '{finished_at}', '{started_at}')",
                hash = index % PLAYBOOK_NAMES.len() + 1,
                host = index % 5000,
            ),
        )?;
        ids.push(run_id);
    }
    write(&mut out, ";\n")?;
    if backend == Backend::Postgres {
        write(&mut out, "COMMIT;\nANALYZE runs;\n")?;
    } else {
        write(&mut out, "COMMIT;\n")?;
    }
    out.flush()
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(ids)
}

/// `program ARGS < script`.
fn run_script(program: &str, args: &[&str], script: &Path) -> Result<(), String> {
    let input = File::open(script).map_err(|error| format!("{}: {error}", script.display()))?;
    let output = Command::new(program)
        .args(args)
        .stdin(input)
        .output()
        .map_err(|error| format!("{program}: {error}"))?;
    if !output.status.success() || !output.stderr.is_empty() {
        return Err(format!(
            "{program} seeding: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

fn next_random(state: &mut u64) -> u64 {
    // xorshift64
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// A UUIDv7 in its text form: 48 bits of Unix milliseconds, version 7, 12 random bits, the
/// RFC 4122 variant, 62 random bits (what `uuid::Uuid::now_v7()` makes).
fn uuid_v7(unix_ms: u64, a: u64, b: u64) -> String {
    let time = unix_ms & 0xFFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-7{:03x}-{:04x}-{:012x}",
        time >> 16,
        time & 0xFFFF,
        a & 0xFFF,
        0x8000 | ((b >> 48) & 0x3FFF),
        b & 0xFFFF_FFFF_FFFF
    )
}

/// Unix milliseconds as the store's time text: RFC 3339, UTC, microseconds, fixed width.
fn rfc3339(unix_ms: u64) -> String {
    let seconds = unix_ms / 1000;
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        (unix_ms % 1000) * 1000
    )
}

// ---------------------------------------------------------------------------------------------
// The serve process, the token, the session.

/// `psql URL -c SQL`.
fn psql(url: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-tAq", "-c", sql])
        .output()
        .map_err(|error| format!("psql: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "psql {sql:?}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// `url` with its database (the last path segment) replaced by `database`, options kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let cut = base
        .rfind('/')
        .filter(|&slash| slash > "postgres://".len())
        .unwrap_or(base.len());
    let mut result = format!("{}/{database}", &base[..cut]);
    if !query.is_empty() {
        result.push('?');
        result.push_str(query);
    }
    result
}

/// A database of this run's own, dropped when this is dropped.
#[derive(Debug)]
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str) -> Result<Database, String> {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let name = format!("console_runs_page_{}_{nanos}", std::process::id());
        psql(admin, &format!("CREATE DATABASE {name}"))?;
        Ok(Database {
            admin: admin.to_owned(),
            url: with_database(admin, &name),
            name,
        })
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Err(error) = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            eprintln!("dropping {}: {error}", self.name);
        }
    }
}

/// A viewer token made with `runbook tokens create` (printed once: `rbk_` and 64 hex digits).
fn create_token(runbook: &Path, store: &str) -> Result<String, String> {
    let output = Command::new(runbook)
        .args(["tokens", "create", "console-bench", "--role", "viewer"])
        .args(["--store", store])
        .env("USER", "console_runs_page")
        .output()
        .map_err(|error| format!("{}: {error}", runbook.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "tokens create: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|word| {
            word.len() == 4 + 64
                && word.starts_with("rbk_")
                && word[4..]
                    .bytes()
                    .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
        })
        .map(str::to_owned)
        .ok_or_else(|| format!("tokens create printed no token: {text}"))
}

/// The value of cookie `name` among the answer's `Set-Cookie` headers.
fn set_cookie(answer: &reqwest::Response, name: &str) -> Option<String> {
    answer
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|text| {
            let pair = text.split(';').next()?;
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name && !value.is_empty()).then(|| value.to_owned())
        })
}

/// Signs in to the console with `token`: the `Cookie` header value of the session.
async fn sign_in(client: &reqwest::Client, base: &str, token: &str) -> Result<String, String> {
    let form = client
        .get(format!("{base}/login"))
        .send()
        .await
        .map_err(|error| format!("GET /login: {error}"))?;
    let csrf = set_cookie(&form, "runbook_login")
        .ok_or_else(|| format!("GET /login ({}) set no runbook_login cookie", form.status()))?;
    form.bytes().await.map_err(|error| error.to_string())?;
    let body = format!("token={token}&csrf={csrf}&next=%2Fruns");
    let answer = client
        .post(format!("{base}/login"))
        .header("cookie", format!("runbook_login={csrf}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|error| format!("POST /login: {error}"))?;
    let status = answer.status();
    let session = set_cookie(&answer, "runbook_session");
    let text = answer.text().await.unwrap_or_default();
    match session {
        Some(session) if status.as_u16() == 303 => Ok(format!("runbook_session={session}")),
        _ => Err(format!(
            "POST /login answered {status} without a session: {text}"
        )),
    }
}

/// Time to first byte (the status line and headers) and to the whole answer of one `GET`.
async fn timed_get(
    client: &reqwest::Client,
    url: &str,
    session: &str,
) -> Result<(Duration, Duration), String> {
    let request = client
        .get(url)
        .header("cookie", session)
        .build()
        .map_err(|error| error.to_string())?;
    let sent = Instant::now();
    let answer = client
        .execute(request)
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let first_byte = sent.elapsed();
    let status = answer.status();
    answer
        .bytes()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let whole = sent.elapsed();
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}"));
    }
    Ok((first_byte, whole))
}

/// The rows of the runs table on the page at `url`.
async fn page_rows(client: &reqwest::Client, url: &str, session: &str) -> Result<usize, String> {
    let answer = client
        .get(url)
        .header("cookie", session)
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    let status = answer.status();
    let text = answer
        .text()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    if !status.is_success() {
        return Err(format!("GET {url} answered {status}: {text}"));
    }
    let body = text
        .split_once("<tbody>")
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map_or("", |(body, _)| body);
    let rows = body.matches("<tr>").count();
    let ids: Vec<&str> = body
        .split("href=\"/runs/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    if rows != ids.len() {
        return Err(format!(
            "GET {url}: {rows} rows but {} run links in the table",
            ids.len()
        ));
    }
    // A deep page shows runs older than its cursor, newest first.
    if let Some((_, cursor)) = url.split_once("cursor=")
        && (ids.iter().any(|id| *id >= cursor) || !ids.is_sorted_by(|a, b| a > b))
    {
        return Err(format!(
            "GET {url}: runs out of order or not older than the cursor"
        ));
    }
    Ok(rows)
}

/// The `runbook serve --http` child: SIGTERM, then killed, when dropped.
#[derive(Debug)]
struct Serve {
    child: Option<Child>,
    base: String,
}

impl Serve {
    fn start(runbook: &Path, folder: &Path, store: &str) -> Result<Serve, String> {
        let playbooks = folder.join("playbooks");
        std::fs::create_dir_all(&playbooks).map_err(|error| error.to_string())?;
        std::fs::write(playbooks.join("console-bench.yaml"), PLAYBOOK)
            .map_err(|error| error.to_string())?;
        let log = folder.join("serve.log");
        let stderr = File::create(&log).map_err(|error| error.to_string())?;
        let child = Command::new(runbook)
            .current_dir(folder)
            .env("NO_COLOR", "1")
            .env_remove("RUNBOOK_SECRET_KEY")
            .args(["serve", "--sim", "--http", "127.0.0.1:0", "--playbooks"])
            .arg(&playbooks)
            .args(["--store", store, "--workers", "1", "--log-format", "json"])
            // The console's requests count against the token's rate (50 a second by default):
            // far above what one client sending one at a time can make.
            .args(["--api-rate", "1000000"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("{}: {error}", runbook.display()))?;
        let mut serve = Serve {
            child: Some(child),
            base: String::new(),
        };
        let Some(child) = serve.child.as_mut() else {
            return Err("runbook serve did not start".to_owned());
        };
        let address = runbook_benches::wait_for_http_address(&log, child)?;
        serve.base = format!("http://{address}");
        Ok(serve)
    }

    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// Figures.

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// `100000` as `100,000`.
fn group(number: usize) -> String {
    let digits = number.to_string();
    let mut text = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}
