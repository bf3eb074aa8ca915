//! Reading one page of a question's answer: `serde` seeds from the envelope down to the texts of
//! a cell, with no `serde_json::Value` in between (see the parent module for what is kept).

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{Cell, QuestionReader, SpecialTexts};
use crate::results::{CellText, Lenient, set};

/// The data texts of a cell while its page is read, borrowed from the page where they hold no
/// escapes.
#[derive(Debug, Default)]
pub(super) enum Values<'de> {
    #[default]
    None,
    One(Cow<'de, str>),
    Many(Vec<Cow<'de, str>>),
}

/// A cell while its page is read: its data texts and the special texts it held.
#[derive(Debug, Default)]
pub(super) struct ParsedCell<'de> {
    pub(super) values: Values<'de>,
    pub(super) specials: SpecialTexts,
}

impl<'de> ParsedCell<'de> {
    fn push(&mut self, text: Cow<'de, str>) {
        match CellText::classify(text) {
            CellText::Value(text) => {
                self.values = match std::mem::take(&mut self.values) {
                    Values::None => Values::One(text),
                    Values::One(first) => Values::Many(vec![first, text]),
                    Values::Many(mut values) => {
                        values.push(text);
                        Values::Many(values)
                    }
                }
            }
            CellText::NoResults => self.specials.no_results += 1,
            CellText::Unavailable => self.specials.unavailable += 1,
            CellText::Error => self.specials.errors += 1,
        }
    }

    pub(super) fn first_value(&self) -> Option<&str> {
        match &self.values {
            Values::None => None,
            Values::One(value) => Some(value),
            Values::Many(values) => values.first().map(|value| value.as_ref()),
        }
    }

    pub(super) fn to_cell(&self) -> Cell {
        match &self.values {
            Values::None => Cell::Null,
            Values::One(value) => Cell::One(Box::from(value.as_ref())),
            Values::Many(values) => Cell::Many(
                values
                    .iter()
                    .map(|value| Box::from(value.as_ref()))
                    .collect(),
            ),
        }
    }
}

/// What reading one page needs: the reader, and the rows that came before the columns (kept
/// until the page ends, borrowed from it).
pub(super) struct PageState<'r, 'de> {
    pub(super) reader: &'r mut QuestionReader,
    pub(super) early: Vec<Vec<ParsedCell<'de>>>,
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
    FilteredRowCount,
    CacheId,
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct ColumnHeader {
    #[serde(default)]
    name: Option<String>,
}

/// Reads any level of the answer: the envelope, `data`, a result set; `data` and `result_sets`
/// may be lists, of which the first item is the question's result set.
pub(super) struct LevelSeed<'s, 'r, 'de> {
    pub(super) state: &'s mut PageState<'r, 'de>,
}

impl<'de> DeserializeSeed<'de> for LevelSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LevelSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a result_data answer")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<LevelKey>()? {
            let reader = &mut *self.state.reader;
            match key {
                LevelKey::Data | LevelKey::ResultSets => map.next_value_seed(LevelSeed {
                    state: &mut *self.state,
                })?,
                LevelKey::Columns => {
                    if let Some(columns) = map.next_value::<Option<Vec<ColumnHeader>>>()? {
                        let names = columns
                            .into_iter()
                            .map(|column| column.name.unwrap_or_default())
                            .collect();
                        reader.set_columns(names).map_err(de::Error::custom)?;
                    }
                }
                LevelKey::Rows => map.next_value_seed(RowsSeed {
                    state: &mut *self.state,
                })?,
                LevelKey::MrTested => set(&mut reader.results.mr_tested, map.next_value()?),
                LevelKey::EstimatedTotal => {
                    set(&mut reader.results.estimated_total, map.next_value()?);
                }
                LevelKey::Passed => set(&mut reader.results.passed, map.next_value()?),
                LevelKey::RowCount => reader.page.row_count = map.next_value::<Lenient>()?.0,
                LevelKey::FilteredRowCount => {
                    reader.page.filtered_row_count = map.next_value::<Lenient>()?.0;
                }
                LevelKey::CacheId => reader.page.cache_id = map.next_value::<Lenient>()?.0,
                LevelKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // The first item is the question's result set; anything after it (cache objects) is
        // skipped.
        if seq
            .next_element_seed(LevelSeed {
                state: &mut *self.state,
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

/// The `rows` list: each row is counted (or kept for the end of the page when the columns have
/// not come yet) as soon as it is read, in one cell buffer reused from row to row.
struct RowsSeed<'s, 'r, 'de> {
    state: &'s mut PageState<'r, 'de>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut cells: Vec<ParsedCell<'de>> = Vec::new();
        while seq
            .next_element_seed(RowSeed { cells: &mut cells })?
            .is_some()
        {
            if self.state.reader.layout.is_some() {
                self.state.reader.add_row(&cells);
                cells.clear();
            } else {
                self.state.early.push(std::mem::take(&mut cells));
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum RowKey {
    Data,
    #[serde(other)]
    Other,
}

/// One row object; only its `data` is read (`id` and `cid` are the server's own).
struct RowSeed<'c, 'de> {
    cells: &'c mut Vec<ParsedCell<'de>>,
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

/// A row's `data`: a list of cells.
struct CellsSeed<'c, 'de> {
    cells: &'c mut Vec<ParsedCell<'de>>,
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
        loop {
            let mut cell = ParsedCell::default();
            if seq
                .next_element_seed(CellSeed { cell: &mut cell })?
                .is_none()
            {
                return Ok(());
            }
            self.cells.push(cell);
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

/// One cell: a list of `{"text": ...}` (or, leniently, one such object, a bare text, or null).
struct CellSeed<'c, 'de> {
    cell: &'c mut ParsedCell<'de>,
}

impl<'de> DeserializeSeed<'de> for CellSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for CellSeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cell (a list of {\"text\": ...})")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<TextItem<'de>>()? {
            if let Some(text) = item.0 {
                self.cell.push(text);
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let item = TextItem::deserialize(de::value::MapAccessDeserializer::new(map))?;
        if let Some(text) = item.0 {
            self.cell.push(text);
        }
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<(), E> {
        self.cell.push(Cow::Borrowed(value));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<(), E> {
        self.cell.push(Cow::Owned(value.to_owned()));
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ItemKey {
    Text,
    #[serde(other)]
    Other,
}

/// `{"text": ...}`: the text of one value of a cell (a number or flag is taken as its text; a
/// bare text or null is accepted too).
struct TextItem<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for TextItem<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = TextItem<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a {\"text\": ...} object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TextItem<'de>, A::Error> {
                let mut text = None;
                while let Some(key) = map.next_key::<ItemKey>()? {
                    match key {
                        ItemKey::Text => text = map.next_value::<Text<'de>>()?.0,
                        ItemKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(TextItem(text))
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<TextItem<'de>, E> {
                Ok(TextItem(Some(Cow::Borrowed(value))))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<TextItem<'de>, E> {
                Ok(TextItem(Some(Cow::Owned(value.to_owned()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<TextItem<'de>, E> {
                Ok(TextItem(None))
            }
        }
        deserializer.deserialize_any(ItemVisitor)
    }
}

/// A text, borrowed from the page where it holds no escapes; numbers and flags as their text.
struct Text<'de>(Option<Cow<'de, str>>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a text")
            }
            fn visit_borrowed_str<E: de::Error>(self, value: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Borrowed(value))))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(value.to_owned()))))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Text<'de>, E> {
                Ok(Text(Some(Cow::Owned(value.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'de>, E> {
                Ok(Text(None))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}
