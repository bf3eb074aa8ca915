//! Saved questions and their issues.
//!
//! A saved question is asked again every `issue_seconds` of simulated time, from sim time 0:
//! its issue `k` is asked at `k * issue_seconds` and has the question id
//! `saved id * 1,000,000,000 + k + 1` (far above the ids of questions clients ask, which
//! count from 90,001). Nothing is stored for an issue: what it selects and which machines
//! passed its filter follow from the saved question and the fleet as it was at that time, so
//! `result_data/saved_question/{id}` always answers the latest issue, and an issue read by its
//! own id (`result_data/question/{id}`) answers as it did when it was the latest.

use crate::SimError;
use crate::config::SimConfig;
use crate::question::{self, SelectText};
use crate::sensors;
use crate::state::{self, Group, Inner, QuestionRecord, SavedQuestion, Select, Shared, SimTime};

/// Question ids of saved-question issues: `saved id * ISSUE_STRIDE + k + 1`.
const ISSUE_STRIDE: u64 = 1_000_000_000;

/// A select of question text as the simulator's sensor, or why not: a sensor it does not know.
/// Parameters beyond the sensor's definition are ignored, missing ones are empty.
pub(crate) fn select_of(text: &SelectText) -> Result<Select, String> {
    let sensor = sensors::by_name(&text.sensor)
        .ok_or_else(|| format!("unknown sensor '{}'", text.sensor.trim()))?;
    let mut params = text.params.clone();
    params.resize(sensor.params.len(), String::new());
    Ok(Select { sensor, params })
}

/// Reads the configured saved questions (their text, groups and sensors checked).
pub(crate) fn compile(
    config: &SimConfig,
    groups: &[Group],
) -> Result<Vec<SavedQuestion>, SimError> {
    config
        .saved_questions
        .iter()
        .map(|def| {
            let invalid = |reason: String| {
                SimError::Config(format!("saved question '{}': {reason}", def.name))
            };
            let parsed = question::parse_question(&def.query_text)
                .map_err(|error| invalid(error.to_string()))?;
            let filter = state::resolve_filter(groups, parsed.filter).map_err(invalid)?;
            let compiled = filter
                .compile()
                .map_err(|error| invalid(error.to_string()))?;
            let selects = parsed
                .selects
                .iter()
                .map(select_of)
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?;
            if def.issue_seconds == 0 {
                return Err(invalid("issue_seconds must be above 0".to_owned()));
            }
            Ok(SavedQuestion {
                id: def.id,
                name: def.name.clone(),
                query_text: def.query_text.clone(),
                issue_seconds: def.issue_seconds,
                selects,
                compiled,
            })
        })
        .collect()
}

impl Shared {
    pub(crate) fn saved_by_id(&self, id: u64) -> Option<&SavedQuestion> {
        self.saved.iter().find(|saved| saved.id == id)
    }

    pub(crate) fn saved_by_name(&self, name: &str) -> Option<&SavedQuestion> {
        self.saved
            .iter()
            .find(|saved| saved.name.eq_ignore_ascii_case(name.trim()))
    }

    /// The id of the saved question's issue that is the latest at `at`.
    pub(crate) fn latest_issue_id(&self, saved: &SavedQuestion, at: SimTime) -> u64 {
        let issue = (at.max(0.0) / saved.issue_seconds as f64).floor() as u64;
        saved.id * ISSUE_STRIDE + issue.min(ISSUE_STRIDE - 2) + 1
    }

    /// The question with this id: one a client asked, or an issue of a saved question that
    /// has been asked by `now`.
    pub(crate) fn question_record(&self, id: u64, now: SimTime) -> Option<QuestionRecord> {
        let inner = self.lock();
        if let Some(question) = inner.questions.get(&id) {
            return Some(question.clone());
        }
        let saved = self.saved_by_id(id / ISSUE_STRIDE)?;
        let issue = (id % ISSUE_STRIDE).checked_sub(1)?;
        let asked_at = issue as f64 * saved.issue_seconds as f64;
        (asked_at <= now).then(|| self.issue(&inner, saved, id, asked_at))
    }

    fn issue(
        &self,
        inner: &Inner,
        saved: &SavedQuestion,
        id: u64,
        asked_at: SimTime,
    ) -> QuestionRecord {
        let world = self.world(inner, asked_at);
        let matching = world
            .select(&saved.compiled)
            .into_iter()
            .filter(|&machine| self.fleet()[machine as usize].online)
            .collect();
        QuestionRecord {
            id,
            query_text: saved.query_text.clone(),
            selects: saved.selects.clone(),
            context_group_id: None,
            matching,
            created_at: asked_at,
            expire_seconds: saved.issue_seconds,
            saved_question_id: Some(saved.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_follow_the_clock_and_are_found_by_id() {
        let shared = Shared::new(SimConfig::default()).unwrap();
        let saved = shared.saved_by_name("hosts running evil").unwrap().clone();
        assert_eq!(saved.id, 1001);
        let first = shared.latest_issue_id(&saved, 10.0);
        assert_eq!(first, 1001 * ISSUE_STRIDE + 1);
        let second = shared.latest_issue_id(&saved, 600.0);
        assert_eq!(second, first + 1);
        let record = shared.question_record(first, 10.0).unwrap();
        assert_eq!(record.saved_question_id, Some(1001));
        assert_eq!(record.created_at, 0.0);
        // The offline host that runs evil.exe never answers.
        let names: Vec<&str> = record
            .matching
            .iter()
            .map(|m| shared.fleet()[*m as usize].computer_name.as_str())
            .collect();
        assert_eq!(names, vec!["WIN-APP01", "WIN-LAPTOP-0042"]);
        // Not asked yet.
        assert!(shared.question_record(second, 10.0).is_none());
        assert!(
            shared
                .question_record(9999 * ISSUE_STRIDE + 1, 10.0)
                .is_none()
        );
        assert!(shared.question_record(1001 * ISSUE_STRIDE, 10.0).is_none());
    }

    #[test]
    fn a_saved_question_naming_an_unknown_sensor_is_refused() {
        let mut config = SimConfig::default();
        config.saved_questions[0].query_text = "Get Shoe Size from all machines".to_owned();
        let error = Shared::new(config).unwrap_err();
        assert!(error.to_string().contains("Shoe Size"), "{error}");
    }
}
