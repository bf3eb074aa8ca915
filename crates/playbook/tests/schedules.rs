//! Schedules files: data-driven fixtures (`tests/data/schedules/{ok,err}/*.yaml`, each error
//! fixture reporting the code its name starts with, its rendering pinned by a snapshot), the
//! committed JSON Schema, and tables of firing times across daylight-saving changes in real
//! zones.

use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone as _, Utc};
use proptest::prelude::*;
use runbook_playbook::{
    LoadedSchedules, PlaybookSource, Schedule, codes, load_schedules,
    load_schedules_with_playbooks, render_human, render_json, resolve_playbook_path,
    schedules_json_schema,
};

mod common;
use common::stem;

fn data() -> PathBuf {
    common::data("schedules")
}

fn fixtures(kind: &str) -> Vec<PathBuf> {
    common::yaml_files(&data().join(kind))
}

/// Loads a fixture the way the CLI does: playbook paths resolved against the fixture's
/// folder, shown relative to `tests/data/schedules` so that snapshots do not depend on where
/// the repository lives.
fn load_fixture(kind: &str, path: &Path) -> LoadedSchedules {
    let source = std::fs::read_to_string(path).expect("fixture text");
    let shown = format!("{kind}/{}.yaml", stem(path));
    load_schedules_with_playbooks(&shown, &source, |playbook| {
        let relative = resolve_playbook_path(Path::new(&shown), playbook);
        match std::fs::read_to_string(data().join(&relative)) {
            Ok(source) => PlaybookSource::Text {
                file: relative.display().to_string(),
                source,
            },
            Err(error) => PlaybookSource::Unreadable {
                reason: error.kind().to_string(),
            },
        }
    })
}

#[test]
fn ok_fixtures_are_clean() {
    let files = fixtures("ok");
    assert!(files.len() >= 4);
    for path in files {
        let loaded = load_fixture("ok", &path);
        assert!(
            loaded.diagnostics.is_empty(),
            "{}:\n{}",
            path.display(),
            render_human(&loaded.diagnostics, false)
        );
        let file = loaded.file.expect("a valid file");
        for schedule in &file.schedules {
            assert!(
                loaded.playbooks.contains_key(&schedule.playbook),
                "{} has no playbook loaded",
                schedule.name
            );
        }
    }
}

#[test]
fn err_fixtures_report_their_code_and_match_snapshots() {
    let files = fixtures("err");
    assert!(files.len() >= 15, "only {} error fixtures", files.len());
    for path in files {
        let name = stem(&path);
        let loaded = load_fixture("err", &path);
        if let Some(code) = name.strip_prefix("rb").and_then(|rest| rest.get(..3)) {
            let code = format!("RB{code}");
            assert!(
                loaded.diagnostics.iter().any(|d| d.code == code),
                "{name} should report {code}:\n{}",
                render_human(&loaded.diagnostics, false)
            );
        }
        assert!(loaded.has_errors(), "{name} has no error");
        assert!(loaded.file.is_none(), "{name} has errors but a file");
        insta::assert_snapshot!(
            format!("schedules_{name}"),
            render_human(&loaded.diagnostics, false)
        );
    }
}

#[test]
fn every_schedule_code_has_an_error_fixture() {
    let names: Vec<String> = fixtures("err").iter().map(|path| stem(path)).collect();
    for (code, summary) in codes::SCHEDULES {
        let prefix = code.to_lowercase();
        assert!(
            names.iter().any(|name| name.starts_with(&prefix)),
            "no fixture for {code} ({summary})"
        );
    }
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let path = data().join("err/many_problems_in_one_pass.yaml");
    let loaded = load_fixture("err", &path);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    for expected in [
        "RB009", "RB041", "RB042", "RB027", "RB043", "RB040", "RB045", "RB005",
    ] {
        assert!(
            codes.contains(&expected),
            "{expected} missing from {codes:?}"
        );
    }
    insta::assert_snapshot!(
        "schedules_many_problems_json",
        render_json(&loaded.diagnostics)
    );
}

#[test]
fn an_invalid_playbook_is_reported_once_with_a_pointer_at_each_use() {
    let loaded = load_fixture("err", &data().join("err/rb044_invalid_playbook.yaml"));
    let pointers = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == codes::PLAYBOOK_INVALID)
        .count();
    let own = loaded
        .diagnostics
        .iter()
        .filter(|d| d.file.ends_with("broken.yaml"))
        .count();
    assert_eq!((pointers, own), (2, 1));
}

#[test]
fn the_cron_caret_points_at_the_bad_field() {
    let loaded = load_fixture("err", &data().join("err/rb041_bad_cron_fields.yaml"));
    let hour = &loaded.diagnostics[0];
    assert_eq!(hour.message, "`cron`: hour field `25`: 25 is outside 0-23");
    let field_start = hour.source_line.find("25 * * *").expect("field in line") + 1;
    assert_eq!(
        (hour.column as usize, hour.length),
        (field_start, 2),
        "{}",
        hour.source_line
    );
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("workspace root")
        .to_path_buf()
}

fn schema_text() -> String {
    let mut text =
        serde_json::to_string_pretty(&schedules_json_schema()).expect("schema serializes");
    text.push('\n');
    text
}

#[test]
fn committed_schema_is_current() {
    let path = workspace_root().join("schema/schedules.schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != schema_text() {
        if std::env::var_os("RUNBOOK_UPDATE_SCHEMA").is_some() {
            std::fs::write(&path, schema_text()).expect("write schema");
        } else {
            panic!(
                "{} is out of date: run `cargo run -p runbook -- schedules schema > schema/schedules.schema.json` \
                 (or this test with RUNBOOK_UPDATE_SCHEMA=1)",
                path.display()
            );
        }
    }
}

#[test]
fn the_schema_accepts_the_ok_fixtures_and_refuses_bad_shapes() {
    let schema = schedules_json_schema();
    let validator = jsonschema::draft7::new(&schema).expect("the schema is valid draft-07");
    for path in fixtures("ok") {
        let source = std::fs::read_to_string(&path).expect("read");
        let instance: serde_json::Value = serde_saphyr::from_str(&source).expect("YAML parses");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|error| format!("{error} at {}", error.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
    }
    for source in [
        "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '0 0 * *' }\n",
        "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '@daily', timezone: Europe/Berln }\n",
        "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '@daily', overlap: wait }\n",
        "version: 1\nschedules:\n  - { name: A, playbook: p.yaml, cron: '@daily' }\n",
        "version: 1\nschedules:\n  - { name: a, playbook: p.yaml, cron: '@daily', tmezone: UTC }\n",
        "version: 2\nschedules: []\n",
    ] {
        let instance: serde_json::Value = serde_saphyr::from_str(source).expect("YAML parses");
        assert!(!validator.is_valid(&instance), "schema accepted:\n{source}");
        assert!(
            load_schedules("x.yaml", source).has_errors(),
            "validator accepted:\n{source}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Firing times.

fn schedule(cron: &str, timezone: &str) -> Schedule {
    let source = format!(
        "version: 1\nschedules:\n  - {{ name: s, playbook: p.yaml, cron: '{cron}', timezone: {timezone} }}\n"
    );
    let loaded = load_schedules("s.yaml", &source);
    let mut file = loaded
        .file
        .unwrap_or_else(|| panic!("{}", render_human(&loaded.diagnostics, false)));
    file.schedules.remove(0)
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|error| panic!("{text}: {error}"))
        .with_timezone(&Utc)
}

/// Asserts the firings after `after`, written as local times with their offsets (so that a
/// table reads like a wall clock) and compared as instants.
fn assert_firings(cron: &str, timezone: &str, after: &str, expected: &[&str]) {
    let firings = schedule(cron, timezone).next_firings(utc(after), expected.len());
    let expected: Vec<DateTime<Utc>> = expected.iter().map(|text| utc(text)).collect();
    let shown = |times: &[DateTime<Utc>]| {
        let zone: chrono_tz::Tz = timezone.parse().expect("zone");
        times
            .iter()
            .map(|time| time.with_timezone(&zone).to_rfc3339())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shown(&firings),
        shown(&expected),
        "`{cron}` in {timezone} after {after}"
    );
}

#[test]
fn new_york_spring_forward() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT; 02:00-02:59 does not exist.
    // A named time in the gap runs once, at the first instant after it.
    assert_firings(
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T00:00:00Z",
        &[
            "2026-03-07T02:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:30:00-04:00",
        ],
    );
    // Several named times in the gap still run once; 03:00 itself is the same firing.
    assert_firings(
        "0,30 2,3 * * *",
        "America/New_York",
        "2026-03-08T01:00:00-05:00",
        &[
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T03:30:00-04:00",
            "2026-03-09T02:00:00-04:00",
        ],
    );
    // Intervals follow real time: the gap's wall-clock times do not exist.
    assert_firings(
        "30 * * * *",
        "America/New_York",
        "2026-03-08T01:00:00-05:00",
        &["2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00"],
    );
    assert_firings(
        "*/30 * * * *",
        "America/New_York",
        "2026-03-08T01:15:00-05:00",
        &[
            "2026-03-08T01:30:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T03:30:00-04:00",
        ],
    );
}

#[test]
fn new_york_fall_back() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:00-01:59 happens twice.
    // A named time in the repeated hour runs once, on the first pass.
    assert_firings(
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T00:00:00-04:00",
        &[
            "2026-10-31T01:30:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-02T01:30:00-05:00",
        ],
    );
    // Asked during the second pass, it does not run again.
    assert_firings(
        "30 1 * * *",
        "America/New_York",
        "2026-11-01T01:00:00-05:00",
        &["2026-11-02T01:30:00-05:00"],
    );
    // Hourly keeps its real-time rhythm through both passes.
    assert_firings(
        "0 * * * *",
        "America/New_York",
        "2026-10-31T23:30:00-04:00",
        &[
            "2026-11-01T00:00:00-04:00",
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
    // Asked on the first pass, an interval line still sees the second one ahead.
    assert_firings(
        "*/20 * * * *",
        "America/New_York",
        "2026-11-01T01:50:00-04:00",
        &[
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:20:00-05:00",
            "2026-11-01T01:40:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
    );
}

#[test]
fn berlin_spring_forward() {
    // 2026-03-29: 02:00 CET becomes 03:00 CEST.
    assert_firings(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-03-28T00:00:00+01:00",
        &[
            "2026-03-28T02:30:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00",
        ],
    );
    // A range of named hours: 02:00 is carried to 03:00, which is also named: one run.
    assert_firings(
        "0 1-3 * * *",
        "Europe/Berlin",
        "2026-03-29T00:00:00+01:00",
        &[
            "2026-03-29T01:00:00+01:00",
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T01:00:00+02:00",
        ],
    );
    // With seconds: the run happens at the first instant after the gap.
    assert_firings(
        "15 30 2 * * *",
        "Europe/Berlin",
        "2026-03-29T00:00:00+01:00",
        &["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:15+02:00"],
    );
}

#[test]
fn berlin_fall_back() {
    // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happens twice.
    assert_firings(
        "30 2 * * *",
        "Europe/Berlin",
        "2026-10-24T00:00:00+02:00",
        &[
            "2026-10-24T02:30:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-26T02:30:00+01:00",
        ],
    );
    // Every 15 minutes of the repeated hour, on both passes: 15 real minutes apart.
    assert_firings(
        "*/15 2 * * *",
        "Europe/Berlin",
        "2026-10-25T01:59:00+02:00",
        &[
            "2026-10-25T02:00:00+02:00",
            "2026-10-25T02:15:00+02:00",
            "2026-10-25T02:30:00+02:00",
            "2026-10-25T02:45:00+02:00",
            "2026-10-25T02:00:00+01:00",
            "2026-10-25T02:15:00+01:00",
            "2026-10-25T02:30:00+01:00",
            "2026-10-25T02:45:00+01:00",
            "2026-10-26T02:00:00+01:00",
        ],
    );
}

#[test]
fn utc_and_simple_lines() {
    assert_firings(
        "0 */6 * * *",
        "UTC",
        "2026-01-01T05:59:59.5Z",
        &["2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z"],
    );
    // Strictly after: a firing at `after` itself is not repeated.
    assert_firings(
        "0 */6 * * *",
        "UTC",
        "2026-01-01T06:00:00Z",
        &["2026-01-01T12:00:00Z"],
    );
    assert_firings(
        "0 0 29 2 *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2028-02-29T00:00:00Z"],
    );
    assert!(
        schedule("@daily", "UTC")
            .next_firings(utc("2026-01-01T00:00:00Z"), 0)
            .is_empty()
    );
}

const LINES: [&str; 8] = [
    "30 2 * * *",
    "0 * * * *",
    "*/20 * * * *",
    "0 1-3 * * *",
    "*/15 2 * * *",
    "0 */6 * * 1-5",
    "15 30 1 * * *",
    "0 0 1 * *",
];
const ZONES: [&str; 5] = [
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "UTC",
    "Asia/Kolkata",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Firings are strictly increasing, strictly after the start, and asking for them one at
    /// a time gives the same list as asking for them all at once (which is what `serve` does
    /// from one firing to the next).
    #[test]
    fn firings_are_ordered_and_consistent(
        line in 0..LINES.len(),
        zone in 0..ZONES.len(),
        // Anywhere in 2026, to the second, so that DST days are hit often enough.
        second_of_year in 0i64..365 * 86_400,
    ) {
        let schedule = schedule(LINES[line], ZONES[zone]);
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid")
            + chrono::TimeDelta::seconds(second_of_year);
        let all = schedule.next_firings(start, 6);
        prop_assert_eq!(all.len(), 6);
        prop_assert!(all[0] > start);
        prop_assert!(all.windows(2).all(|pair| pair[0] < pair[1]), "{:?}", all);
        let mut one_by_one = Vec::new();
        let mut cursor = start;
        for _ in 0..6 {
            let next = schedule.next_firings(cursor, 1);
            prop_assert_eq!(next.len(), 1);
            cursor = next[0];
            one_by_one.push(cursor);
        }
        prop_assert_eq!(all, one_by_one);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any cron-like text is either read or refused with located diagnostics; never a panic,
    /// and a line that is read has firing times.
    #[test]
    fn arbitrary_cron_lines_never_panic(
        fields in proptest::collection::vec("[0-9*/,#LW?+-]{1,5}|MON|jan|@daily|@x|60|0", 0..8)
    ) {
        let cron = fields.join(" ");
        let source = format!(
            "version: 1\nschedules:\n  - {{ name: a, playbook: p.yaml, cron: \"{cron}\" }}\n"
        );
        let loaded = load_schedules("s.yaml", &source);
        match loaded.file {
            Some(file) => {
                let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid");
                prop_assert!(!file.schedules[0].next_firings(start, 1).is_empty(), "{}", cron);
            }
            None => {
                prop_assert!(loaded.has_errors());
                for diagnostic in &loaded.diagnostics {
                    prop_assert_eq!(diagnostic.line, 3);
                    prop_assert!(diagnostic.column >= 1);
                }
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "[ -~\n]{0,300}") {
        let loaded = load_schedules("fuzz.yaml", &text);
        prop_assert_eq!(loaded.file.is_some(), !loaded.has_errors());
    }
}
