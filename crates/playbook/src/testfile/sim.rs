//! A case's `sim`: the simulator's world. The fleet (`default` or endpoints as the simulator's
//! fleet files write them), approval (`{ after: DURATION }` or `{ deny: true }`), endpoints
//! whose action fails, shares in 0..=1, fault knobs and the clock's scale.

use crate::check::Owner;
use crate::codes;
use crate::yaml::{Entry, Node, NodeKind};

use super::checks::{Walker, only_known_keys};
use super::{ApprovalChoice, FleetChoice, SimFaults, SimWorld};

const SIM_KEYS: [&str; 6] = [
    "fleet",
    "approval",
    "fail",
    "failure_share",
    "faults",
    "time_scale",
];
const SIM_ALIASES: [(&str, &str); 5] = [
    ("endpoints", "`fleet` with a list of endpoints"),
    ("approve", "`approval`"),
    ("failing", "`fail`"),
    ("fail_endpoints", "`fail`"),
    ("speed", "`time_scale`"),
];
const FAULT_KEYS: [&str; 4] = [
    "status_503_share",
    "status_429_share",
    "drop_share",
    "latency",
];
const FAULT_ALIASES: [(&str, &str); 2] = [
    ("error_share", "`status_503_share`"),
    ("rate_limit_share", "`status_429_share`"),
];
const APPROVAL_KEYS: [&str; 2] = ["after", "deny"];
/// The keys of one endpoint, as the simulator's fleet files write them.
pub(super) const ENDPOINT_KEYS: [&str; 11] = [
    "computer_name",
    "ip_address",
    "operating_system",
    "os_platform",
    "custom_tags",
    "online",
    "running_processes",
    "installed_applications",
    "logged_in_users",
    "logging_level",
    "files",
];
/// The endpoint keys that hold a list of strings.
const ENDPOINT_LISTS: [&str; 5] = [
    "custom_tags",
    "running_processes",
    "installed_applications",
    "logged_in_users",
    "files",
];
const ENDPOINT_ALIASES: [(&str, &str); 4] = [
    ("name", "`computer_name`"),
    ("hostname", "`computer_name`"),
    ("os", "`operating_system`"),
    ("tags", "`custom_tags`"),
];
const APPROVAL_HELP: &str = "write `approval: { after: 2m }` (granted after a while) or `approval: { deny: true }`; \
     leave `approval` out when no approval is needed";

impl Walker<'_> {
    pub(super) fn sim(&mut self, entry: &Entry) -> Option<SimWorld> {
        if matches!(entry.value.kind, NodeKind::Null) {
            return Some(SimWorld::default());
        }
        let owner = Owner::key("`sim`", entry);
        let fields = self
            .checker
            .fields(&entry.value, owner, &SIM_KEYS, &SIM_ALIASES)?;
        let mut ok = only_known_keys(&fields, &SIM_KEYS);
        let fleet = match fields.get("fleet") {
            Some(entry) => self.fleet(entry),
            None => Some(FleetChoice::Default),
        };
        let approval = match fields.get("approval") {
            Some(entry) => self.approval(entry),
            None => Some(ApprovalChoice::NotNeeded),
        };
        let fail = match fields.get("fail") {
            Some(entry) => self.names(entry, "a list of endpoint computer names"),
            None => Some(Vec::new()),
        };
        let failure_share =
            self.checker
                .optional(&fields, "failure_share", &mut ok, |checker, entry| {
                    share(checker, entry)
                });
        let faults = match fields.get("faults") {
            Some(entry) => self.faults(entry),
            None => Some(SimFaults::default()),
        };
        let time_scale = self
            .checker
            .optional(&fields, "time_scale", &mut ok, |checker, entry| {
                let value = checker.number(entry)?;
                // A clock slower than 1/100 of real time, or faster than a million times,
                // would make waits overflow or never end.
                if (0.01..=1_000_000.0).contains(&value) {
                    return Some(value);
                }
                checker
                    .error(
                        codes::OUT_OF_RANGE,
                        entry.value.span,
                        entry.value.length,
                        format!("`time_scale` is {value}; it must be between 0.01 and 1000000"),
                    )
                    .help = Some("`time_scale: 60` runs a simulated minute each second".into());
                None
            });
        if !ok {
            return None;
        }
        Some(SimWorld {
            fleet: fleet?,
            approval: approval?,
            fail: fail?,
            failure_share,
            faults: faults?,
            time_scale,
        })
    }

    fn fleet(&mut self, entry: &Entry) -> Option<FleetChoice> {
        let items = match &entry.value.kind {
            NodeKind::Str(word) if word == "default" => return Some(FleetChoice::Default),
            NodeKind::Str(word) => {
                self.checker
                    .error(
                        codes::INVALID_CHOICE,
                        entry.value.span,
                        entry.value.length,
                        format!("`fleet` is `{word}`; it must be `default` or a list of endpoints"),
                    )
                    .help = Some(
                    "write `fleet: default`, or list endpoints: `fleet: [{ computer_name: WIN-DC01 }]`"
                        .into(),
                );
                return None;
            }
            NodeKind::Seq(items) if !items.is_empty() => items,
            NodeKind::Seq(_) => {
                self.checker
                    .error(
                        codes::EMPTY_LIST,
                        entry.value.span,
                        entry.value.length,
                        "`fleet` is an empty list",
                    )
                    .help = Some("list at least one endpoint, or write `fleet: default`".into());
                return None;
            }
            _ => {
                let expected = "`default` or a list of endpoints";
                self.checker.wrong_type("fleet", expected, &entry.value);
                return None;
            }
        };
        let mut ok = true;
        for (index, item) in items.iter().enumerate() {
            ok &= self.endpoint(item, index);
        }
        ok.then(|| FleetChoice::Endpoints(items.iter().map(Node::to_json).collect()))
    }

    /// One endpoint of a listed fleet; true when it is good.
    fn endpoint(&mut self, node: &Node, index: usize) -> bool {
        let what = format!("endpoint {}", index + 1);
        let owner = Owner::node(&what, node);
        let Some(fields) = self
            .checker
            .fields(node, owner, &ENDPOINT_KEYS, &ENDPOINT_ALIASES)
        else {
            return false;
        };
        let mut ok = only_known_keys(&fields, &ENDPOINT_KEYS);
        let help = Some("add `computer_name: WIN-DC01`".into());
        ok &= self
            .checker
            .required(&fields, "computer_name", help)
            .and_then(|entry| self.checker.string(entry))
            .is_some();
        for entry in fields.entries {
            ok &= match entry.key.as_str() {
                "ip_address" | "operating_system" | "os_platform" => {
                    self.checker.string(entry).is_some()
                }
                "online" => self.checker.boolean(entry).is_some(),
                "logging_level" => self.checker.integer(entry, 0, 99).is_some(),
                key if ENDPOINT_LISTS.contains(&key) => {
                    self.names(entry, "a list of strings").is_some()
                }
                _ => true,
            };
        }
        ok
    }

    /// A list of strings (`fail`, an endpoint's `custom_tags`).
    fn names(&mut self, entry: &Entry, expected: &str) -> Option<Vec<String>> {
        let items = match &entry.value.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => return Some(Vec::new()),
            _ => {
                self.checker.wrong_type(&entry.key, expected, &entry.value);
                return None;
            }
        };
        let mut names = Vec::new();
        for item in items {
            match &item.kind {
                NodeKind::Str(text) => names.push(text.clone()),
                _ => {
                    self.checker
                        .wrong_type(&format!("{} item", entry.key), "a string", item);
                }
            }
        }
        (names.len() == items.len()).then_some(names)
    }

    fn approval(&mut self, entry: &Entry) -> Option<ApprovalChoice> {
        let (span, length) = (entry.value.span, entry.value.length);
        if !matches!(entry.value.kind, NodeKind::Map(_)) {
            let written = match &entry.value.kind {
                NodeKind::Str(text) => format!("`{text}`"),
                _ => entry.value.type_name().to_owned(),
            };
            self.checker
                .error(
                    codes::INVALID_APPROVAL,
                    span,
                    length,
                    format!("`approval` is {written}; it must be `{{ after: DURATION }}` or `{{ deny: true }}`"),
                )
                .help = Some(APPROVAL_HELP.into());
            return None;
        }
        let owner = Owner::key("`approval`", entry);
        let fields = self
            .checker
            .fields(&entry.value, owner, &APPROVAL_KEYS, &[])?;
        if !only_known_keys(&fields, &APPROVAL_KEYS) {
            return None;
        }
        match (fields.get("after"), fields.get("deny")) {
            (Some(after), None) => self.checker.duration(after).map(ApprovalChoice::After),
            (None, Some(deny)) => match self.checker.boolean(deny)? {
                true => Some(ApprovalChoice::Deny),
                false => {
                    self.checker
                        .error(
                            codes::INVALID_APPROVAL,
                            deny.value.span,
                            deny.value.length,
                            "`deny: false` grants nothing",
                        )
                        .help = Some(APPROVAL_HELP.into());
                    None
                }
            },
            (after, deny) => {
                let message = if after.is_some() && deny.is_some() {
                    "`approval` has both `after` and `deny`"
                } else {
                    "`approval` has neither `after` nor `deny`"
                };
                self.checker
                    .error(codes::INVALID_APPROVAL, span, length, message)
                    .help = Some(APPROVAL_HELP.into());
                None
            }
        }
    }

    fn faults(&mut self, entry: &Entry) -> Option<SimFaults> {
        if matches!(entry.value.kind, NodeKind::Null) {
            return Some(SimFaults::default());
        }
        let owner = Owner::key("`faults`", entry);
        let fields = self
            .checker
            .fields(&entry.value, owner, &FAULT_KEYS, &FAULT_ALIASES)?;
        let mut ok = only_known_keys(&fields, &FAULT_KEYS);
        let mut shares = [None; 3];
        for (slot, key) in shares.iter_mut().zip(&FAULT_KEYS[..3]) {
            *slot = self
                .checker
                .optional(&fields, key, &mut ok, |checker, entry| {
                    share(checker, entry)
                });
        }
        let [status_503_share, status_429_share, drop_share] = shares;
        let latency = self
            .checker
            .optional(&fields, "latency", &mut ok, |checker, entry| {
                checker.duration(entry)
            });
        ok.then_some(SimFaults {
            status_503_share,
            status_429_share,
            drop_share,
            latency,
        })
    }
}

/// A share: a number from 0 to 1.
fn share(checker: &mut crate::check::Checker<'_>, entry: &Entry) -> Option<f64> {
    let value = checker.number(entry)?;
    if (0.0..=1.0).contains(&value) {
        return Some(value);
    }
    checker
        .error(
            codes::OUT_OF_RANGE,
            entry.value.span,
            entry.value.length,
            format!("`{}` is {value}; it must be from 0 to 1", entry.key),
        )
        .help = Some("a share is a probability: `0.1` is one request in ten".into());
    None
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::checks::read_file;
    use super::*;

    /// The world of a one-case file whose `sim` is `sim`, or the codes of its problems.
    fn world(sim: &str) -> Result<SimWorld, Vec<&'static str>> {
        let read = read_file(&format!(
            "version: 1\nplaybook: p.yaml\ncases:\n  - name: a\n    sim: {sim}\n"
        ));
        if read.problems.is_empty() {
            Ok(read.cases[0].sim.clone())
        } else {
            Err(read.problems.iter().map(|problem| problem.code).collect())
        }
    }

    #[test]
    fn approval_is_after_a_delay_or_denied() {
        let after = world("{ approval: { after: 90s } }").expect("valid");
        assert_eq!(
            after.approval,
            ApprovalChoice::After(Duration::from_secs(90))
        );
        let denied = world("{ approval: { deny: true } }").expect("valid");
        assert_eq!(denied.approval, ApprovalChoice::Deny);
        for bad in [
            "none",
            "{}",
            "{ deny: false }",
            "{ after: 1m, deny: true }",
            "[1m]",
        ] {
            assert_eq!(
                world(&format!("{{ approval: {bad} }}")),
                Err(vec![codes::INVALID_APPROVAL]),
                "{bad}"
            );
        }
        assert_eq!(
            world("{ approval: { after: 1m, when: x } }"),
            Err(vec![codes::UNKNOWN_KEY])
        );
        assert_eq!(
            world("{ approval: { after: 1 } }"),
            Err(vec![codes::INVALID_DURATION])
        );
    }

    #[test]
    fn the_fleet_is_default_or_listed_endpoints() {
        assert_eq!(
            world("{ fleet: default }").map(|w| w.fleet),
            Ok(FleetChoice::Default)
        );
        let listed = world("{ fleet: [ { computer_name: a, logging_level: 3 } ] }").expect("valid");
        let FleetChoice::Endpoints(endpoints) = listed.fleet else {
            panic!("endpoints expected");
        };
        assert_eq!(endpoints[0]["logging_level"], 3);
        assert_eq!(world("{ fleet: [] }"), Err(vec![codes::EMPTY_LIST]));
        assert_eq!(world("{ fleet: every }"), Err(vec![codes::INVALID_CHOICE]));
        assert_eq!(
            world("{ fleet: [ { computer_name: a, files: [1] } ] }"),
            Err(vec![codes::WRONG_TYPE])
        );
    }

    #[test]
    fn shares_are_from_zero_to_one_and_the_scale_above_zero() {
        let knobs = world(
            "{ failure_share: 1, time_scale: 0.5, fail: [a, b], faults: { drop_share: 0, latency: 1s } }",
        )
        .expect("valid");
        assert_eq!(knobs.failure_share, Some(1.0));
        assert_eq!(knobs.time_scale, Some(0.5));
        assert_eq!(knobs.fail, ["a", "b"]);
        assert_eq!(knobs.faults.drop_share, Some(0.0));
        assert_eq!(knobs.faults.latency, Some(Duration::from_secs(1)));
        for bad in [
            "{ failure_share: -0.01 }",
            "{ time_scale: -2 }",
            "{ faults: { status_429_share: 1.01 } }",
        ] {
            assert_eq!(world(bad), Err(vec![codes::OUT_OF_RANGE]), "{bad}");
        }
    }
}
