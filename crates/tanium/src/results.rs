//! Action results: status parsing, classification and a streaming summary.
//!
//! `GET /api/v2/result_data/action/{id}` answers one result set whose rows are
//! `Computer Name`, `Action Statuses` and `Count` cells, each a list of `{"text": ...}`
//! (docs/tanium-api.md). A status cell reads like `1362231:Completed.`; it is parsed to the word
//! `Completed` and classified as running, success, failure or unknown. Special texts such as
//! `[current results unavailable]` are never taken as data.
//!
//! Rows are deserialised straight into counts (and at most `max_rows` kept rows), never into a
//! `serde_json::Value`, so a 200,000-row answer is summarised in one pass with little memory.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// What a status word means for the action's progress on that machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still working (waiting, downloading, running, or awaiting verification).
    Running,
    /// Done and successful.
    Success,
    /// Done and failed (failed, not succeeded, expired, stopped).
    Failure,
    /// A word this adapter does not know, or no usable status.
    Unknown,
}

/// The value of a result cell, with Tanium's special texts told apart from data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CellText<'a> {
    /// Real data.
    Value(Cow<'a, str>),
    /// `[no results]`: the machine has nothing for this column.
    NoResults,
    /// `[current results unavailable]` and its variants: not answered yet.
    Unavailable,
    /// `TSE-Error: ...`: the sensor failed on the machine.
    Error,
}

impl<'a> CellText<'a> {
    /// Classifies one text of a cell.
    pub fn classify(text: Cow<'a, str>) -> Self {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("[no results]") {
            CellText::NoResults
        } else if trimmed.starts_with('[') && trimmed.to_ascii_lowercase().contains("unavailable") {
            CellText::Unavailable
        } else if trimmed.starts_with("TSE-Error:") {
            CellText::Error
        } else {
            CellText::Value(text)
        }
    }

    fn is_data(&self) -> bool {
        matches!(self, CellText::Value(text) if !text.trim().is_empty())
    }
}

/// Parses an `Action Statuses` text to its status word: `1362231:Completed.` → `Completed`,
/// `5:Pending Verification.` → `PendingVerification` (split at the first `:`, trim, drop the
/// trailing period, remove spaces, as Splunk's connector does).
pub fn parse_status(text: &str) -> String {
    let after_id = match text.split_once(':') {
        Some((_, status)) => status,
        None => text,
    };
    let trimmed = after_id.trim();
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    trimmed.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Classifies a status word. With verification on, `Completed` only means the command ran:
/// the machine is still running until it reports `Verified` (pytan `ActionPoller`).
pub fn classify(status_word: &str, verify: bool) -> Outcome {
    match status_word.to_ascii_lowercase().as_str() {
        "waiting" | "downloading" | "copying" | "running" | "pendingverification" | "pending" => {
            Outcome::Running
        }
        "completed" if verify => Outcome::Running,
        "completed" | "verified" | "succeeded" => Outcome::Success,
        "failed" | "notsucceeded" | "expired" | "stopped" => Outcome::Failure,
        _ => Outcome::Unknown,
    }
}

/// Keys under which rows without a usable status are counted in [`ActionResults::statuses`].
/// They are bracketed, so they never collide with a status word.
pub const NO_RESULTS_KEY: &str = "[no results]";
/// See [`NO_RESULTS_KEY`].
pub const UNAVAILABLE_KEY: &str = "[results unavailable]";
/// See [`NO_RESULTS_KEY`].
pub const ERROR_KEY: &str = "[error]";
/// See [`NO_RESULTS_KEY`].
pub const MISSING_KEY: &str = "[no status]";

/// One row of an action's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResultRow {
    /// The machine name (empty when the server sent none).
    pub computer_name: String,
    /// The status word, or one of the bracketed keys for special texts.
    pub status: String,
    /// How many machines the row stands for (the `Count` column; 1 when missing).
    pub count: u64,
}

/// A summary of an action's results over every row of every page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionResults {
    /// Machines that answered the action's history question.
    pub mr_tested: u64,
    /// Machines expected to answer.
    pub estimated_total: u64,
    /// Machines that passed the question's filter.
    pub passed: u64,
    /// `mr_tested` as a share of `estimated_total`, capped at 100 (servers overshoot).
    pub reporting_percent: f64,
    /// Machines per status word (and per bracketed special key).
    pub statuses: BTreeMap<String, u64>,
    /// Machines still running.
    pub running: u64,
    /// Machines that succeeded.
    pub succeeded: u64,
    /// Machines that failed.
    pub failed: u64,
    /// Machines with an unknown or missing status.
    pub unknown: u64,
    /// The first rows, at most `max_rows` of them.
    pub rows: Vec<ResultRow>,
    /// Whether rows were left out of `rows` (the counts still cover them).
    pub rows_truncated: bool,
    /// How many rows were read.
    pub rows_read: u64,
}

impl ActionResults {
    /// Machines with any status (running + succeeded + failed + unknown).
    pub fn machines(&self) -> u64 {
        self.running + self.succeeded + self.failed + self.unknown
    }
}

/// What one page said about paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    /// Rows in this page.
    pub rows: u64,
    /// The server's `row_count`.
    pub row_count: Option<u64>,
    /// The server-side cache holding the result set, for the next pages.
    pub cache_id: Option<u64>,
}

/// Parses one `result_data/action` answer (with or without the `{"data": ...}` envelope, or a
/// bare result set) into a summary.
pub fn parse_action_results(
    json: &[u8],
    verify: bool,
    max_rows: usize,
) -> Result<ActionResults, Error> {
    let mut summarizer = Summarizer::new(verify, max_rows);
    summarizer.add_page(json)?;
    summarizer.finish()
}

#[derive(Debug, Clone, Copy, Default)]
struct Columns {
    name: Option<usize>,
    status: Option<usize>,
    count: Option<usize>,
}

/// Summarises the pages of one result set as they arrive.
#[derive(Debug)]
pub struct Summarizer {
    verify: bool,
    max_rows: usize,
    columns: Option<Columns>,
    /// Rows that arrived before the columns (unusual), kept as cell texts until columns come.
    early_rows: Vec<Vec<Vec<String>>>,
    page: PageInfo,
    results: ActionResults,
}

impl Summarizer {
    /// A summariser counting `Completed` as running when `verify`, keeping `max_rows` rows.
    pub fn new(verify: bool, max_rows: usize) -> Self {
        Summarizer {
            verify,
            max_rows,
            columns: None,
            early_rows: Vec::new(),
            page: PageInfo {
                rows: 0,
                row_count: None,
                cache_id: None,
            },
            results: ActionResults {
                mr_tested: 0,
                estimated_total: 0,
                passed: 0,
                reporting_percent: 0.0,
                statuses: BTreeMap::new(),
                running: 0,
                succeeded: 0,
                failed: 0,
                unknown: 0,
                rows: Vec::new(),
                rows_truncated: false,
                rows_read: 0,
            },
        }
    }

    /// Adds one page (a whole answer body) and says what it held.
    pub fn add_page(&mut self, json: &[u8]) -> Result<PageInfo, Error> {
        self.page = PageInfo {
            rows: 0,
            row_count: None,
            cache_id: None,
        };
        // Each page repeats the columns; read them afresh so pages stay independent.
        self.columns = None;
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        LevelSeed { sum: self }
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|err| Error::decode("data.result_sets[0]", err.to_string()))?;
        if !self.early_rows.is_empty() {
            let rows = std::mem::take(&mut self.early_rows);
            for cells in rows {
                let texts: Vec<Option<CellText<'_>>> = cells
                    .iter()
                    .map(|cell| choose(cell.iter().map(|t| Cow::Borrowed(t.as_str()))))
                    .collect();
                self.add_row(&texts)?;
            }
        }
        Ok(self.page)
    }

    /// The summary of every page added.
    pub fn finish(mut self) -> Result<ActionResults, Error> {
        let results = &mut self.results;
        results.reporting_percent = if results.estimated_total == 0 {
            0.0
        } else {
            (results.mr_tested as f64 * 100.0 / results.estimated_total as f64).min(100.0)
        };
        Ok(self.results)
    }

    fn add_row(&mut self, cells: &[Option<CellText<'_>>]) -> Result<(), Error> {
        let columns = self.columns.unwrap_or_default();
        let Some(status_index) = columns.status else {
            return Err(Error::decode(
                "data.result_sets[0].columns",
                "rows arrived without an \"Action Statuses\" column",
            ));
        };
        let cell = |index: Option<usize>| index.and_then(|i| cells.get(i)).and_then(Option::as_ref);
        let count = match cell(columns.count) {
            Some(CellText::Value(text)) => text.trim().parse().unwrap_or(1),
            _ => 1,
        };
        let (status, outcome) = match cell(Some(status_index)) {
            Some(CellText::Value(text)) => {
                let word = parse_status(text);
                let outcome = classify(&word, self.verify);
                (word, outcome)
            }
            // Not answered yet: the machine is still on its way.
            Some(CellText::Unavailable) => (UNAVAILABLE_KEY.to_owned(), Outcome::Running),
            Some(CellText::NoResults) => (NO_RESULTS_KEY.to_owned(), Outcome::Unknown),
            Some(CellText::Error) => (ERROR_KEY.to_owned(), Outcome::Unknown),
            None => (MISSING_KEY.to_owned(), Outcome::Unknown),
        };
        let results = &mut self.results;
        match outcome {
            Outcome::Running => results.running += count,
            Outcome::Success => results.succeeded += count,
            Outcome::Failure => results.failed += count,
            Outcome::Unknown => results.unknown += count,
        }
        results.rows_read += 1;
        self.page.rows += 1;
        if results.rows.len() < self.max_rows {
            let computer_name = match cell(columns.name) {
                Some(CellText::Value(text)) => text.to_string(),
                _ => String::new(),
            };
            results.rows.push(ResultRow {
                computer_name,
                status: status.clone(),
                count,
            });
        } else {
            results.rows_truncated = true;
        }
        match results.statuses.get_mut(&status) {
            Some(total) => *total += count,
            None => {
                results.statuses.insert(status, count);
            }
        }
        Ok(())
    }

    fn set_columns(&mut self, columns: Vec<ColumnHeader>) {
        let find = |wanted: &str| {
            columns
                .iter()
                .position(|c| c.name.trim().eq_ignore_ascii_case(wanted))
        };
        self.columns = Some(Columns {
            name: find("Computer Name"),
            status: find("Action Statuses").or_else(|| find("Action Status")),
            count: find("Count"),
        });
    }
}

/// Picks the cell's value: the first text that is data, else the first special text. Several
/// values can share a cell; Splunk's connector also takes the first non-empty one.
fn choose<'a>(texts: impl Iterator<Item = Cow<'a, str>>) -> Option<CellText<'a>> {
    let mut fallback = None;
    for text in texts {
        let cell = CellText::classify(text);
        if cell.is_data() {
            return Some(cell);
        }
        if fallback.is_none() || matches!(fallback, Some(CellText::Value(_))) {
            fallback = Some(cell);
        }
    }
    fallback
}

#[derive(Deserialize)]
struct ColumnHeader {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum LevelKey {
    Data,
    ResultSets,
    Columns,
    Rows,
    MrTested,
    EstimatedTotal,
    Passed,
    RowCount,
    CacheId,
    #[serde(other)]
    Other,
}

/// Reads any level of the answer: the envelope, `data`, a result set; `data` and
/// `result_sets` may be lists, of which the first item is the action's result set.
struct LevelSeed<'s> {
    sum: &'s mut Summarizer,
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result_data answer")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<LevelKey>()? {
            match key {
                LevelKey::Data | LevelKey::ResultSets => map.next_value_seed(LevelSeed {
                    sum: &mut *self.sum,
                })?,
                LevelKey::Columns => {
                    let columns: Option<Vec<ColumnHeader>> = map.next_value()?;
                    self.sum.set_columns(columns.unwrap_or_default());
                }
                LevelKey::Rows => map.next_value_seed(RowsSeed {
                    sum: &mut *self.sum,
                })?,
                LevelKey::MrTested => set(
                    &mut self.sum.results.mr_tested,
                    map.next_value::<Lenient>()?,
                ),
                LevelKey::EstimatedTotal => set(
                    &mut self.sum.results.estimated_total,
                    map.next_value::<Lenient>()?,
                ),
                LevelKey::Passed => set(&mut self.sum.results.passed, map.next_value::<Lenient>()?),
                LevelKey::RowCount => self.sum.page.row_count = map.next_value::<Lenient>()?.0,
                LevelKey::CacheId => self.sum.page.cache_id = map.next_value::<Lenient>()?.0,
                LevelKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The first item is the action's result set; anything after it (cache objects) is
        // skipped.
        if seq
            .next_element_seed(LevelSeed {
                sum: &mut *self.sum,
            })?
            .is_some()
        {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

pub(crate) fn set(target: &mut u64, value: Lenient) {
    if let Some(value) = value.0 {
        *target = value;
    }
}

/// A number sent as a number, a numeric string, or null (action and question answers alike).
pub(crate) struct Lenient(pub(crate) Option<u64>);

impl<'de> Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LenientVisitor;
        impl<'de> Visitor<'de> for LenientVisitor {
            type Value = Lenient;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number or a numeric string")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Lenient, E> {
                Ok(Lenient(Some(value)))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Lenient, E> {
                Ok(Lenient(u64::try_from(value).ok()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Lenient, E> {
                Ok(Lenient(
                    (value >= 0.0 && value.fract() == 0.0).then_some(value as u64),
                ))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Lenient, E> {
                Ok(Lenient(value.trim().parse().ok()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient, E> {
                Ok(Lenient(None))
            }
        }
        deserializer.deserialize_any(LenientVisitor)
    }
}

struct RowsSeed<'s> {
    sum: &'s mut Summarizer,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        loop {
            if self.sum.columns.is_some() {
                let mut cells: Vec<Option<CellText<'de>>> = Vec::with_capacity(3);
                if seq
                    .next_element_seed(RowSeed { cells: &mut cells })?
                    .is_none()
                {
                    break;
                }
                self.sum.add_row(&cells).map_err(de::Error::custom)?;
            } else {
                match seq.next_element::<EarlyRow>()? {
                    Some(row) => self.sum.early_rows.push(row.data),
                    None => break,
                }
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[derive(Deserialize)]
struct EarlyRow {
    #[serde(default, deserialize_with = "early_cells")]
    data: Vec<Vec<String>>,
}

fn early_cells<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Vec<String>>, D::Error> {
    let cells: Option<Vec<Vec<TextItem<'de>>>> = Deserialize::deserialize(deserializer)?;
    Ok(cells
        .unwrap_or_default()
        .into_iter()
        .map(|cell| {
            cell.into_iter()
                .filter_map(|item| item.text.map(Cow::into_owned))
                .collect()
        })
        .collect())
}

#[derive(Deserialize)]
struct TextItem<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RowKey {
    Data,
    #[serde(other)]
    Other,
}

struct RowSeed<'c, 'de> {
    cells: &'c mut Vec<Option<CellText<'de>>>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<RowKey>()? {
            match key {
                RowKey::Data => map.next_value_seed(CellsSeed {
                    cells: &mut *self.cells,
                })?,
                RowKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct CellsSeed<'c, 'de> {
    cells: &'c mut Vec<Option<CellText<'de>>>,
}

impl<'de> DeserializeSeed<'de> for CellsSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellsSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of cells")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(cell) = seq.next_element::<Cell<'de>>()? {
            self.cells.push(cell.0);
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One cell: a list of `{"text": ...}` (or, leniently, a bare string).
struct Cell<'de>(Option<CellText<'de>>);

impl<'de> Deserialize<'de> for Cell<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cell (a list of {\"text\": ...})")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'de>, A::Error> {
                let mut chosen: Option<CellText<'de>> = None;
                while let Some(item) = seq.next_element::<TextItem<'de>>()? {
                    let Some(text) = item.text else { continue };
                    if chosen.as_ref().is_some_and(CellText::is_data) {
                        continue;
                    }
                    let cell = CellText::classify(text);
                    if cell.is_data()
                        || chosen.is_none()
                        || matches!(chosen, Some(CellText::Value(_)))
                    {
                        chosen = Some(cell);
                    }
                }
                Ok(Cell(chosen))
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell(Some(CellText::classify(Cow::Borrowed(value)))))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Cell<'de>, E> {
                Ok(Cell(Some(CellText::classify(Cow::Owned(value.to_owned())))))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell<'de>, A::Error> {
                let item = TextItem::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Cell(item.text.map(CellText::classify)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell<'de>, E> {
                Ok(Cell(None))
            }
        }
        deserializer.deserialize_any(CellVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_texts_parse_to_words() {
        assert_eq!(parse_status("1362231:Completed."), "Completed");
        assert_eq!(
            parse_status("5:Pending Verification."),
            "PendingVerification"
        );
        assert_eq!(parse_status(" Running "), "Running");
        assert_eq!(parse_status("7:Failed"), "Failed");
    }

    #[test]
    fn verification_changes_what_completed_means() {
        assert_eq!(classify("Completed", false), Outcome::Success);
        assert_eq!(classify("Completed", true), Outcome::Running);
        assert_eq!(classify("Verified", true), Outcome::Success);
        assert_eq!(classify("NotSucceeded", false), Outcome::Failure);
        assert_eq!(classify("Downloading", false), Outcome::Running);
        assert_eq!(classify("Exploded", false), Outcome::Unknown);
    }

    #[test]
    fn special_texts_are_not_data() {
        assert_eq!(
            CellText::classify("[no results]".into()),
            CellText::NoResults
        );
        assert_eq!(
            CellText::classify("[current results unavailable]".into()),
            CellText::Unavailable
        );
        assert_eq!(
            CellText::classify("[results currently unavailable]".into()),
            CellText::Unavailable
        );
        assert_eq!(
            CellText::classify("TSE-Error: oops".into()),
            CellText::Error
        );
    }

    #[test]
    fn rows_are_counted_by_status_and_truncated() {
        let json = br#"{"data":{"result_sets":[{"mr_tested":5,"estimated_total":4,"cache_id":"3891494157","row_count":5,
            "columns":[{"name":"Computer Name"},{"name":"Action Statuses"},{"name":"Count"}],
            "rows":[
              {"id":1,"data":[[{"text":"a"}],[{"text":"9:Completed."}],[{"text":"1"}]]},
              {"id":2,"data":[[{"text":"b"}],[{"text":"9:Running."}],[{"text":"1"}]]},
              {"id":3,"data":[[{"text":"c"}],[{"text":"[current results unavailable]"}],[{"text":"1"}]]},
              {"id":4,"data":[[{"text":"d"}],[{"text":""},{"text":"9:Failed."}],[{"text":"2"}]]},
              {"id":5,"data":[[{"text":"e"}],[{"text":"TSE-Error: x"}],[{"text":"1"}]]}
            ]}, {"cache_id": 1}]}}"#;
        let mut summarizer = Summarizer::new(false, 2);
        let page = summarizer.add_page(json).ok();
        assert_eq!(
            page.map(|p| (p.rows, p.cache_id)),
            Some((5, Some(3891494157)))
        );
        let results = summarizer.finish().ok();
        let Some(results) = results else {
            panic!("summary failed");
        };
        assert_eq!(
            (
                results.running,
                results.succeeded,
                results.failed,
                results.unknown
            ),
            (2, 1, 2, 1)
        );
        assert_eq!(results.statuses.get("Failed"), Some(&2));
        assert_eq!(results.statuses.get(UNAVAILABLE_KEY), Some(&1));
        assert_eq!(results.rows.len(), 2);
        assert!(results.rows_truncated);
        assert_eq!(results.reporting_percent, 100.0);
    }

    #[test]
    fn rows_before_columns_are_still_counted() {
        let json = br#"{"rows":[{"data":[[{"text":"a"}],[{"text":"1:Verified."}],[{"text":"3"}]]}],
            "columns":[{"name":"Computer Name"},{"name":"Action Statuses"},{"name":"Count"}]}"#;
        let results = parse_action_results(json, true, 10).ok();
        assert_eq!(results.map(|r| (r.succeeded, r.rows.len())), Some((3, 1)));
    }

    #[test]
    fn rows_without_a_status_column_are_a_decode_error() {
        let json = br#"{"columns":[{"name":"Computer Name"}],"rows":[{"data":[[{"text":"a"}]]}]}"#;
        assert!(matches!(
            parse_action_results(json, false, 10),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            parse_action_results(b"{\"data\":", false, 10),
            Err(Error::Decode { .. })
        ));
    }
}
