//! One diagnostic model, rendered as human text, JSON or GitHub annotations.

use std::fmt::Write as _;

use serde::Serialize;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look; the playbook still runs.
    Warning,
    /// The playbook cannot run.
    Error,
}

impl Severity {
    /// `"error"` or `"warning"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem found in a playbook, located at the offending key or value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// Stable code (`RB001`...); see [`codes`](crate::codes).
    pub code: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, in one sentence.
    pub message: String,
    /// File name as given to [`load`](crate::load).
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column (characters).
    pub column: u32,
    /// Width of the offending token in characters (at least 1), for the caret.
    pub length: u32,
    /// The whole source line, without its line break.
    pub source_line: String,
    /// How to fix it, where a hint helps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    /// True for error-severity diagnostics.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Counts errors and warnings.
pub fn count(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

const RED_BOLD: &str = "\u{1b}[1;31m";
const YELLOW_BOLD: &str = "\u{1b}[1;33m";
const BLUE_BOLD: &str = "\u{1b}[1;34m";
const BOLD: &str = "\u{1b}[1m";
const CYAN_BOLD: &str = "\u{1b}[1;36m";
const RESET: &str = "\u{1b}[0m";

/// Renders diagnostics the way a compiler does: a header, `--> file:line:column`, the source
/// line with a caret under the offending token, and a `help:` line. Colour codes are written
/// only when `color` is true; severity is always spelled out, so colour never carries meaning
/// alone.
pub fn render_human(diagnostics: &[Diagnostic], color: bool) -> String {
    let paint = |style: &'static str| if color { style } else { "" };
    let reset = paint(RESET);
    let mut out = String::new();
    for diagnostic in diagnostics {
        let severity_style = match diagnostic.severity {
            Severity::Error => paint(RED_BOLD),
            Severity::Warning => paint(YELLOW_BOLD),
        };
        let gutter_width = diagnostic.line.to_string().len();
        let pad = " ".repeat(gutter_width);
        let blue = paint(BLUE_BOLD);
        let _ = writeln!(
            out,
            "{severity_style}{}[{}]{reset}{}: {}{reset}",
            diagnostic.severity.as_str(),
            diagnostic.code,
            paint(BOLD),
            diagnostic.message
        );
        let _ = writeln!(
            out,
            "{pad}{blue}-->{reset} {}:{}:{}",
            diagnostic.file, diagnostic.line, diagnostic.column
        );
        if diagnostic.line > 0 {
            let source_line = diagnostic.source_line.replace('\t', " ");
            let _ = writeln!(out, "{pad} {blue}|{reset}");
            let _ = writeln!(
                out,
                "{blue}{}{reset} {blue}|{reset} {source_line}",
                diagnostic.line
            );
            let indent = " ".repeat(diagnostic.column.saturating_sub(1) as usize);
            let carets = "^".repeat(diagnostic.length.max(1) as usize);
            let _ = writeln!(
                out,
                "{pad} {blue}|{reset} {indent}{severity_style}{carets}{reset}"
            );
        }
        if let Some(help) = &diagnostic.help {
            let _ = writeln!(
                out,
                "{pad} {blue}={reset} {}help{reset}: {help}",
                paint(CYAN_BOLD)
            );
        }
        out.push('\n');
    }
    out
}

/// Renders a JSON array of diagnostic objects (`file`, `line`, `column`, `length`, `severity`,
/// `code`, `message`, `source_line` and, when there is one, `help`), pretty-printed.
pub fn render_json(diagnostics: &[Diagnostic]) -> String {
    let mut text = serde_json::to_string_pretty(diagnostics).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}

/// Renders GitHub Actions workflow commands, one per line:
/// `::error file=F,line=L,col=C,title=RB005::message`.
pub fn render_github(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        let mut message = diagnostic.message.clone();
        if let Some(help) = &diagnostic.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let _ = writeln!(
            out,
            "::{} file={},line={},col={},title={}::{}",
            diagnostic.severity.as_str(),
            escape_github_property(&diagnostic.file),
            diagnostic.line,
            diagnostic.column,
            diagnostic.code,
            escape_github_data(&message)
        );
    }
    out
}

// GitHub's runner decodes these escapes; an unescaped newline would end the command early.
fn escape_github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_github_property(text: &str) -> String {
    escape_github_data(text)
        .replace(':', "%3A")
        .replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostic {
        Diagnostic {
            code: "RB005",
            severity: Severity::Error,
            message: "unknown key `tmeout` in a step".into(),
            file: "a,b.yaml".into(),
            line: 12,
            column: 5,
            length: 6,
            source_line: "    tmeout: 5m".into(),
            help: Some("did you mean `timeout`?".into()),
        }
    }

    #[test]
    fn human_rendering_points_a_caret_at_the_token() {
        let text = render_human(&[sample()], false);
        assert!(text.contains("error[RB005]: unknown key"), "{text}");
        assert!(text.contains("  --> a,b.yaml:12:5"), "{text}");
        assert!(
            text.contains("12 |     tmeout: 5m\n   |     ^^^^^^\n"),
            "{text}"
        );
        assert!(text.contains("= help: did you mean `timeout`?"), "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(render_human(&[sample()], true).contains('\u{1b}'));
    }

    #[test]
    fn github_rendering_escapes_separators() {
        let text = render_github(&[sample()]);
        assert_eq!(
            text,
            "::error file=a%2Cb.yaml,line=12,col=5,title=RB005::unknown key `tmeout` in a step%0Ahelp: did you mean `timeout`?\n"
        );
    }
}
