//! Showing a run's events: human lines (with progress bars on a terminal) or JSON lines.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use runbook_engine::{Event, EventSink, RunStatus};

use crate::progress::{Gauge, WaitDisplay, wait_display};

const OK: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const WARN: Style = AnsiColor::Yellow.on_default().bold();
const DIM: Style = Style::new().dimmed();

/// How events are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventFormat {
    Human { verbose: bool },
    Json,
}

/// Renders events and remembers the actions issued, for the Ctrl-C report.
#[derive(Debug)]
pub struct Renderer {
    format: EventFormat,
    terminal: bool,
    state: Mutex<RenderState>,
}

/// Redraws of a progress bar per second, at most: a long wait does not busy the terminal.
const REDRAWS_PER_SECOND: u8 = 4;

#[derive(Debug, Default)]
struct RenderState {
    bar: Option<ProgressBar>,
    /// Whether the bar in `bar` is drawn as a spinner (no measurable progress).
    spinner: bool,
    issued_actions: Vec<u64>,
    last_progress_line: Option<String>,
    /// The run's id, for the `runbook approve` line of a gate.
    run_id: Option<String>,
}

impl Renderer {
    pub fn new(format: EventFormat) -> Self {
        Renderer {
            format,
            terminal: draws_bars(
                std::io::stderr().is_terminal(),
                std::env::var_os("NO_COLOR").as_deref(),
                std::env::var_os("TERM").as_deref(),
            ),
            state: Mutex::new(RenderState::default()),
        }
    }

    /// The actions issued so far (they keep running in Tanium if the run is interrupted).
    pub fn issued_actions(&self) -> Vec<u64> {
        self.lock().issued_actions.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RenderState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Clears any progress bar (before the process prints something else, or exits).
    pub fn finish(&self) {
        if let Some(bar) = self.lock().bar.take() {
            bar.finish_and_clear();
        }
    }

    fn line(&self, state: &mut RenderState, text: String) {
        match &state.bar {
            Some(bar) => bar.suspend(|| anstream::eprintln!("{text}")),
            None => anstream::eprintln!("{text}"),
        }
    }

    /// Shows a wait's progress: a bar or a spinner on a terminal, a plain line elsewhere.
    fn bar(&self, state: &mut RenderState, display: WaitDisplay) {
        let text = display.text();
        let WaitDisplay { gauge, message, .. } = display;
        if !self.terminal {
            // Plain lines when not on a terminal, and only when something other than the
            // clock changed.
            if state.last_progress_line.as_deref() != Some(message.as_str()) {
                anstream::eprintln!("  {text}");
                state.last_progress_line = Some(message);
            }
            return;
        }
        let spinner = gauge == Gauge::Spinner;
        if state.spinner != spinner
            && let Some(bar) = state.bar.take()
        {
            bar.finish_and_clear();
        }
        state.spinner = spinner;
        let bar = state.bar.get_or_insert_with(|| {
            let target = ProgressDrawTarget::stderr_with_hz(REDRAWS_PER_SECOND);
            let bar = ProgressBar::with_draw_target(Some(1), target);
            let template = if spinner {
                "  {spinner} {wide_msg}"
            } else {
                "  {spinner} [{bar:30}] {wide_msg}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        if let Gauge::Bar { position, length } = gauge {
            bar.set_length(length.max(1));
            bar.set_position(position.min(length));
        }
        bar.set_message(text);
    }

    fn human(&self, event: &Event, verbose: bool) {
        let mut state = self.lock();
        match event {
            Event::StepStarted { .. }
            | Event::StepSkipped { .. }
            | Event::StepFinished { .. }
            | Event::StepFailed { .. }
            | Event::StepRestored { .. }
            | Event::StepRetrying { .. } => self.step_event(&mut state, event, verbose),
            Event::ApprovalWaiting { .. }
            | Event::PollProgress { .. }
            | Event::QuestionProgress { .. } => self.wait_event(&mut state, event),
            Event::LoopItem {
                step_id,
                index,
                status,
                error,
                ..
            } => {
                if status != "succeeded" {
                    let why = error
                        .as_deref()
                        .map(|error| format!(": {error}"))
                        .unwrap_or_default();
                    let style = if status == "failed" { BAD } else { DIM };
                    self.line(
                        &mut state,
                        format!("{style}   item {index} of {step_id} {status}{why}{style:#}"),
                    );
                }
                self.wait_event(&mut state, event);
            }
            Event::RunStarted {
                run_id, playbook, ..
            } => {
                state.run_id = Some(run_id.clone());
                self.line(
                    &mut state,
                    format!("{DIM}run {run_id} of playbook {playbook}{DIM:#}"),
                );
            }
            Event::RequestSent {
                method,
                path,
                status,
                elapsed_ms,
                ..
            } => {
                if verbose {
                    let status = status
                        .map(|code| code.to_string())
                        .unwrap_or_else(|| "-".to_owned());
                    self.line(
                        &mut state,
                        format!(
                            "{DIM}  {method} {path} → {status} ({}){DIM:#}",
                            millis(*elapsed_ms)
                        ),
                    );
                }
            }
            Event::ActionIssued {
                action_id,
                name,
                adopted,
                ..
            } => {
                state.issued_actions.push(*action_id);
                let verb = if *adopted {
                    "found (already issued by this run)"
                } else {
                    "issued"
                };
                self.line(&mut state, format!("   action {action_id} {verb}: {name}"));
            }
            Event::WaveStarted {
                wave,
                waves,
                targeted,
                adopted,
                ..
            } => {
                let verb = if *adopted { "resumed" } else { "started" };
                self.line(
                    &mut state,
                    format!(
                        "   wave {wave} of {waves} {verb}: {targeted} endpoint{}",
                        if *targeted == 1 { "" } else { "s" }
                    ),
                );
            }
            Event::WaveFinished {
                wave,
                waves,
                action_id,
                targeted,
                completed,
                failed,
                finished,
                aborted,
                ..
            } => {
                let outcome = if *aborted {
                    format!("{WARN}aborted{WARN:#}")
                } else {
                    "done".to_owned()
                };
                self.line(
                    &mut state,
                    format!(
                        "   wave {wave} of {waves} {outcome}: {finished} of {targeted} finished ({completed} completed, {failed} failed; action {action_id})"
                    ),
                );
            }
            Event::Warning { step_id, message } => {
                let place = step_id
                    .as_deref()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default();
                self.line(
                    &mut state,
                    format!("{WARN}warning{WARN:#}{place}: {message}"),
                );
            }
            Event::GateOpened {
                step_id,
                summary,
                approvers,
                required,
                expires_at,
                plan_digest,
            } => {
                let run = state.run_id.clone().unwrap_or_else(|| "<run>".to_owned());
                let who = if approvers.is_empty() {
                    "any approver".to_owned()
                } else {
                    approvers.join(", ")
                };
                let plan = plan_digest
                    .as_deref()
                    .map(|digest| format!("; plan {digest}"))
                    .unwrap_or_default();
                self.line(
                    &mut state,
                    format!(
                        "{WARN}waiting for approval{WARN:#} ({step_id}): {summary}\n   \
                         needs {required} approval{} by {who} until {expires_at}{plan}; decide with \
                         `runbook approve {run} {step_id}` [--deny --comment TEXT]",
                        if *required == 1 { "" } else { "s" }
                    ),
                );
            }
            Event::GateDecided {
                decided_by,
                decision,
                comment,
                ..
            } => {
                let comment = comment
                    .as_deref()
                    .map(|comment| format!(": {comment}"))
                    .unwrap_or_default();
                let verb = if decision == "deny" {
                    "denied"
                } else {
                    "approved"
                };
                self.line(&mut state, format!("   {verb} by {decided_by}{comment}"));
            }
            // A log step's message is its finished line; JSON consumers get both events.
            Event::Log { .. } => {}
            Event::RunFinished {
                run_id,
                status,
                error,
                issued_actions,
                elapsed_ms,
                ..
            } => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                let (style, word) = match status {
                    RunStatus::Succeeded => (OK, "succeeded"),
                    RunStatus::Failed => (BAD, "FAILED"),
                    RunStatus::Cancelled => (WARN, "cancelled"),
                    RunStatus::Interrupted => (WARN, "interrupted (resume it to continue)"),
                };
                let mut text = format!(
                    "{style}run {word}{style:#} in {} {DIM}(run {run_id}){DIM:#}",
                    millis(*elapsed_ms)
                );
                if let Some(error) = error {
                    text.push_str(&format!("\n{BAD}error{BAD:#}: {error}"));
                }
                if *status != RunStatus::Succeeded && !issued_actions.is_empty() {
                    let ids: Vec<String> = issued_actions.iter().map(u64::to_string).collect();
                    text.push_str(&format!(
                        "\nnote: action(s) {} were issued and keep running in Tanium",
                        ids.join(", ")
                    ));
                }
                self.line(&mut state, text);
            }
        }
    }

    /// A step started, ended, was skipped, restored or retried.
    fn step_event(&self, state: &mut RenderState, event: &Event, verbose: bool) {
        match event {
            Event::StepStarted { step_id, kind, .. } if verbose => {
                self.line(state, format!("{DIM}… {step_id} ({kind}){DIM:#}"));
            }
            Event::StepSkipped {
                step_id,
                kind,
                reason,
            } => {
                self.line(
                    state,
                    format!("{DIM}- {step_id:<16} {kind:<14} skipped: {reason}{DIM:#}"),
                );
            }
            Event::StepFinished {
                step_id,
                kind,
                summary,
                elapsed_ms,
                ..
            } => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                state.last_progress_line = None;
                self.line(
                    state,
                    format!(
                        "{OK}ok{OK:#} {step_id:<16} {kind:<14} {summary} {DIM}({}){DIM:#}",
                        millis(*elapsed_ms)
                    ),
                );
            }
            Event::StepFailed {
                step_id,
                kind,
                error,
                continued,
                ..
            } => {
                if let Some(bar) = state.bar.take() {
                    bar.finish_and_clear();
                }
                state.last_progress_line = None;
                let tail = if *continued {
                    " (continue_on_error: the run goes on)"
                } else {
                    ""
                };
                self.line(
                    state,
                    format!("{BAD}FAILED{BAD:#} {step_id:<12} {kind:<14} {error}{tail}"),
                );
            }
            Event::StepRestored {
                step_id,
                kind,
                status,
            } => {
                self.line(
                    state,
                    format!("{DIM}= {step_id:<16} {kind:<14} {status} before the resume; outputs kept{DIM:#}"),
                );
            }
            Event::StepRetrying {
                step_id,
                attempt,
                error,
            } => {
                self.line(
                    state,
                    format!("{WARN}retry{WARN:#} {step_id}: attempt {attempt} after: {error}"),
                );
            }
            _ => {}
        }
    }

    /// A wait in progress: its bar or spinner (see `progress.rs` for what they measure).
    fn wait_event(&self, state: &mut RenderState, event: &Event) {
        if let Some(display) = wait_display(event) {
            self.bar(state, display);
        }
    }
}

/// Whether progress bars are drawn: on a terminal only, and neither under `NO_COLOR` (set and
/// not empty, as anstream reads it) nor on a `TERM=dumb` terminal, which cannot redraw a line.
/// Elsewhere a wait shows plain lines, one when its text changes.
fn draws_bars(
    stderr_is_terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    stderr_is_terminal
        && no_color.is_none_or(|value| value.is_empty())
        && term.is_none_or(|term| term != "dumb")
}

impl EventSink for Renderer {
    fn emit(&self, event: &Event) {
        match self.format {
            EventFormat::Json => {
                if let Event::ActionIssued { action_id, .. } = event {
                    self.lock().issued_actions.push(*action_id);
                }
                if let Ok(line) = serde_json::to_string(event) {
                    let mut stdout = std::io::stdout().lock();
                    // A closed stdout (a pipe to `head`) must not stop the run.
                    let _ = writeln!(stdout, "{line}");
                    let _ = stdout.flush();
                }
            }
            EventFormat::Human { verbose } => self.human(event, verbose),
        }
    }
}

fn millis(elapsed_ms: u64) -> String {
    if elapsed_ms < 1_000 {
        format!("{elapsed_ms}ms")
    } else {
        format!("{:.1}s", elapsed_ms as f64 / 1_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn bars_only_on_a_terminal_that_can_draw_them() {
        let xterm = Some(OsStr::new("xterm-256color"));
        assert!(draws_bars(true, None, xterm));
        assert!(draws_bars(true, None, None));
        assert!(draws_bars(true, Some(OsStr::new("")), xterm));
        assert!(!draws_bars(false, None, xterm));
        assert!(!draws_bars(true, Some(OsStr::new("1")), xterm));
        assert!(!draws_bars(true, None, Some(OsStr::new("dumb"))));
    }
}
