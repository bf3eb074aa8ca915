//! Stable diagnostic codes. A code never changes meaning; retired codes are not reused.

/// The YAML could not be read.
pub const YAML_SYNTAX: &str = "RB001";
/// The document is too large or too deeply nested.
pub const LIMIT: &str = "RB002";
/// A key appears twice in one mapping.
pub const DUPLICATE_KEY: &str = "RB003";
/// An unquoted `{{ ... }}`, which YAML reads as a mapping.
pub const UNQUOTED_TEMPLATE: &str = "RB004";
/// A key that the format does not know.
pub const UNKNOWN_KEY: &str = "RB005";
/// A required key is missing.
pub const MISSING_KEY: &str = "RB006";
/// A value of the wrong type.
pub const WRONG_TYPE: &str = "RB007";
/// `version` is not 1.
pub const UNSUPPORTED_VERSION: &str = "RB008";
/// A playbook, input, output or secret name that is not allowed.
pub const INVALID_NAME: &str = "RB009";
/// A step id that is not `[a-z_][a-z0-9_]*`.
pub const INVALID_STEP_ID: &str = "RB010";
/// Two steps share an id.
pub const DUPLICATE_STEP_ID: &str = "RB011";
/// A step has no kind key.
pub const MISSING_STEP_KIND: &str = "RB012";
/// A step has more than one kind key.
pub const MULTIPLE_STEP_KINDS: &str = "RB013";
/// A duration that cannot be read.
pub const INVALID_DURATION: &str = "RB014";
/// A number outside its allowed range.
pub const OUT_OF_RANGE: &str = "RB015";
/// A template that MiniJinja cannot parse.
pub const TEMPLATE_SYNTAX: &str = "RB016";
/// A template uses a name that is not in scope (unknown root or undeclared input).
pub const UNKNOWN_NAME: &str = "RB017";
/// A template refers to a step that does not exist.
pub const UNKNOWN_STEP: &str = "RB018";
/// A template refers to this step or a later one.
pub const FORWARD_REFERENCE: &str = "RB019";
/// A template uses an output that the referenced step's kind does not produce.
pub const UNKNOWN_OUTPUT: &str = "RB020";
/// A template reads a secret that is not listed under `secrets:`.
pub const UNLISTED_SECRET: &str = "RB021";
/// `target.text` holds a template.
pub const TEMPLATE_IN_RAW_TEXT: &str = "RB022";
/// An input's default does not satisfy its own declaration.
pub const INVALID_DEFAULT: &str = "RB023";
/// An input declaration that contradicts itself (bad regex, minimum above maximum, ...).
pub const INVALID_INPUT_DECLARATION: &str = "RB024";
/// A template uses a filter or test that does not exist.
pub const UNKNOWN_FILTER: &str = "RB025";
/// A list that must not be empty is empty.
pub const EMPTY_LIST: &str = "RB026";
/// A value that is not one of the allowed words (input type, clause operator).
pub const INVALID_CHOICE: &str = "RB027";
/// A target or parameterize step names zero or several alternatives.
pub const CONFLICTING_KEYS: &str = "RB028";
/// `retry` on a step that has side effects.
pub const RETRY_NOT_ALLOWED: &str = "RB029";
/// Issuing under the `Default` action group, which holds no machines.
pub const DEFAULT_ACTION_GROUP: &str = "RB030";
/// A regular expression (clause `matches`) that does not compile.
pub const INVALID_REGEX: &str = "RB031";
/// Warning: a later step uses outputs of a step that may be skipped.
pub const MAYBE_SKIPPED: &str = "RB032";
/// Warning: the same secret is listed twice, or a clause `when` is constant.
pub const REDUNDANT: &str = "RB033";
/// Two playbooks in one folder share a name.
pub const DUPLICATE_PLAYBOOK_NAME: &str = "RB034";
/// An `issue` step's `min_endpoints` is above the guard's `max_endpoints`: it can never issue.
pub const MIN_ABOVE_MAX_ENDPOINTS: &str = "RB035";
/// `values:` in a clause whose operator compares with one value (`matches`, `greater_than`,
/// `less_than`).
pub const VALUES_NOT_ALLOWED: &str = "RB036";
/// A `values:` list longer than the limit (500).
pub const TOO_MANY_VALUES: &str = "RB037";
/// A sensor parameter key of `question.get` that cannot be sent (empty, or holding `|`, `[`,
/// `]` or a template).
pub const INVALID_SENSOR_PARAMETER: &str = "RB038";
/// An `approve` step whose `approvers` cannot decide (a role that does not decide approvals)
/// or can never reach `required` (more approvals than the names listed).
pub const UNMEETABLE_APPROVAL: &str = "RB051";
/// An `issue` time (`not_before`, `not_after`) that is not an RFC 3339 time with an offset.
pub const INVALID_TIME: &str = "RB052";
/// A `for_each` (or an `issue` with `rollout`) inside another `for_each`.
pub const NESTED_LOOP: &str = "RB053";
/// A step inside a `for_each` read from outside the loop (or the loop read from inside).
pub const LOOP_SCOPE: &str = "RB054";
/// A rollout wave that is neither a positive count nor a share `"N%"` with 0 < N <= 100.
pub const INVALID_WAVE: &str = "RB055";
/// Rollout waves that are not cumulative (a wave smaller than the one before) or whose last
/// wave is not `"100%"` (some endpoints would never get the action).
pub const WAVES_NOT_CUMULATIVE: &str = "RB056";
/// An `http` step's `url` whose written start is not an absolute `http://` or `https://` URL
/// with a host.
pub const INVALID_URL: &str = "RB057";
/// An `http` step's header that HTTP does not allow (a bad name, a line break in its value),
/// that runbook sets itself (`Host`, `Content-Length`, ...) or that is written twice.
pub const INVALID_HEADER: &str = "RB058";
/// A size (`max_response`) that cannot be read.
pub const INVALID_SIZE: &str = "RB059";

// Schedules files (`runbook schedules validate`) use the codes above for YAML, keys, types,
// names and allowed words, and these for what only a schedule has.

/// Two schedules share a name.
pub const DUPLICATE_SCHEDULE_NAME: &str = "RB040";
/// A cron line that cannot be read or never fires.
pub const INVALID_CRON: &str = "RB041";
/// A time zone that is not an IANA name.
pub const UNKNOWN_TIME_ZONE: &str = "RB042";
/// A schedule's playbook cannot be read.
pub const PLAYBOOK_NOT_FOUND: &str = "RB043";
/// A schedule's playbook does not validate (its own diagnostics are reported too).
pub const PLAYBOOK_INVALID: &str = "RB044";
/// A schedule's inputs do not fit the playbook's declarations.
pub const SCHEDULE_INPUTS: &str = "RB045";

/// The codes only schedules files report, with a one-line summary, for `docs/schedules.md`
/// and tests.
pub const SCHEDULES: [(&str, &str); 6] = [
    (DUPLICATE_SCHEDULE_NAME, "two schedules share a name"),
    (INVALID_CRON, "invalid cron line, or one that never fires"),
    (UNKNOWN_TIME_ZONE, "unknown time zone"),
    (PLAYBOOK_NOT_FOUND, "playbook file cannot be read"),
    (PLAYBOOK_INVALID, "playbook does not validate"),
    (SCHEDULE_INPUTS, "inputs do not fit the playbook"),
];

// Triggers files (`runbook triggers validate`) use the codes above for YAML, keys, types,
// names, durations, ranges, templates and allowed words, and these for what only a trigger has.

/// Two triggers share a name or a path.
pub const DUPLICATE_TRIGGER: &str = "RB039";
/// A hook path that does not start with `/hooks/` or holds unsafe characters.
pub const INVALID_HOOK_PATH: &str = "RB046";
/// A trigger's `auth`: none or both of `hmac` and `bearer`, or a secret written in the file.
pub const TRIGGER_AUTH: &str = "RB047";
/// An environment variable name that is not `[A-Z_][A-Z0-9_]*`.
pub const INVALID_ENV_NAME: &str = "RB048";
/// A trigger names a playbook that is not in the playbooks folder.
pub const UNKNOWN_PLAYBOOK: &str = "RB049";
/// A trigger's inputs do not fit the playbook's declarations.
pub const TRIGGER_INPUTS: &str = "RB050";

/// The codes only triggers files report, with a one-line summary, for `docs/triggers.md` and
/// tests.
pub const TRIGGERS: [(&str, &str); 6] = [
    (DUPLICATE_TRIGGER, "two triggers share a name or a path"),
    (
        INVALID_HOOK_PATH,
        "path outside `/hooks/` or with unsafe characters",
    ),
    (
        TRIGGER_AUTH,
        "no or two kinds of auth, or a secret in the file",
    ),
    (INVALID_ENV_NAME, "invalid environment variable name"),
    (
        UNKNOWN_PLAYBOOK,
        "no playbook of that name in the playbooks folder",
    ),
    (TRIGGER_INPUTS, "inputs do not fit the playbook"),
];

// Test files (`*.test.yaml`, read by `runbook test`) use the codes above for YAML, keys, types,
// durations, ranges, empty lists and allowed words, and these for what only a test file has.

/// Two cases of one test file share a name.
pub const DUPLICATE_CASE: &str = "RB060";
/// A case with both `sim` and `replay`: a replayed run has no simulator.
pub const SIM_AND_REPLAY: &str = "RB061";
/// A case's `approval` that is neither `{ after: DURATION }` nor `{ deny: true }`.
pub const INVALID_APPROVAL: &str = "RB062";
/// An expectation names a step or an output that the playbook does not have.
pub const UNKNOWN_EXPECTATION: &str = "RB063";
/// A case's `inputs` or `secrets` do not fit the playbook's declarations.
pub const CASE_INPUTS: &str = "RB064";
/// A request expectation that no request can meet: a path not starting with `/`, or a `body`
/// on a `GET`.
pub const IMPOSSIBLE_REQUEST: &str = "RB065";

/// The codes only test files report, with a one-line summary, for `docs/testing.md` and tests.
pub const TESTS: [(&str, &str); 6] = [
    (DUPLICATE_CASE, "two cases share a name"),
    (SIM_AND_REPLAY, "a case with both `sim` and `replay`"),
    (
        INVALID_APPROVAL,
        "`approval` is neither `{ after: DURATION }` nor `{ deny: true }`",
    ),
    (
        UNKNOWN_EXPECTATION,
        "expected step or output that the playbook does not have",
    ),
    (CASE_INPUTS, "inputs or secrets do not fit the playbook"),
    (
        IMPOSSIBLE_REQUEST,
        "request expectation no request can meet (path without `/`, body on a GET)",
    ),
];

/// Every playbook code with a one-line summary, for `docs/playbooks.md` and tests.
pub const ALL: [(&str, &str); 47] = [
    (YAML_SYNTAX, "invalid YAML"),
    (LIMIT, "document too large or too deeply nested"),
    (DUPLICATE_KEY, "duplicate key"),
    (UNQUOTED_TEMPLATE, "unquoted `{{ ... }}` read as a mapping"),
    (UNKNOWN_KEY, "unknown key"),
    (MISSING_KEY, "missing required key"),
    (WRONG_TYPE, "wrong type"),
    (UNSUPPORTED_VERSION, "unsupported version"),
    (INVALID_NAME, "invalid name"),
    (INVALID_STEP_ID, "invalid step id"),
    (DUPLICATE_STEP_ID, "duplicate step id"),
    (MISSING_STEP_KIND, "step has no kind"),
    (MULTIPLE_STEP_KINDS, "step has several kinds"),
    (INVALID_DURATION, "invalid duration"),
    (OUT_OF_RANGE, "value out of range"),
    (TEMPLATE_SYNTAX, "template syntax error"),
    (UNKNOWN_NAME, "unknown name in a template"),
    (UNKNOWN_STEP, "unknown step in a template"),
    (FORWARD_REFERENCE, "reference to this or a later step"),
    (UNKNOWN_OUTPUT, "unknown step output"),
    (UNLISTED_SECRET, "secret not listed under `secrets:`"),
    (TEMPLATE_IN_RAW_TEXT, "template in `target.text`"),
    (INVALID_DEFAULT, "input default violates its declaration"),
    (INVALID_INPUT_DECLARATION, "contradictory input declaration"),
    (UNKNOWN_FILTER, "unknown filter or test"),
    (EMPTY_LIST, "empty list"),
    (INVALID_CHOICE, "value not among the allowed words"),
    (
        CONFLICTING_KEYS,
        "none or several of mutually exclusive keys",
    ),
    (RETRY_NOT_ALLOWED, "`retry` on a step with side effects"),
    (
        DEFAULT_ACTION_GROUP,
        "issue under the `Default` action group",
    ),
    (INVALID_REGEX, "invalid regular expression"),
    (
        MAYBE_SKIPPED,
        "uses outputs of a step that may be skipped (warning)",
    ),
    (REDUNDANT, "redundant declaration (warning)"),
    (
        DUPLICATE_PLAYBOOK_NAME,
        "two playbooks in one folder share a name",
    ),
    (
        MIN_ABOVE_MAX_ENDPOINTS,
        "`min_endpoints` above the guard's `max_endpoints`",
    ),
    (
        VALUES_NOT_ALLOWED,
        "`values:` with an operator that compares with one value",
    ),
    (TOO_MANY_VALUES, "more than 500 values in a clause"),
    (INVALID_SENSOR_PARAMETER, "invalid sensor parameter key"),
    (
        UNMEETABLE_APPROVAL,
        "`approve` approvers that cannot decide or never reach `required`",
    ),
    (
        INVALID_TIME,
        "`issue` time that is not RFC 3339 with an offset",
    ),
    (
        NESTED_LOOP,
        "a `for_each` (or a staged `rollout`) inside a `for_each`",
    ),
    (LOOP_SCOPE, "a loop's inner step read from outside the loop"),
    (
        INVALID_WAVE,
        "rollout wave that is not a positive count or a share `N%`",
    ),
    (
        WAVES_NOT_CUMULATIVE,
        "rollout waves that shrink or do not end at `100%`",
    ),
    (INVALID_URL, "`http` URL that is not absolute http(s)"),
    (INVALID_HEADER, "`http` header not allowed"),
    (INVALID_SIZE, "invalid size"),
];
