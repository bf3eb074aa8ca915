//! `issue.rollout`: the waves (a positive count or a share `"N%"` each, cumulative, the last
//! `"100%"`), `until_percent` (1 to 100) and `max_failed_percent` (0 to 100), `pause` and `interval`
//! (durations, `interval` longer than zero) and `stop_on_abort`.

use crate::codes;
use crate::rollout::{Rollout, Wave, rollout_defaults};
use crate::yaml::{Entry, Node, NodeKind};

use crate::check::{Checker, Owner};

const ROLLOUT_KEYS: [&str; 6] = [
    "waves",
    "until_percent",
    "max_failed_percent",
    "pause",
    "stop_on_abort",
    "interval",
];

/// What a wave must look like, for messages.
const WAVE_HELP: &str =
    "write a number of endpoints (`1`, `25`) or a share of them in quotes (`\"10%\"`, `\"100%\"`)";

impl Checker<'_> {
    pub(super) fn rollout(&mut self, entry: &Entry) -> Option<Rollout> {
        let fields = self.fields(
            &entry.value,
            Owner::key("`rollout`", entry),
            &ROLLOUT_KEYS,
            &[
                ("batches", "`waves`"),
                ("serial", "`waves`"),
                ("max_fail_percentage", "`max_failed_percent`"),
            ],
        )?;
        let waves = self
            .required(
                &fields,
                "waves",
                Some("e.g. `waves: [1, \"10%\", \"100%\"]`".into()),
            )
            .and_then(|entry| self.waves(entry));
        let percent = |checker: &mut Self, key: &str, least: i64, default: u8| match fields.get(key)
        {
            Some(entry) => checker
                .integer(entry, least, 100)
                .and_then(|percent| u8::try_from(percent).ok()),
            None => Some(default),
        };
        // A wave done when 0% of it finished would never check the failure budget.
        let until_percent = percent(self, "until_percent", 1, rollout_defaults::UNTIL_PERCENT);
        let max_failed_percent = percent(
            self,
            "max_failed_percent",
            0,
            rollout_defaults::MAX_FAILED_PERCENT,
        );
        let pause = self.duration_or(&fields, "pause", rollout_defaults::PAUSE);
        let interval = self.duration_or(&fields, "interval", rollout_defaults::INTERVAL);
        let interval_positive = self.positive(&fields, "interval", interval);
        let stop_on_abort = match fields.get("stop_on_abort") {
            Some(entry) => self.boolean(entry),
            None => Some(rollout_defaults::STOP_ON_ABORT),
        };
        interval_positive?;
        Some(Rollout {
            waves: waves?,
            until_percent: until_percent?,
            max_failed_percent: max_failed_percent?,
            pause: pause?,
            stop_on_abort: stop_on_abort?,
            interval: interval?,
        })
    }

    /// `waves`: a non-empty list of counts and shares, cumulative, ending at `"100%"`.
    fn waves(&mut self, entry: &Entry) -> Option<Vec<Wave>> {
        let NodeKind::Seq(items) = &entry.value.kind else {
            self.wrong_type(
                &entry.key,
                "a list of counts and shares, e.g. `[1, \"10%\", \"100%\"]`",
                &entry.value,
            );
            return None;
        };
        if items.is_empty() {
            self.error(
                codes::EMPTY_LIST,
                entry.value.span,
                entry.value.length,
                "`waves` is empty: a rollout needs at least one wave",
            )
            .help = Some("write `waves: [\"100%\"]` for one wave, or several".into());
            return None;
        }
        let waves: Vec<Option<Wave>> = items.iter().map(|item| self.wave(item)).collect();
        let waves: Vec<Wave> = waves.into_iter().collect::<Option<_>>()?;
        let mut ok = true;
        for (index, pair) in waves.windows(2).enumerate() {
            let shrinks = match (pair[0], pair[1]) {
                (Wave::Count(before), Wave::Count(after)) => after < before,
                (Wave::Percent(before), Wave::Percent(after)) => after < before,
                // A count and a share compare only once the endpoints are listed: the engine
                // then never lets a wave shrink the rollout.
                _ => false,
            };
            if shrinks {
                let item = &items[index + 1];
                self.error(
                    codes::WAVES_NOT_CUMULATIVE,
                    item.span,
                    item.length,
                    format!(
                        "wave {} (`{}`) is smaller than wave {} (`{}`): waves are cumulative, each counts every endpoint reached so far",
                        index + 2,
                        pair[1],
                        index + 1,
                        pair[0]
                    ),
                )
                .help = Some("write each wave as the total reached once it is issued, e.g. `[1, \"10%\", \"50%\", \"100%\"]`".into());
                ok = false;
            }
        }
        let last = waves.last().copied();
        if last != Some(Wave::Percent(100))
            && let (Some(last), Some(item)) = (last, items.last())
        {
            self.error(
                codes::WAVES_NOT_CUMULATIVE,
                item.span,
                item.length,
                format!(
                    "the last wave is `{last}`, not `\"100%\"`: the endpoints after it would never get the action"
                ),
            )
            .help = Some("end the waves with `\"100%\"`; to reach only some endpoints, narrow the target instead".into());
            ok = false;
        }
        ok.then_some(waves)
    }

    /// One wave: a whole number of endpoints (at least 1) or a share `"N%"` (0 < N <= 100).
    fn wave(&mut self, item: &Node) -> Option<Wave> {
        let wave = match &item.kind {
            NodeKind::Int(count) if *count >= 1 => Some(Wave::Count(count.unsigned_abs())),
            NodeKind::Str(text) => text
                .trim()
                .strip_suffix('%')
                .and_then(|number| number.trim().parse::<u8>().ok())
                .filter(|percent| (1..=100).contains(percent))
                .map(Wave::Percent),
            _ => None,
        };
        if wave.is_none() {
            let written = match &item.kind {
                NodeKind::Str(text) => format!("`{text}`"),
                NodeKind::Int(count) => format!("`{count}`"),
                _ => item.type_name().to_owned(),
            };
            self.error(
                codes::INVALID_WAVE,
                item.span,
                item.length,
                format!(
                    "wave {written} is neither a positive number of endpoints nor a share from \"1%\" to \"100%\""
                ),
            )
            .help = Some(WAVE_HELP.into());
        }
        wave
    }
}
