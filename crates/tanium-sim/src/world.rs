//! The fleet as it is at a time: what actions changed on each endpoint, and what every sensor
//! answers there.
//!
//! Nothing is stored for a change: where an action of a package with an effect (the tagging
//! packages add and remove `Custom Tags`, the logging package sets `Tanium Client Logging
//! Level`) completes on an endpoint, the change holds from that moment on. The state of an
//! endpoint at time `t` is therefore its configured state with the effects of every action
//! that completed there by `t` applied in the order they completed. The actions are kept (in
//! the state file too), and when each machine completes is derived from them, so a restarted
//! simulator knows every change, and a question sees the fleet as it was when it was asked,
//! however late it is read.

use std::cell::OnceCell;

use crate::config::{Endpoint, PackageEffect};
use crate::question::{CompiledFilter, SensorSource};
use crate::sensors::values::{self, Mutable};
use crate::sensors::{self, SensorDef};
use crate::state::{Action, Inner, Shared, SimTime};

/// An action whose package changes endpoints, with the value it sets.
#[derive(Debug)]
struct Source {
    action: Action,
    effect: PackageEffect,
    value: String,
}

/// The fleet at one time.
#[derive(Debug)]
pub(crate) struct World<'a> {
    shared: &'a Shared,
    at: SimTime,
    sources: Vec<Source>,
}

impl Shared {
    /// The fleet at `at`, from the actions in `inner`.
    pub(crate) fn world(&self, inner: &Inner, at: SimTime) -> World<'_> {
        let sources = inner
            .actions
            .values()
            .filter_map(|action| {
                let effect = self.package(action.package_index).effect?;
                let start = self.action_start(action, at)?;
                (start <= at).then_some(())?;
                let value = action
                    .parameters
                    .iter()
                    .find(|(key, _)| key == "$1")
                    .map(|(_, value)| value.trim().to_owned())
                    .unwrap_or_default();
                let mut action = action.clone();
                action.targeted.sort_unstable();
                Some(Source {
                    action,
                    effect,
                    value,
                })
            })
            .collect();
        World {
            shared: self,
            at,
            sources,
        }
    }

    /// The machines an action reaches: those of its action group that are in its target
    /// group (when it has one), as the fleet is at `at` (tags changed by actions count).
    pub(crate) fn targets(
        &self,
        inner: &Inner,
        action_group_id: u64,
        target_group_id: Option<u64>,
        at: SimTime,
    ) -> Vec<u32> {
        let Some(action_group) = inner.group(action_group_id) else {
            return Vec::new();
        };
        let world = self.world(inner, at);
        let target = target_group_id.and_then(|id| inner.group(id));
        world
            .select(&action_group.compiled)
            .into_iter()
            .filter(|&index| {
                target.is_none_or(|group| {
                    world
                        .machine(index)
                        .is_some_and(|machine| group.compiled.matches(&machine))
                })
            })
            .collect()
    }

    /// Machines (online or not) that pass a compiled filter at `at`.
    pub(crate) fn select_at(
        &self,
        inner: &Inner,
        filter: &CompiledFilter,
        at: SimTime,
    ) -> Vec<u32> {
        self.world(inner, at).select(filter)
    }
}

impl<'a> World<'a> {
    /// The endpoint at this time, `None` past the fleet.
    pub(crate) fn machine(&self, index: u32) -> Option<MachineView<'_>> {
        let endpoint = self.shared.fleet().get(index as usize)?;
        Some(MachineView {
            world: self,
            index,
            endpoint,
            state: OnceCell::new(),
        })
    }

    /// Machines (online or not) that pass the filter.
    pub(crate) fn select(&self, filter: &CompiledFilter) -> Vec<u32> {
        (0..self.shared.fleet().len() as u32)
            .filter(|&index| {
                self.machine(index)
                    .is_some_and(|machine| filter.matches(&machine))
            })
            .collect()
    }

    /// The endpoint's tags and logging level at this time.
    fn state_of(&self, index: u32, endpoint: &Endpoint) -> Mutable {
        let seed = self.shared.config.seed;
        let mut state = values::initial(seed, endpoint);
        let mut changes: Vec<(SimTime, u64, &Source)> = self
            .sources
            .iter()
            .filter(|source| source.action.targeted.binary_search(&index).is_ok())
            .filter_map(|source| {
                let at = self.shared.completed_at(&source.action, index, self.at)?;
                Some((at, source.action.id, source))
            })
            .collect();
        changes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (_, _, source) in changes {
            apply(&mut state, source.effect, &source.value);
        }
        state
    }
}

/// One change, as the package makes it.
pub(crate) fn apply(state: &mut Mutable, effect: PackageEffect, value: &str) {
    match effect {
        PackageEffect::AddTag => {
            if !value.is_empty() && !state.tags.iter().any(|tag| tag.eq_ignore_ascii_case(value)) {
                state.tags.push(value.to_owned());
            }
        }
        PackageEffect::RemoveTag => state.tags.retain(|tag| !tag.eq_ignore_ascii_case(value)),
        PackageEffect::SetLoggingLevel => state.logging_level = value.to_owned(),
    }
}

/// One endpoint at the world's time. Its changed state is worked out on the first sensor that
/// needs it (a filter on `Computer Name` never does).
#[derive(Debug)]
pub(crate) struct MachineView<'a> {
    world: &'a World<'a>,
    index: u32,
    endpoint: &'a Endpoint,
    state: OnceCell<Mutable>,
}

impl MachineView<'_> {
    fn state(&self) -> &Mutable {
        self.state
            .get_or_init(|| self.world.state_of(self.index, self.endpoint))
    }

    /// The sensor's answers, special texts included: its `TSE-Error:` on the few endpoints
    /// where it fails, `[no results]` when it has nothing to say.
    pub(crate) fn answer(&self, sensor: &SensorDef, params: &[String]) -> Vec<String> {
        let seed = self.world.shared.config.seed;
        if let Some(error) = values::tse_error(seed, self.endpoint, sensor) {
            return vec![error];
        }
        let answers = values::answer(seed, self.endpoint, self.state(), sensor, params);
        if answers.is_empty() {
            vec![values::NO_RESULTS.to_owned()]
        } else {
            answers
        }
    }
}

impl SensorSource for MachineView<'_> {
    fn sensor_values(&self, sensor: &str, params: &[String]) -> Option<Vec<String>> {
        let sensor = sensors::by_name(sensor)?;
        let seed = self.world.shared.config.seed;
        if let Some(error) = values::tse_error(seed, self.endpoint, sensor) {
            return Some(vec![error]);
        }
        Some(values::answer(
            seed,
            self.endpoint,
            self.state(),
            sensor,
            params,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn changes_apply_in_order_and_ignore_case() {
        let mut state = Mutable {
            tags: vec!["Production".to_owned()],
            logging_level: "1".to_owned(),
        };
        apply(&mut state, PackageEffect::AddTag, "IR-suspect");
        apply(&mut state, PackageEffect::AddTag, "ir-SUSPECT");
        assert_eq!(state.tags, vec!["Production", "IR-suspect"]);
        apply(&mut state, PackageEffect::RemoveTag, "production");
        assert_eq!(state.tags, vec!["IR-suspect"]);
        apply(&mut state, PackageEffect::AddTag, "");
        assert_eq!(state.tags.len(), 1);
        apply(&mut state, PackageEffect::SetLoggingLevel, "41");
        assert_eq!(state.logging_level, "41");
    }

    #[test]
    fn a_world_without_actions_is_the_configured_fleet() {
        let shared = Shared::new(SimConfig::default()).unwrap();
        let inner = shared.lock();
        let world = shared.world(&inner, 100.0);
        let tags = sensors::by_name("Custom Tags").unwrap();
        for (index, endpoint) in shared.fleet().iter().enumerate() {
            let machine = world.machine(index as u32).unwrap();
            let expected = if endpoint.custom_tags.is_empty() {
                vec![values::NO_RESULTS.to_owned()]
            } else {
                endpoint.custom_tags.clone()
            };
            assert_eq!(machine.answer(tags, &[]), expected);
        }
        let evil = crate::question::parse("Running Processes equals evil.exe")
            .unwrap()
            .compile()
            .unwrap();
        let names: Vec<&str> = world
            .select(&evil)
            .into_iter()
            .map(|index| shared.fleet()[index as usize].computer_name.as_str())
            .collect();
        assert_eq!(
            names,
            vec!["WIN-APP01", "WIN-LAPTOP-0042", "WIN-LAPTOP-0051"]
        );
    }
}
