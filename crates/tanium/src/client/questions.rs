//! Questions: sensors and saved questions looked up, a question asked in the hand-built form
//! (`question_requests` says why), and its progress and answers read.
//!
//! Answers are read page by page into a [`QuestionReader`], never held whole: every page is
//! read, so `row_count` and the unavailable rows count the whole answer, while only the first
//! `max_rows` data rows are kept (docs/tanium-api.md, "Question result data").

use std::collections::BTreeMap;

use super::TaniumClient;
use crate::error::Error;
use crate::lenient::Node;
use crate::model::{QuestionProgress, SavedQuestion, Sensor};
use crate::question_requests::{
    self as build, QuestionFilter, Select, SensorChoice, resolve_select,
};
use crate::question_results::{QuestionReader, QuestionResults};
use crate::request::{Page, Ref, Request};
use crate::targeting;

/// A question asked, or the question of a saved question whose answers are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AskedQuestion {
    /// The question's id: where its progress and answers are read.
    pub id: u64,
    /// The question's text (the server's when it sends one), or the saved question's name.
    pub text: String,
}

/// A question ready to be asked: the request and its text.
#[derive(Debug, Clone)]
struct Prepared {
    request: Request,
    text: String,
}

impl TaniumClient {
    /// A sensor by name (`GET sensors/by-name/{name}`): its hash and parameter definition.
    pub async fn sensor_by_name(&self, name: &str) -> Result<Sensor, Error> {
        let data = self
            .send(&build::sensor_by_name(name))
            .await
            .map_err(|err| super::named(err, "sensor", name))?;
        Sensor::from_data(&data)
    }

    /// A saved question by name, or by id when `name_or_id` is all digits.
    pub async fn saved_question(&self, name_or_id: &str) -> Result<SavedQuestion, Error> {
        let request = match super::parse_id(name_or_id) {
            Some(id) => build::saved_question_by_id(Ref::Id(id)),
            None => build::saved_question_by_name(name_or_id),
        };
        let data = self
            .send(&request)
            .await
            .map_err(|err| super::named(err, "saved question", name_or_id))?;
        SavedQuestion::from_data(&data)
    }

    /// The question whose answers a saved question offers: the newest the server asked for it.
    /// Its progress and answers are then read like any question's, under one id, so that both
    /// describe the same question (the server may ask the saved question again meanwhile).
    pub async fn saved_question_latest(&self, name_or_id: &str) -> Result<AskedQuestion, Error> {
        let saved = self.saved_question(name_or_id).await?;
        let name = if saved.name.is_empty() {
            name_or_id.to_owned()
        } else {
            saved.name
        };
        let id = saved.question_id.ok_or_else(|| {
            Error::InvalidRequest(format!(
                "saved question {name:?} (id {}) has no question yet: the server has never asked it",
                saved.id
            ))
        })?;
        Ok(AskedQuestion { id, text: name })
    }

    /// Asks a question reading `get` from the machines that match `from` (every machine
    /// without it). Each sensor is read by name first, for its hash and to check the
    /// parameters given against its definition; nothing is asked when one is missing or a
    /// parameter or clause is wrong.
    pub async fn ask_question(
        &self,
        get: &[SensorChoice],
        from: Option<&QuestionFilter>,
    ) -> Result<AskedQuestion, Error> {
        let prepared = self.prepare_question(get, from).await?;
        let data = self.send(&prepared.request).await?;
        let node = Node::root(&data, "data");
        let text = node
            .opt_string("query_text")?
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
            .unwrap_or(prepared.text);
        Ok(AskedQuestion {
            id: node.req_u64("id")?,
            text,
        })
    }

    /// Checks a question without asking it (plan --live): every sensor exists, the parameters
    /// fit their definitions and the clauses can be written. Returns what a run would send.
    pub async fn check_question(
        &self,
        get: &[SensorChoice],
        from: Option<&QuestionFilter>,
    ) -> Result<Request, Error> {
        self.prepare_question(get, from)
            .await
            .map(|prepared| prepared.request)
    }

    /// Reads the sensors, resolves the selects, builds the filter group and the request.
    async fn prepare_question(
        &self,
        get: &[SensorChoice],
        from: Option<&QuestionFilter>,
    ) -> Result<Prepared, Error> {
        if get.is_empty() {
            return Err(Error::InvalidRequest(
                "a question needs at least one sensor to get".to_owned(),
            ));
        }
        let filter_text = match from {
            Some(filter) => Some(
                targeting::build_text(filter.combine, &filter.clauses)
                    .map_err(|err| Error::InvalidRequest(format!("from: {err}")))?,
            ),
            None => None,
        };
        let mut names: Vec<&str> = get.iter().map(|choice| choice.name.as_str()).collect();
        if let Some(filter) = from {
            names.extend(filter.clauses.iter().map(|clause| clause.sensor.as_str()));
        }
        let sensors = self.sensors_named(&names).await?;
        let sensor = |name: &str| sensors.get(&name.to_lowercase());
        let mut selects: Vec<Select> = Vec::with_capacity(get.len());
        let mut problems = Vec::new();
        for choice in get {
            let Some(found) = sensor(&choice.name) else {
                continue;
            };
            match resolve_select(choice, found) {
                Ok(select) => selects.push(select),
                Err(mut found_problems) => problems.append(&mut found_problems),
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidRequest(problems.join("; ")));
        }
        let group = match from {
            Some(filter) => {
                let hash_of = |name: &str| match sensor(name) {
                    Some(found) => Ref::Id(found.hash),
                    None => Ref::Placeholder(format!("{name}.hash")),
                };
                Some(
                    build::filter_group(filter.combine, &filter.clauses, &hash_of)
                        .map_err(|err| Error::InvalidRequest(format!("from: {err}")))?,
                )
            }
            None => None,
        };
        Ok(Prepared {
            text: build::question_text(&selects, filter_text.as_deref()),
            request: build::ask_question(&selects, group),
        })
    }

    /// Reads each distinct sensor (names compared ignoring case, as Tanium does). Every sensor
    /// is looked up before a miss is reported, so that the error names all the missing ones.
    async fn sensors_named(&self, names: &[&str]) -> Result<BTreeMap<String, Sensor>, Error> {
        let mut sensors = BTreeMap::new();
        let mut missing: Vec<String> = Vec::new();
        let mut first_miss: Option<Error> = None;
        for name in names {
            let key = name.to_lowercase();
            if sensors.contains_key(&key) || missing.contains(&key) {
                continue;
            }
            match self.sensor_by_name(name).await {
                Ok(sensor) => {
                    sensors.insert(key, sensor);
                }
                Err(err @ Error::NotFound { .. }) => {
                    missing.push(key);
                    if first_miss.is_none() {
                        first_miss = Some(err);
                    } else if let Some(Error::NotFound { text, .. }) = &mut first_miss {
                        let also = format!("sensor {name:?} was not found either");
                        *text = Some(match text.take() {
                            Some(before) if !before.is_empty() => format!("{before}; {also}"),
                            _ => also,
                        });
                    }
                }
                Err(other) => return Err(other),
            }
        }
        match first_miss {
            Some(err) => Err(err),
            None => Ok(sensors),
        }
    }

    /// How far a question has got (`GET result_info/question/{id}`), numbers as sent:
    /// `mr_tested` may exceed `estimated_total`.
    pub async fn question_progress(&self, question_id: u64) -> Result<QuestionProgress, Error> {
        let data = self
            .send(&build::question_result_info(Ref::Id(question_id)))
            .await?;
        QuestionProgress::from_data(&data)
    }

    /// Reads every page of a question's answers (`GET result_data/question/{id}` with
    /// `row_start`, `row_count` and the first page's `cache_id`), keeping the first `max_rows`
    /// data rows. A page shorter than asked for is the last, and so is one longer than asked
    /// for (a server that ignores paging sends everything at once). A 404 is asked again once
    /// after a pause, as Splunk's connector does: Tanium 7.3 sometimes answered a transient
    /// 404 on this route.
    pub async fn question_answer(
        &self,
        question_id: u64,
        max_rows: usize,
    ) -> Result<QuestionResults, Error> {
        let page_size = self.inner.tuning.page_size;
        let mut reader = QuestionReader::new(max_rows);
        let mut page = Page {
            row_start: 0,
            row_count: page_size,
            cache_id: None,
        };
        let mut retried = false;
        // A bound on pages guards against a server that ignores paging and repeats itself.
        for _ in 0..100_000 {
            let request = build::question_result_data(Ref::Id(question_id), Some(&page));
            let body = match self.send_raw(&request).await {
                Err(Error::NotFound { .. }) if !retried => {
                    retried = true;
                    tokio::time::sleep(self.inner.tuning.question_poll_interval).await;
                    continue;
                }
                other => other?,
            };
            let info = reader.add_page(&body)?;
            page.cache_id = page.cache_id.or(info.cache_id);
            page.row_start += info.rows;
            if info.rows != page_size {
                break;
            }
        }
        Ok(reader.finish())
    }
}
