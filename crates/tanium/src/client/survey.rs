//! What `plan --live` asks about a target: which endpoints match now, by name, and how many
//! registered endpoints are offline. Read-only: a question changes nothing on the endpoints,
//! and `system_status` only lists the clients registered with the server.
//!
//! A question reaches online endpoints only, so the endpoints it counts are those that match
//! *now*. Offline endpoints cannot be asked whether they match; what can be known is how many
//! registered clients are offline: those whose last registration is older than
//! [`OFFLINE_AFTER`] at the server's time. Tanium Clients register every 30 to 90 seconds
//! (docs.tanium.com, "Tanium Client concepts"), so ten minutes without one means the client is
//! not connected (docs/tanium-api.md, "Online and offline endpoints").

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::TaniumClient;
use crate::error::Error;
use crate::lenient::{Node, collection_items, lenient_u64, parse_time};
use crate::model::QuestionProgress;
use crate::request::{Method, Page, Ref, Request, requests};

/// A client that has not registered for this long is offline.
pub const OFFLINE_AFTER: Duration = Duration::from_secs(600);

/// What a question found about the endpoints a target matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// Endpoints that match and answered (online ones).
    pub matching: u64,
    /// The first of their names in alphabetical order (case aside), as many as asked for.
    pub names: Vec<String>,
    /// The server's time when it answered (`now` of the result data), if it said.
    pub server_time: Option<DateTime<Utc>>,
}

/// `POST /api/v2/questions`: the Computer Name of every machine in a group. Safe to repeat.
pub(crate) fn ask_names_in_group(group: Ref) -> Request {
    Request {
        method: Method::Post,
        path: "/api/v2/questions".to_owned(),
        options: None,
        body: Some(json!({
            "selects": [{ "sensor": { "name": "Computer Name" } }],
            "context_group": { "id": group.to_json() },
            "expire_seconds": 600,
        })),
        safe_to_repeat: true,
    }
}

/// `GET /api/v2/result_data/question/{id}`, one page.
fn question_results(id: u64, page: &Page) -> Request {
    paged_get(format!("/api/v2/result_data/question/{id}"), page)
}

/// `GET /api/v2/system_status`, one page: the registered clients.
fn system_status(page: &Page) -> Request {
    paged_get("/api/v2/system_status".to_owned(), page)
}

fn paged_get(path: String, page: &Page) -> Request {
    let mut options = json!({ "row_start": page.row_start, "row_count": page.row_count });
    if let (Some(cache_id), Some(object)) = (page.cache_id, options.as_object_mut()) {
        object.insert("cache_id".to_owned(), json!(cache_id));
    }
    Request {
        method: Method::Get,
        path,
        options: Some(options),
        body: None,
        safe_to_repeat: true,
    }
}

impl TaniumClient {
    /// Surveys the machines that match targeting text, with the question `plan --live` asks
    /// to count them: `Get Computer Name from all machines with <text>`. Keeps the first
    /// `names` names.
    pub async fn survey_text(
        &self,
        text: &str,
        names: usize,
        wait: Duration,
    ) -> Result<Survey, Error> {
        self.survey(&requests::ask_text_count_question(text), names, wait)
            .await
    }

    /// Surveys the machines of a group: a question selecting their Computer Name.
    pub async fn survey_group(
        &self,
        group_id: u64,
        names: usize,
        wait: Duration,
    ) -> Result<Survey, Error> {
        self.survey(&ask_names_in_group(Ref::Id(group_id)), names, wait)
            .await
    }

    /// The Computer Name of every machine of a group that answers (at most `wait` for them to
    /// answer), each name once, in alphabetical order (case aside): what a staged rollout
    /// splits into waves.
    pub async fn list_group_names(
        &self,
        group_id: u64,
        wait: Duration,
    ) -> Result<Vec<String>, Error> {
        Ok(self.survey_group(group_id, usize::MAX, wait).await?.names)
    }

    /// Asks a question selecting Computer Name, waits (at most `wait`) for the machines to
    /// answer, and reads every page of the answers, keeping the first `keep` names.
    async fn survey(
        &self,
        question: &Request,
        keep: usize,
        wait: Duration,
    ) -> Result<Survey, Error> {
        let data = self.send(question).await?;
        let question_id = Node::root(&data, "data").req_u64("id")?;
        let progress = self.await_answers(question_id, wait).await?;
        let page_size = self.inner.tuning.page_size;
        let mut names = FirstNames::new(keep);
        let mut server_time = None;
        let mut page = Page {
            row_start: 0,
            row_count: page_size,
            cache_id: None,
        };
        // A bound on pages guards against a server that ignores paging and repeats itself.
        for _ in 0..100_000 {
            let data = self.send(&question_results(question_id, &page)).await?;
            let read = read_names(&data, &mut names)?;
            server_time = server_time.or(read.now);
            page.cache_id = page.cache_id.or(read.cache_id);
            page.row_start += read.rows;
            if read.rows < page_size {
                break;
            }
        }
        Ok(Survey {
            matching: progress.passed.max(names.seen),
            names: names.into_sorted(),
            server_time,
        })
    }

    /// Polls a question's result info until 99% of the machines answered or `wait` passed,
    /// looking early and then backing off, as counting does.
    async fn await_answers(
        &self,
        question_id: u64,
        wait: Duration,
    ) -> Result<QuestionProgress, Error> {
        let started = tokio::time::Instant::now();
        let mut pause =
            (self.inner.tuning.question_poll_interval / 16).max(Duration::from_millis(10));
        loop {
            let data = self
                .send(&requests::question_result_info(Ref::Id(question_id)))
                .await?;
            let progress = QuestionProgress::from_data(&data)?;
            let elapsed = started.elapsed();
            if progress.is_complete() || elapsed >= wait {
                return Ok(progress);
            }
            tokio::time::sleep(pause.min(wait - elapsed)).await;
            pause = (pause * 2).min(self.inner.tuning.question_poll_interval);
        }
    }

    /// How many registered clients are offline: not registered for [`OFFLINE_AFTER`] before
    /// `now` (the server's time; without it, the newest registration stands for it). Reads
    /// every page of `system_status`.
    pub async fn offline_endpoints(&self, now: Option<DateTime<Utc>>) -> Result<u64, Error> {
        let page_size = self.inner.tuning.page_size;
        let mut registrations: Vec<Option<DateTime<Utc>>> = Vec::new();
        let mut page = Page {
            row_start: 0,
            row_count: page_size,
            cache_id: None,
        };
        for _ in 0..100_000 {
            let data = self.send(&system_status(&page)).await?;
            let items = data
                .as_array()
                .ok_or_else(|| Error::decode("data", "expected the list of registered clients"))?;
            let clients = collection_items(items);
            for (index, client) in clients.iter().enumerate() {
                let path = format!("data[{}]", page.row_start as usize + index);
                let registered = Node::root(client, &path).field("last_registration");
                registrations.push(registered.required()?.as_time()?);
            }
            let cache = items.last().filter(|item| item.get("cache_id").is_some());
            page.cache_id = page.cache_id.or_else(|| {
                cache
                    .and_then(|info| info.get("cache_id"))
                    .and_then(lenient_u64)
            });
            let total = cache
                .and_then(|info| info.get("cache_row_count"))
                .and_then(lenient_u64);
            page.row_start += clients.len() as u64;
            // A short page is the last; so is one that reaches the cache's row count (a server
            // that ignores paging answers everything at once).
            if (clients.len() as u64) < page_size
                || total.is_some_and(|total| page.row_start >= total)
            {
                break;
            }
        }
        Ok(count_offline(&registrations, now))
    }
}

/// Clients not registered for [`OFFLINE_AFTER`] before `now`, or before the newest
/// registration when the server's time is not known. A client that never registered
/// (Tanium's "not set" date) is offline.
fn count_offline(registrations: &[Option<DateTime<Utc>>], now: Option<DateTime<Utc>>) -> u64 {
    let Some(now) = now.or_else(|| registrations.iter().flatten().max().copied()) else {
        return registrations.len() as u64;
    };
    let limit = chrono::Duration::from_std(OFFLINE_AFTER).unwrap_or(chrono::Duration::MAX);
    registrations
        .iter()
        .filter(|registered| registered.is_none_or(|at| now - at > limit))
        .count() as u64
}

/// The names of the machines seen so far, keeping the first `keep` in alphabetical order
/// (case aside) and counting them all.
#[derive(Debug)]
struct FirstNames {
    keep: usize,
    first: BTreeSet<(String, String)>,
    seen: u64,
}

impl FirstNames {
    fn new(keep: usize) -> Self {
        FirstNames {
            keep,
            first: BTreeSet::new(),
            seen: 0,
        }
    }

    fn add(&mut self, name: &str, count: u64) {
        self.seen += count;
        self.first.insert((name.to_lowercase(), name.to_owned()));
        if self.first.len() > self.keep {
            self.first.pop_last();
        }
    }

    fn into_sorted(self) -> Vec<String> {
        self.first.into_iter().map(|(_, name)| name).collect()
    }
}

/// What one page of question results held besides the names.
#[derive(Debug)]
struct PageRead {
    rows: u64,
    cache_id: Option<u64>,
    now: Option<DateTime<Utc>>,
}

/// Reads the Computer Name of every row of a page of question results (found by column name;
/// special texts such as `[no results]` are not names).
fn read_names(data: &Value, names: &mut FirstNames) -> Result<PageRead, Error> {
    let now = data
        .get("now")
        .and_then(Value::as_str)
        .and_then(parse_result_time);
    let set = data
        .pointer("/result_sets/0")
        .ok_or_else(|| Error::decode("data.result_sets[0]", "missing field"))?;
    let cache_id = set.get("cache_id").and_then(lenient_u64);
    let Some(rows) = set.get("rows").filter(|rows| !rows.is_null()) else {
        // A question without answers yet (or without selects) has no rows key at all.
        return Ok(PageRead {
            rows: 0,
            cache_id,
            now,
        });
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| Error::decode("data.result_sets[0].rows", "expected a list"))?;
    let columns = set
        .get("columns")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::decode("data.result_sets[0].columns", "expected a list"))?;
    let column = |wanted: &str| {
        columns.iter().position(|column| {
            column
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|name| name.eq_ignore_ascii_case(wanted))
        })
    };
    let name_column = column("Computer Name")
        .ok_or_else(|| Error::decode("data.result_sets[0].columns", "no Computer Name column"))?;
    let count_column = column("Count");
    for row in rows {
        let cells = row.get("data").and_then(Value::as_array);
        let text = |index: usize| {
            cells
                .and_then(|cells| cells.get(index))
                .and_then(Value::as_array)
                .and_then(|values| values.first())
                .and_then(|value| value.get("text"))
                .and_then(Value::as_str)
        };
        let count = count_column
            .and_then(text)
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(1);
        if let Some(name) = text(name_column)
            .map(str::trim)
            .filter(|name| is_name(name))
        {
            names.add(name, count);
        }
    }
    Ok(PageRead {
        rows: rows.len() as u64,
        cache_id,
        now,
    })
}

/// Whether a cell text is a machine's name, not one of Tanium's special texts.
fn is_name(text: &str) -> bool {
    !(text.is_empty()
        || (text.starts_with('[') && text.ends_with(']'))
        || text.starts_with("TSE-Error"))
}

/// Result data's `now`, e.g. `2022/01/18 09:20:54 GMT-0000` (recorded), or an RFC 3339 time.
fn parse_result_time(text: &str) -> Option<DateTime<Utc>> {
    if let Some((local, offset)) = text.trim().rsplit_once(" GMT") {
        let naive = NaiveDateTime::parse_from_str(local, "%Y/%m/%d %H:%M:%S").ok()?;
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let digits = offset.trim_start_matches(['+', '-']);
        let hours: i64 = digits.get(..2)?.parse().ok()?;
        let minutes: i64 = digits.get(2..4).unwrap_or("00").parse().ok()?;
        let shift = chrono::Duration::minutes(sign * (hours * 60 + minutes));
        return Some(naive.and_utc() - shift);
    }
    parse_time(text).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn result_times_are_read_in_the_recorded_form() {
        assert_eq!(
            parse_result_time("2022/01/18 09:20:54 GMT-0000"),
            Some(time("2022-01-18T09:20:54Z"))
        );
        assert_eq!(
            parse_result_time("2022/01/18 09:20:54 GMT+0130"),
            Some(time("2022-01-18T07:50:54Z"))
        );
        assert_eq!(
            parse_result_time("2022-01-18T09:20:54Z"),
            Some(time("2022-01-18T09:20:54Z"))
        );
        assert_eq!(parse_result_time("yesterday"), None);
    }

    #[test]
    fn offline_means_not_registered_for_ten_minutes() {
        let now = time("2024-05-01T12:00:00Z");
        let registrations = [
            Some(time("2024-05-01T11:59:30Z")),
            Some(time("2024-05-01T11:50:01Z")),
            Some(time("2024-05-01T11:49:59Z")),
            Some(time("2024-04-29T08:00:00Z")),
            None,
        ];
        assert_eq!(count_offline(&registrations, Some(now)), 3);
        // Without the server's time, the newest registration (30 seconds earlier) stands for
        // it: the client last seen at 11:49:59 is then 9 minutes 31 seconds behind.
        assert_eq!(count_offline(&registrations, None), 2);
        assert_eq!(count_offline(&[None, None], None), 2);
    }

    #[test]
    fn names_are_kept_first_in_alphabetical_order_and_counted() {
        let data = json!({
            "now": "2024/05/01 12:00:00 GMT-0000",
            "result_sets": [{
                "cache_id": "77",
                "columns": [{"name": "Computer Name"}, {"name": "Count"}],
                "rows": (0..30).rev().map(|index| json!({"data": [[{"text": format!("Host-{index:02}")}], [{"text": "1"}]]}))
                    .chain([
                        json!({"data": [[{"text": "[no results]"}], [{"text": "4"}]]}),
                        json!({"data": [[{"text": "alpha"}], [{"text": "2"}]]}),
                    ])
                    .collect::<Vec<_>>(),
            }],
        });
        let mut names = FirstNames::new(20);
        let read = read_names(&data, &mut names).unwrap();
        assert_eq!(read.rows, 32);
        assert_eq!(read.cache_id, Some(77));
        assert_eq!(read.now, Some(time("2024-05-01T12:00:00Z")));
        assert_eq!(names.seen, 32);
        let sorted = names.into_sorted();
        assert_eq!(sorted.len(), 20);
        assert_eq!(sorted[0], "alpha");
        assert_eq!(sorted[1], "Host-00");
        assert_eq!(sorted[19], "Host-18");
    }
}
