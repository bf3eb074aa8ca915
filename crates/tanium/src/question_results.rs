//! Question answers: the pages of `GET /api/v2/result_data/question/{id}` read into rows.
//!
//! A question's result set has the shape of action results (docs/tanium-api.md): one column per
//! select plus Tanium's `Count` column, and rows whose cells are lists of `{"text": ...}`.
//! Machines that gave identical answers share one row, whose `Count` says how many they are.
//! [`QuestionReader`] is fed the answer page by page ([`QuestionReader::add_page`], one
//! `tanium-options` window each) and streams every row through `serde`'s `DeserializeSeed`,
//! never through a `serde_json::Value` of the answer:
//!
//! - **Special texts** (`[no results]`, `[current results unavailable]` and its variants,
//!   `TSE-Error: ...`, told apart by [`CellText::classify`]) are counted by kind in
//!   [`SpecialTexts`] and never kept as data.
//! - **A cell** keeps its data texts: none is [`Cell::Null`], one is [`Cell::One`], several are
//!   [`Cell::Many`] (a list in JSON). A cell that held only special texts, in a row that has data
//!   in another column, is therefore null.
//! - **A row whose cells hold no data at all** (only special texts, or nothing) is not a row of
//!   the answer: it is counted in [`QuestionResults::unavailable`] (and its machines in
//!   `unavailable_machines`), never kept.
//! - **`Count`**, the last column when it is named so, becomes [`QuestionRow::count`] (1 when
//!   it is missing or not a number), and in JSON a whole number under the key `Count`.
//! - **Column names** are kept once, in [`QuestionResults::columns`]. Two sensors can share a
//!   column name; so that neither loses its data, the second becomes `Name (2)`, the third
//!   `Name (3)`, and so on. `Count` is reserved for Tanium's count when the answer has one, so a
//!   sensor column named `Count` is then `Count (2)`.
//! - **A question without selects** answers with no `columns` and no `rows` keys at all: it reads
//!   as no columns and no rows.
//!
//! Only the first `max_rows` data rows are kept; the counts cover every row of every page.
//! Kept cells own their texts as boxed `str`s: a kept row of two short single-valued columns
//! costs about 180 bytes, texts included (docs/PERFORMANCE.md).

use std::collections::HashSet;

use serde::Serialize;
use serde::de::DeserializeSeed;
use serde_json::{Map, Value};

use crate::error::Error;

mod read;

use read::{LevelSeed, PageState, ParsedCell, Values};

/// The name of Tanium's count column, and the JSON key of each row's count.
pub const COUNT_COLUMN: &str = "Count";

/// The data of one cell: special texts removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// No data: the machines answered only special texts (or nothing) for this column.
    Null,
    /// One value (a string in JSON).
    One(Box<str>),
    /// Several values, in the order the server sent them (a list of strings in JSON).
    Many(Box<[Box<str>]>),
}

impl Cell {
    /// The cell's values: none, one or several.
    pub fn values(&self) -> &[Box<str>] {
        match self {
            Cell::Null => &[],
            Cell::One(value) => std::slice::from_ref(value),
            Cell::Many(values) => values,
        }
    }

    /// The cell in JSON: `null`, a string, or a list of strings.
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Null => Value::Null,
            Cell::One(value) => Value::String(value.to_string()),
            Cell::Many(values) => values
                .iter()
                .map(|value| Value::String(value.to_string()))
                .collect(),
        }
    }
}

/// One row of data: a cell per column of [`QuestionResults::columns`], and how many machines
/// answered exactly this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionRow {
    /// One cell per column, in the order of [`QuestionResults::columns`].
    pub cells: Box<[Cell]>,
    /// How many machines answered this row (Tanium's `Count`; 1 when the answer has none).
    pub count: u64,
}

/// Special texts met in the sensors' columns of every row read (a text of a grouped row counts
/// once, whatever its `Count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct SpecialTexts {
    /// `[no results]`: the machine has nothing for this sensor.
    pub no_results: u64,
    /// `[current results unavailable]` and its variants: not answered yet.
    pub unavailable: u64,
    /// `TSE-Error: ...`: the sensor failed on the machine.
    pub errors: u64,
}

impl SpecialTexts {
    /// Every special text, whatever its kind.
    pub fn total(&self) -> u64 {
        self.no_results + self.unavailable + self.errors
    }

    fn add(&mut self, other: &SpecialTexts) {
        self.no_results += other.no_results;
        self.unavailable += other.unavailable;
        self.errors += other.errors;
    }
}

/// A question's answer, over every page read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuestionResults {
    /// The sensors' column names, made unique (see the module docs); `Count` is not one of them.
    pub columns: Vec<Box<str>>,
    /// Whether the answer had Tanium's `Count` column (JSON rows then carry `Count`).
    pub counted: bool,
    /// The first data rows, at most `max_rows` of them.
    pub rows: Vec<QuestionRow>,
    /// Data rows read, kept or not (rows of only special texts are not data rows).
    pub row_count: u64,
    /// Whether data rows were left out of `rows` (the counts still cover them).
    pub rows_truncated: bool,
    /// Rows whose cells held no data, only special texts (or nothing).
    pub unavailable: u64,
    /// The machines of those rows (the sum of their counts).
    pub unavailable_machines: u64,
    /// The machines of the data rows (the sum of their counts).
    pub machines: u64,
    /// Special texts by kind.
    pub special_texts: SpecialTexts,
    /// Machines that answered the question, from the last page read.
    pub mr_tested: u64,
    /// Machines expected to answer, from the last page read.
    pub estimated_total: u64,
    /// Machines that passed the question's filter, from the last page read.
    pub passed: u64,
}

impl QuestionResults {
    /// The names a JSON row has, in order: the columns, then `Count` when the answer had it.
    pub fn column_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.columns.iter().map(|name| name.to_string()).collect();
        if self.counted {
            names.push(COUNT_COLUMN.to_owned());
        }
        names
    }

    /// One row as a JSON object keyed by column name (and `Count` when the answer had it).
    pub fn row_json(&self, row: &QuestionRow) -> Map<String, Value> {
        let mut object = Map::with_capacity(self.columns.len() + 1);
        for (name, cell) in self.columns.iter().zip(row.cells.iter()) {
            object.insert(name.to_string(), cell.to_json());
        }
        if self.counted {
            object.insert(COUNT_COLUMN.to_owned(), Value::from(row.count));
        }
        object
    }

    /// The kept rows as JSON objects, for a step's `rows` output.
    pub fn json_rows(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|row| Value::Object(self.row_json(row)))
            .collect()
    }
}

/// What one page said about paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageInfo {
    /// Rows in this page, data or not.
    pub rows: u64,
    /// The result set's `row_count` (documented as the rows in this answer).
    pub row_count: Option<u64>,
    /// The result set's `filtered_row_count` (the rows of the whole result set, where sent).
    pub filtered_row_count: Option<u64>,
    /// The server-side cache holding the result set, for the next pages (sent as a string).
    pub cache_id: Option<u64>,
}

/// Reads one whole `result_data/question` answer (with or without the `{"data": ...}` envelope,
/// or a bare result set), keeping at most `max_rows` rows.
pub fn parse_question_results(json: &[u8], max_rows: usize) -> Result<QuestionResults, Error> {
    let mut reader = QuestionReader::new(max_rows);
    reader.add_page(json)?;
    Ok(reader.finish())
}

/// The columns as the first page sent them.
#[derive(Debug)]
struct Layout {
    sent: Vec<String>,
    count_index: Option<usize>,
}

/// Reads the pages of one question's answer as they arrive, in `row_start` order.
#[derive(Debug)]
pub struct QuestionReader {
    max_rows: usize,
    layout: Option<Layout>,
    page: PageInfo,
    results: QuestionResults,
}

impl QuestionReader {
    /// A reader keeping the first `max_rows` data rows.
    pub fn new(max_rows: usize) -> Self {
        QuestionReader {
            max_rows,
            layout: None,
            page: PageInfo::default(),
            results: QuestionResults::default(),
        }
    }

    /// Adds one page (a whole answer body) and says what it held. Every page must have the
    /// columns of the first (they are a snapshot of one result set); a page without columns
    /// reuses them. After an error the reader holds part of that page: drop it.
    pub fn add_page(&mut self, json: &[u8]) -> Result<PageInfo, Error> {
        self.page = PageInfo::default();
        let mut deserializer = serde_json::Deserializer::from_slice(json);
        let mut state = PageState {
            reader: self,
            early: Vec::new(),
        };
        LevelSeed { state: &mut state }
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|err| Error::decode("data.result_sets[0]", err.to_string()))?;
        let early = std::mem::take(&mut state.early);
        if !early.is_empty() {
            if self.layout.is_none() {
                return Err(Error::decode(
                    "data.result_sets[0].columns",
                    "rows arrived without columns",
                ));
            }
            for cells in &early {
                self.add_row(cells);
            }
        }
        Ok(self.page)
    }

    /// The answer over every page added.
    pub fn finish(self) -> QuestionResults {
        self.results
    }

    fn set_columns(&mut self, sent: Vec<String>) -> Result<(), String> {
        if let Some(layout) = &self.layout {
            if layout.sent != sent {
                return Err(format!(
                    "the columns changed between pages: {:?}, then {sent:?}",
                    layout.sent
                ));
            }
            return Ok(());
        }
        let count_index = sent
            .last()
            .filter(|name| name.trim().eq_ignore_ascii_case(COUNT_COLUMN))
            .map(|_| sent.len() - 1);
        let data_names = sent
            .iter()
            .enumerate()
            .filter(|(index, _)| Some(*index) != count_index)
            .map(|(_, name)| name.as_str());
        self.results.columns = unique_names(data_names, count_index.is_some());
        self.results.counted = count_index.is_some();
        self.layout = Some(Layout { sent, count_index });
        Ok(())
    }

    /// Counts one row and keeps it when it is data and there is room. Cells beyond the columns
    /// have no name and are ignored; missing cells are null.
    fn add_row(&mut self, cells: &[ParsedCell<'_>]) {
        let count_index = self.layout.as_ref().and_then(|layout| layout.count_index);
        let width = self.results.columns.len();
        let count = count_index
            .and_then(|index| cells.get(index))
            .and_then(ParsedCell::first_value)
            .and_then(|text| text.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let data_cells = || {
            cells
                .iter()
                .enumerate()
                .filter(move |(index, _)| Some(*index) != count_index)
                .map(|(_, cell)| cell)
                .take(width)
        };
        let mut has_data = false;
        for cell in data_cells() {
            self.results.special_texts.add(&cell.specials);
            has_data |= !matches!(cell.values, Values::None);
        }
        self.page.rows += 1;
        let results = &mut self.results;
        if !has_data {
            results.unavailable += 1;
            results.unavailable_machines += count;
            return;
        }
        results.row_count += 1;
        results.machines += count;
        if results.rows.len() >= self.max_rows {
            results.rows_truncated = true;
            return;
        }
        let mut kept: Vec<Cell> = Vec::with_capacity(width);
        kept.extend(data_cells().map(ParsedCell::to_cell));
        kept.resize(width, Cell::Null);
        results.rows.push(QuestionRow {
            cells: kept.into_boxed_slice(),
            count,
        });
    }
}

/// Column names made unique: a repeated name gets ` (2)`, ` (3)`, ... (the first free one), and
/// `Count` is taken from the start when the answer has Tanium's count column.
fn unique_names<'a>(names: impl Iterator<Item = &'a str>, counted: bool) -> Vec<Box<str>> {
    let mut taken: HashSet<String> = HashSet::new();
    if counted {
        taken.insert(COUNT_COLUMN.to_owned());
    }
    let mut unique = Vec::new();
    for name in names {
        let mut candidate = name.to_owned();
        let mut suffix = 2;
        while taken.contains(&candidate) {
            candidate = format!("{name} ({suffix})");
            suffix += 1;
        }
        taken.insert(candidate.clone());
        unique.push(candidate.into_boxed_str());
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A result set with `columns` (Count appended) and rows of cells given as lists of texts.
    fn answer(columns: &[&str], rows: &[Vec<Vec<&str>>]) -> Vec<u8> {
        let mut headers: Vec<Value> = columns
            .iter()
            .map(|name| json!({"hash": 1, "name": name, "type": 1}))
            .collect();
        headers.push(json!({"hash": 0, "name": "Count", "type": 3}));
        let rows: Vec<Value> = rows
            .iter()
            .enumerate()
            .map(|(index, cells)| {
                let data: Vec<Value> = cells
                    .iter()
                    .map(|texts| texts.iter().map(|text| json!({"text": text})).collect())
                    .collect();
                json!({"id": 2_147_483_648u64 + index as u64, "cid": 1, "data": data})
            })
            .collect();
        let body = json!({"data": {"result_sets": [{
            "mr_tested": 3, "estimated_total": 3, "row_count": rows.len(),
            "columns": headers, "rows": rows, "cache_id": "2668614289"}]}});
        serde_json::to_vec(&body).unwrap_or_default()
    }

    fn read(json: &[u8], max_rows: usize) -> QuestionResults {
        parse_question_results(json, max_rows).unwrap_or_else(|err| panic!("{err}"))
    }

    fn one(text: &str) -> Cell {
        Cell::One(text.into())
    }

    #[test]
    fn every_special_text_is_counted_by_kind_and_never_kept() {
        let json = answer(
            &["Computer Name", "Running Processes"],
            &[
                vec![vec!["web-01"], vec!["[no results]"], vec!["1"]],
                vec![vec!["web-02"], vec!["[No Results] "], vec!["1"]],
                vec![
                    vec!["[current results unavailable]"],
                    vec!["[current result unavailable]"],
                    vec!["4"],
                ],
                vec![
                    vec!["[results currently unavailable]"],
                    vec!["TSE-Error: sensor timed out"],
                    vec!["2"],
                ],
                vec![vec!["web-03"], vec!["TSE-Error:bad parameter"], vec!["1"]],
            ],
        );
        let results = read(&json, 100);
        assert_eq!(
            results.special_texts,
            SpecialTexts {
                no_results: 2,
                unavailable: 3,
                errors: 2
            }
        );
        assert_eq!(results.special_texts.total(), 7);
        assert_eq!((results.unavailable, results.unavailable_machines), (2, 6));
        assert_eq!((results.row_count, results.machines), (3, 3));
        let cells: Vec<&[Cell]> = results.rows.iter().map(|row| &*row.cells).collect();
        assert_eq!(
            cells,
            [
                [one("web-01"), Cell::Null],
                [one("web-02"), Cell::Null],
                [one("web-03"), Cell::Null]
            ]
        );
        assert_eq!(
            results.json_rows()[0],
            json!({"Computer Name": "web-01", "Running Processes": null, "Count": 1})
        );
    }

    #[test]
    fn several_values_make_a_list_and_one_value_a_string() {
        let json = answer(
            &["Computer Name", "IP Address"],
            &[
                vec![vec!["db-01"], vec!["10.0.0.5", "fe80::1"], vec!["1"]],
                vec![vec!["db-02"], vec!["[no results]", "10.0.0.6"], vec!["1"]],
                vec![vec!["db-03"], vec![], vec!["1"]],
            ],
        );
        let results = read(&json, 100);
        assert_eq!(
            results.column_names(),
            ["Computer Name", "IP Address", "Count"]
        );
        assert_eq!(
            results.json_rows(),
            [
                json!({"Computer Name": "db-01", "IP Address": ["10.0.0.5", "fe80::1"], "Count": 1}),
                json!({"Computer Name": "db-02", "IP Address": "10.0.0.6", "Count": 1}),
                json!({"Computer Name": "db-03", "IP Address": null, "Count": 1}),
            ]
        );
        assert_eq!(results.rows[0].cells[1].values().len(), 2);
        assert_eq!(results.special_texts.no_results, 1);
    }

    #[test]
    fn a_question_without_selects_has_no_columns_and_no_rows() {
        let json =
            br#"{"data":{"now":"2023/05/26 21:19:59 GMT-0000","result_sets":[{"estimated_total":56,
            "mr_tested":57,"passed":57,"row_count":0,"select_count":0}]}}"#;
        let results = read(json, 10);
        assert!(results.columns.is_empty() && results.rows.is_empty());
        assert!(!results.counted);
        assert!(results.column_names().is_empty());
        assert_eq!((results.row_count, results.unavailable), (0, 0));
        assert_eq!((results.mr_tested, results.estimated_total), (57, 56));
    }

    #[test]
    fn pages_read_in_row_start_order_make_one_answer() {
        let all: Vec<Vec<Vec<String>>> = (0..10)
            .map(|row| {
                let special = if row == 6 { "[no results]" } else { "" };
                vec![
                    vec![format!("host-{row}")],
                    vec![special.to_owned()],
                    vec!["1".into()],
                ]
            })
            .collect();
        let mut reader = QuestionReader::new(100);
        let mut row_start = 0;
        let mut infos = Vec::new();
        while row_start < all.len() {
            // The server's window {"row_start": row_start, "row_count": 4}.
            let window = &all[row_start..(row_start + 4).min(all.len())];
            let rows: Vec<Vec<Vec<&str>>> = window
                .iter()
                .map(|cells| {
                    cells
                        .iter()
                        .map(|cell| cell.iter().map(String::as_str).collect())
                        .collect()
                })
                .collect();
            let info = reader
                .add_page(&answer(&["Computer Name", "Tag"], &rows))
                .unwrap_or_else(|err| panic!("{err}"));
            row_start += info.rows as usize;
            infos.push((info.rows, info.row_count, info.cache_id));
        }
        let cache = Some(2_668_614_289);
        assert_eq!(
            infos,
            [
                (4, Some(4), cache),
                (4, Some(4), cache),
                (2, Some(2), cache)
            ]
        );
        let results = reader.finish();
        assert_eq!(results.row_count, 10);
        let names: Vec<&str> = results
            .rows
            .iter()
            .map(|r| &*r.cells[0].values()[0])
            .collect();
        assert_eq!(names[0], "host-0");
        assert_eq!(names[9], "host-9");
        assert_eq!(results.rows[6].cells[1], Cell::Null);
        assert_eq!(results.rows[5].cells[1], one(""));
    }

    #[test]
    fn pages_with_other_columns_are_refused() {
        let mut reader = QuestionReader::new(10);
        let first = answer(&["Computer Name"], &[vec![vec!["a"], vec!["1"]]]);
        let other = answer(&["IP Address"], &[vec![vec!["b"], vec!["1"]]]);
        assert!(reader.add_page(&first).is_ok());
        let error = reader.add_page(&other).err().map(|err| err.to_string());
        assert!(error.is_some_and(|text| text.contains("columns changed")));
        // A later page without columns reuses those of the first.
        let mut reader = QuestionReader::new(10);
        assert!(reader.add_page(&first).is_ok());
        let bare =
            br#"{"data":{"result_sets":[{"rows":[{"data":[[{"text":"c"}],[{"text":"2"}]]}]}]}}"#;
        assert_eq!(reader.add_page(bare).ok().map(|info| info.rows), Some(1));
        assert_eq!(reader.finish().machines, 3);
    }

    #[test]
    fn rows_beyond_max_rows_are_counted_not_kept() {
        let rows: Vec<Vec<Vec<&str>>> = (0..7)
            .map(|_| vec![vec!["x"], vec!["[current results unavailable]"], vec!["2"]])
            .chain([vec![vec!["[no results]"], vec!["[no results]"], vec!["5"]]])
            .collect();
        let results = read(&answer(&["A", "B"], &rows), 3);
        assert_eq!(results.rows.len(), 3);
        assert!(results.rows_truncated);
        assert_eq!((results.row_count, results.machines), (7, 14));
        assert_eq!((results.unavailable, results.unavailable_machines), (1, 5));
        assert_eq!(results.special_texts.unavailable, 7);
        // Exactly max_rows data rows is not a truncation.
        let exact = read(&answer(&["A", "B"], &rows), 7);
        assert!(!exact.rows_truncated);
        // Rows of only special texts take no room.
        let specials_only = read(&answer(&["A"], &[vec![vec!["[no results]"], vec!["1"]]]), 0);
        assert!(!specials_only.rows_truncated);
        assert_eq!(specials_only.unavailable, 1);
    }

    #[test]
    fn numbers_may_come_as_strings_and_texts_as_numbers() {
        let json = br#"{"data":{"result_sets":[{"mr_tested":"57","estimated_total":56.0,
            "passed":null,"row_count":"1","filtered_row_count":9.0,"cache_id":"3891494157",
            "columns":[{"hash":"1466668831","name":"Free Space","type":"9"},{"hash":0,"name":"Count","type":3}],
            "rows":[{"id":"4267031002","cid":4267031002,"data":[[{"text":512}],[{"text":" 12 "}]]}]},
            {"cache_id":1,"page_row_count":1}]}}"#;
        let mut reader = QuestionReader::new(10);
        let info = reader.add_page(json).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(
            info,
            PageInfo {
                rows: 1,
                row_count: Some(1),
                filtered_row_count: Some(9),
                cache_id: Some(3_891_494_157)
            }
        );
        let results = reader.finish();
        assert_eq!((results.mr_tested, results.estimated_total), (57, 56));
        assert_eq!(
            results.rows[0],
            QuestionRow {
                cells: Box::new([one("512")]),
                count: 12
            }
        );
    }

    #[test]
    fn repeated_column_names_keep_every_column() {
        let json = answer(
            &["Name", "Name", "Count", "Name"],
            &[vec![vec!["a"], vec!["b"], vec!["c"], vec!["d"], vec!["3"]]],
        );
        let results = read(&json, 10);
        assert_eq!(
            results.column_names(),
            ["Name", "Name (2)", "Count (2)", "Name (3)", "Count"]
        );
        assert_eq!(
            results.json_rows()[0],
            json!({"Name": "a", "Name (2)": "b", "Count (2)": "c", "Name (3)": "d", "Count": 3})
        );
    }

    #[test]
    fn without_a_count_column_rows_count_one_machine() {
        let json = br#"{"columns":[{"name":"Count"},{"name":"Extra"}],
            "rows":[{"data":[[{"text":"7"}],[{"text":"x"}],[{"text":"ignored"}]]},{"data":[[{"text":"8"}]]}]}"#;
        let results = read(json, 10);
        assert!(!results.counted);
        assert_eq!(results.column_names(), ["Count", "Extra"]);
        assert_eq!(results.machines, 2);
        assert_eq!(
            results.json_rows(),
            [
                json!({"Count": "7", "Extra": "x"}),
                json!({"Count": "8", "Extra": null})
            ]
        );
    }

    #[test]
    fn rows_before_columns_are_read_and_rows_without_columns_refused() {
        let late = br#"{"rows":[{"data":[["solo"],[{"text":"2"}]]}],"columns":[{"name":"A"},{"name":"Count"}]}"#;
        let results = read(late, 10);
        assert_eq!(
            results.rows[0],
            QuestionRow {
                cells: Box::new([one("solo")]),
                count: 2
            }
        );
        let missing = br#"{"rows":[{"data":[[{"text":"a"}]]}]}"#;
        assert!(matches!(
            parse_question_results(missing, 10),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            parse_question_results(b"{\"data\":", 10),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            parse_question_results(br#"{"rows":[{"data":[[[1]]]}]}"#, 10),
            Err(Error::Decode { .. })
        ));
    }
}
