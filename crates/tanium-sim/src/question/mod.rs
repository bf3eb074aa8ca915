//! The targeting-text parser: the filter half of a Tanium question
//! (`Computer Name contains "web" and not OS Platform equals Windows`) and whole questions
//! (`Get Computer Name from all machines with ...`).
//!
//! The grammar follows Tanium's "Advanced question syntax" reference and pytan's
//! `FILTER_MAPS`:
//!
//! ```text
//! filter  := or
//! or      := and ("or" and)*
//! and     := unary ("and" unary)*            -- "and" binds tighter than "or"
//! unary   := "not" unary | "(" filter ")" | clause | group-name
//! clause  := sensor ["[" params "]"] operator value
//! value   := "quoted, with "" for a quote" | unquoted words up to and/or/")"/end
//! ```
//!
//! `contains`, `starts with` and `ends with` become `RegexMatch` with `.*V.*`, `V.*` and
//! `.*V`, exactly as Tanium rewrites them: the value is *not* escaped, so `contains "."`
//! is the regex `.*..*` and matches any non-empty name. That is the real server's trap
//! and the simulator keeps it, so a client that forgets to escape shows up as wrongly
//! targeted machines. Negated operators (`not equals`, `does not contain`, ...) become
//! [`Filter::Not`] around the positive clause, so `A not equals B` and `not A equals B`
//! compare equal.
//!
//! This file holds the types ([`Filter`], [`Clause`], [`Operator`], [`Question`],
//! [`ParseError`]), [`quote`], group expansion and the filter written back as text. `lexer`
//! splits text into tokens, `parser` reads them ([`parse`], [`parse_question`]) and `eval`
//! compiles a filter and runs it against endpoints ([`CompiledFilter`], [`SensorSource`]).

mod eval;
mod lexer;
mod parser;

use std::fmt;

pub use eval::{CompiledFilter, SensorSource};
pub use parser::{parse, parse_question};

#[cfg(test)]
fn names(question: &Question) -> Vec<&str> {
    question
        .selects
        .iter()
        .map(|select| select.sensor.as_str())
        .collect()
}

/// A parsed filter expression. Compare two of them with `==` to check that texts mean
/// the same thing; evaluate one with [`Filter::compile`] then [`CompiledFilter::matches`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every machine (the empty text, or the `All Computers` group).
    All,
    /// All of these.
    And(Vec<Filter>),
    /// Any of these.
    Or(Vec<Filter>),
    /// The opposite of this.
    Not(Box<Filter>),
    /// One sensor test.
    Clause(Clause),
    /// A bare name with no operator: a computer group, expanded by whoever knows the
    /// groups (Tanium expands a group name in a `from` clause to the group's own filter).
    Group(String),
}

/// One sensor test: `Computer Name contains web` is
/// `Clause { sensor: "Computer Name", operator: RegexMatch, value: ".*web.*" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The sensor name as written (matched case-insensitively).
    pub sensor: String,
    /// Sensor parameters written as `Sensor[a,b]`.
    pub params: Vec<String>,
    /// The wire operator.
    pub operator: Operator,
    /// The wire value: for `contains` and friends the regex Tanium builds.
    pub value: String,
}

/// Filter operators as they travel on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// Case-insensitive equality.
    Equal,
    /// Case-insensitive regex that must match the whole value.
    RegexMatch,
    /// Numeric when both sides are numbers, else text.
    Less,
    /// Numeric when both sides are numbers, else text.
    LessEqual,
    /// Numeric when both sides are numbers, else text.
    Greater,
    /// Numeric when both sides are numbers, else text.
    GreaterEqual,
}

impl Operator {
    /// The operator's wire name (`"RegexMatch"`).
    pub fn wire_name(self) -> &'static str {
        match self {
            Operator::Equal => "Equal",
            Operator::RegexMatch => "RegexMatch",
            Operator::Less => "Less",
            Operator::LessEqual => "LessEqual",
            Operator::Greater => "Greater",
            Operator::GreaterEqual => "GreaterEqual",
        }
    }

    /// Reads a wire name back, case-insensitively.
    pub fn from_wire_name(name: &str) -> Option<Operator> {
        [
            Operator::Equal,
            Operator::RegexMatch,
            Operator::Less,
            Operator::LessEqual,
            Operator::Greater,
            Operator::GreaterEqual,
        ]
        .into_iter()
        .find(|operator| operator.wire_name().eq_ignore_ascii_case(name))
    }
}

/// Why a text did not parse, with the character offset where the parser gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at character {offset})")]
pub struct ParseError {
    /// What was wrong, in words an analyst can act on.
    pub message: String,
    /// Character offset into the text.
    pub offset: usize,
}

/// A whole question: `Get A and B from all machines with <filter>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The sensors of the get clause, in order (Tanium needs at least one in text; a
    /// question posted as JSON may have none).
    pub selects: Vec<SelectText>,
    /// The from-clause filter; [`Filter::All`] without `with`.
    pub filter: Filter,
}

/// One sensor of a get clause: `File Exists["C:\x.exe"]` is
/// `SelectText { sensor: "File Exists", params: ["C:\x.exe"] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectText {
    /// The sensor name as written.
    pub sensor: String,
    /// Its parameters, positional.
    pub params: Vec<String>,
}

impl SelectText {
    /// A select without parameters.
    pub fn plain(sensor: &str) -> SelectText {
        SelectText {
            sensor: sensor.to_owned(),
            params: Vec::new(),
        }
    }
}

/// Quotes a literal for question text the way Tanium's docs ask: wrapped in double quotes,
/// inner quotes doubled.
pub fn quote(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

impl Filter {
    /// Every sensor this filter reads, with the offset-free clause it came from.
    pub fn clauses(&self) -> Vec<&Clause> {
        let mut found = Vec::new();
        self.collect_clauses(&mut found);
        found
    }

    fn collect_clauses<'a>(&'a self, found: &mut Vec<&'a Clause>) {
        match self {
            Filter::All | Filter::Group(_) => {}
            Filter::And(items) | Filter::Or(items) => {
                for item in items {
                    item.collect_clauses(found);
                }
            }
            Filter::Not(inner) => inner.collect_clauses(found),
            Filter::Clause(clause) => found.push(clause),
        }
    }

    /// Replaces every [`Filter::Group`] with what `resolve` returns for it; a name that
    /// resolves to nothing is an error naming it.
    pub fn expand_groups(self, resolve: &dyn Fn(&str) -> Option<Filter>) -> Result<Filter, String> {
        Ok(match self {
            Filter::Group(name) => resolve(&name).ok_or_else(|| {
                format!(
                    "'{name}' is neither a filter (sensor, operator, value) nor the name of a \
                     computer group"
                )
            })?,
            Filter::And(items) => Filter::And(
                items
                    .into_iter()
                    .map(|item| item.expand_groups(resolve))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Or(items) => Filter::Or(
                items
                    .into_iter()
                    .map(|item| item.expand_groups(resolve))
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Not(inner) => Filter::Not(Box::new(inner.expand_groups(resolve)?)),
            other => other,
        })
    }
}

impl fmt::Display for Filter {
    /// Writes the filter back as question text, with every value quoted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::All => f.write_str("All Computers"),
            Filter::Group(name) => f.write_str(name),
            Filter::And(items) | Filter::Or(items) => {
                let joiner = if matches!(self, Filter::And(_)) {
                    " and "
                } else {
                    " or "
                };
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        f.write_str(joiner)?;
                    }
                    write!(f, "({item})")?;
                }
                Ok(())
            }
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::Clause(clause) => {
                f.write_str(&clause.sensor)?;
                if !clause.params.is_empty() {
                    let params: Vec<String> = clause.params.iter().map(|p| quote(p)).collect();
                    write!(f, "[{}]", params.join(","))?;
                }
                let operator = match clause.operator {
                    Operator::Equal => "equals",
                    Operator::RegexMatch => "matches",
                    Operator::Less => "<",
                    Operator::LessEqual => "<=",
                    Operator::Greater => ">",
                    Operator::GreaterEqual => ">=",
                };
                write!(f, " {operator} {}", quote(&clause.value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clause(sensor: &str, operator: Operator, value: &str) -> Filter {
        Filter::Clause(Clause {
            sensor: sensor.to_owned(),
            params: Vec::new(),
            operator,
            value: value.to_owned(),
        })
    }

    fn not(filter: Filter) -> Filter {
        Filter::Not(Box::new(filter))
    }

    struct Machine(&'static str);
    impl SensorSource for Machine {
        fn sensor_values(&self, sensor: &str, _params: &[String]) -> Option<Vec<String>> {
            sensor
                .eq_ignore_ascii_case("Computer Name")
                .then(|| vec![self.0.to_owned()])
        }
    }

    fn passes(text: &str, name: &'static str) -> bool {
        parse(text)
            .unwrap()
            .compile()
            .unwrap()
            .matches(&Machine(name))
    }

    #[test]
    fn operators_become_their_wire_form() {
        let table: &[(&str, Filter)] = &[
            (
                "Computer Name equals web",
                clause("Computer Name", Operator::Equal, "web"),
            ),
            (
                "Computer Name = web",
                clause("Computer Name", Operator::Equal, "web"),
            ),
            (
                "Computer Name=web",
                clause("Computer Name", Operator::Equal, "web"),
            ),
            (
                "Computer Name not equals web",
                not(clause("Computer Name", Operator::Equal, "web")),
            ),
            (
                "Computer Name != web",
                not(clause("Computer Name", Operator::Equal, "web")),
            ),
            (
                "Computer Name contains \"equals\"",
                clause("Computer Name", Operator::RegexMatch, ".*equals.*"),
            ),
            (
                "Computer Name does not contain web",
                not(clause("Computer Name", Operator::RegexMatch, ".*web.*")),
            ),
            (
                "Computer Name starts with web",
                clause("Computer Name", Operator::RegexMatch, "web.*"),
            ),
            (
                "Computer Name ends with web",
                clause("Computer Name", Operator::RegexMatch, ".*web"),
            ),
            (
                "Computer Name matches \"^w.*\"",
                clause("Computer Name", Operator::RegexMatch, "^w.*"),
            ),
            (
                "Computer Name does not match \".*\"",
                not(clause("Computer Name", Operator::RegexMatch, ".*")),
            ),
            (
                "Computer Name is not x",
                not(clause("Computer Name", Operator::RegexMatch, "x")),
            ),
            ("Uptime < 5", clause("Uptime", Operator::Less, "5")),
            ("Uptime <= 5", clause("Uptime", Operator::LessEqual, "5")),
            ("Uptime > 5", clause("Uptime", Operator::Greater, "5")),
            ("Uptime >= 5", clause("Uptime", Operator::GreaterEqual, "5")),
            (
                "Computer Name contains \".\"",
                clause("Computer Name", Operator::RegexMatch, ".*..*"),
            ),
        ];
        for (text, expected) in table {
            assert_eq!(&parse(text).unwrap(), expected, "text: {text}");
        }
    }

    #[test]
    fn quotes_are_doubled_inside_values_and_keep_spaces() {
        assert_eq!(
            parse("Computer Name contains \"\"\"test\"\"\"").unwrap(),
            clause("Computer Name", Operator::RegexMatch, ".*\"test\".*")
        );
        assert_eq!(
            parse("Computer Name contains \" DBserver \"").unwrap(),
            clause("Computer Name", Operator::RegexMatch, ".* DBserver .*")
        );
        assert_eq!(
            parse("Computer Name equals \"\"").unwrap(),
            clause("Computer Name", Operator::Equal, "")
        );
        // A quoted value may hold reserved words and operators.
        assert_eq!(
            parse("Computer Name equals \"a and b or not c\"").unwrap(),
            clause("Computer Name", Operator::Equal, "a and b or not c")
        );
    }

    #[test]
    fn the_seed_example_parses_with_unquoted_multi_word_values() {
        let text = "Computer Name equals DESKTOP-IV7QEMU and IP Address equals \"fe80::fd89:64e2:73b:3074\" and IP Address equals 10.100.26.1 and Operating System equals Windows 10 Enterprise ";
        assert_eq!(
            parse(text).unwrap(),
            Filter::And(vec![
                clause("Computer Name", Operator::Equal, "DESKTOP-IV7QEMU"),
                clause("IP Address", Operator::Equal, "fe80::fd89:64e2:73b:3074"),
                clause("IP Address", Operator::Equal, "10.100.26.1"),
                clause("Operating System", Operator::Equal, "Windows 10 Enterprise"),
            ])
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let a = clause("A", Operator::Equal, "1");
        let b = clause("B", Operator::Equal, "2");
        let c = clause("C", Operator::Equal, "3");
        assert_eq!(
            parse("A equals 1 or B equals 2 and C equals 3").unwrap(),
            Filter::Or(vec![a.clone(), Filter::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            parse("(A equals 1 or B equals 2) and C equals 3").unwrap(),
            Filter::And(vec![Filter::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            parse("not (A equals 1 or B equals 2)").unwrap(),
            not(Filter::Or(vec![a.clone(), b.clone()]))
        );
        assert_eq!(parse("NOT A Equals 1").unwrap(), not(a));
    }

    #[test]
    fn sensor_parameters_and_group_names() {
        assert_eq!(
            parse("Custom Tag Exists[TestTag,1] matches true").unwrap(),
            Filter::Clause(Clause {
                sensor: "Custom Tag Exists".to_owned(),
                params: vec!["TestTag".to_owned(), "1".to_owned()],
                operator: Operator::RegexMatch,
                value: "true".to_owned(),
            })
        );
        assert_eq!(
            parse("( All Computers and All Computers and Computer Name equals x )").unwrap(),
            Filter::And(vec![
                Filter::Group("All Computers".to_owned()),
                Filter::Group("All Computers".to_owned()),
                clause("Computer Name", Operator::Equal, "x"),
            ])
        );
        assert_eq!(parse("   ").unwrap(), Filter::All);
        assert_eq!(
            parse("Is Windows contains true").unwrap(),
            clause("Is Windows", Operator::RegexMatch, ".*true.*")
        );
    }

    #[test]
    fn malformed_text_is_an_error_with_a_reason() {
        let table: &[(&str, &str)] = &[
            ("Computer Name equals \"web", "unterminated quoted value"),
            (
                "Computer Name equals",
                "expected a value after the operator",
            ),
            ("(Computer Name equals x", "never closed"),
            ("Computer Name equals x)", "unexpected ')'"),
            ("= x", "expected a sensor name"),
            ("Computer Name equals \"x\" y", "after the quoted value"),
            (
                "and Computer Name equals x",
                "expected a filter before 'and'",
            ),
            ("Computer Name equals x and", "found the end of the text"),
            ("Custom Tag Exists[a", "unterminated sensor parameters"),
        ];
        for (text, expected) in table {
            let error = parse(text).unwrap_err();
            assert!(
                error.message.contains(expected),
                "text {text:?} gave {error}"
            );
        }
        let deep = format!(
            "{}Computer Name equals x{}",
            "(".repeat(10_000),
            ")".repeat(10_000)
        );
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
        let nots = format!("{}Computer Name equals x", "not ".repeat(10_000));
        assert!(parse(&nots).unwrap_err().message.contains("nested deeper"));
        let error = parse("Computer Name matches \"(\"")
            .unwrap()
            .compile()
            .unwrap_err();
        assert!(
            error.message.contains("invalid regular expression"),
            "{error}"
        );
    }

    #[test]
    fn evaluation_is_case_insensitive_and_whole_value() {
        assert!(passes("Computer Name equals win-dc01", "WIN-DC01"));
        assert!(!passes("Computer Name equals WIN-DC0", "WIN-DC01"));
        assert!(passes("Computer Name starts with win", "WIN-DC01"));
        assert!(!passes("Computer Name starts with dc", "WIN-DC01"));
        assert!(passes("Computer Name ends with dc01", "WIN-DC01"));
        // Unescaped, as on a real server: "." is any character.
        assert!(passes("Computer Name contains \".\"", "WIN-DC01"));
        assert!(!passes("Computer Name contains \"\\.\"", "WIN-DC01"));
        assert!(passes(
            "Computer Name contains \"\\.\"",
            "web-01.corp.example"
        ));
        assert!(!passes("Operating System equals x", "WIN-DC01"));
        assert!(passes("not Operating System equals x", "WIN-DC01"));
    }

    #[test]
    fn a_hostile_value_quoted_properly_stays_one_value() {
        let hostile = "x\" or Computer Name contains \"";
        let text = format!("Computer Name equals {}", quote(hostile));
        assert_eq!(
            parse(&text).unwrap(),
            clause("Computer Name", Operator::Equal, hostile)
        );
        assert!(!passes(&text, "WIN-DC01"));
        // Pasted without escaping, it widens the filter to every machine.
        let naive = format!("Computer Name equals \"{hostile}\"");
        assert!(passes(&naive, "WIN-DC01"));
    }

    #[test]
    fn questions_split_selects_and_filter() {
        let question = parse_question(
            "Get Computer Name and IP Address from all machines with OS Platform equals Windows",
        )
        .unwrap();
        assert_eq!(names(&question), vec!["Computer Name", "IP Address"]);
        assert_eq!(
            question.filter,
            clause("OS Platform", Operator::Equal, "Windows")
        );
        let question = parse_question("get Computer Name from all machines").unwrap();
        assert_eq!(question.filter, Filter::All);
        // Real question texts from public clients (Splunk's README, the XSOAR test).
        let question = parse_question(
            "Get Process Details[\"\",\"\"] from all machines with Computer Name contains localhost",
        )
        .unwrap();
        assert_eq!(names(&question), vec!["Process Details"]);
        assert_eq!(question.selects[0].params, vec!["", ""]);
        assert_eq!(
            question.filter,
            clause("Computer Name", Operator::RegexMatch, ".*localhost.*")
        );
        let question = parse_question("Get Trace Executed Processes[1 month,1522723342293|1522726941293,0,0,10,0,rar.exe,\"\",-hp,\"\",\"\",\"\"] from all machines").unwrap();
        assert_eq!(names(&question), vec!["Trace Executed Processes"]);
        let question = parse_question("Get Folder Contents[c:\\] from all machines").unwrap();
        assert_eq!(names(&question), vec!["Folder Contents"]);
        assert_eq!(question.selects[0].params, vec!["c:\\"]);
        let question = parse_question(
            "Get Computer Name and File Exists[\"C:\\Program Files\\x.exe\"] from all machines",
        )
        .unwrap();
        assert_eq!(
            question.selects,
            vec![
                SelectText::plain("Computer Name"),
                SelectText {
                    sensor: "File Exists".to_owned(),
                    params: vec!["C:\\Program Files\\x.exe".to_owned()],
                },
            ]
        );
        assert_eq!(
            parse("operating system contains linux").unwrap(),
            clause("operating system", Operator::RegexMatch, ".*linux.*")
        );
        assert!(parse_question("Computer Name from all machines").is_err());
        assert!(parse_question("Get Computer Name").is_err());
        assert!(parse_question("Get Computer Name from all machines where x").is_err());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "Computer Name contains \"a\"\"b\" and not (OS Platform equals Linux or IP Address starts with 10)",
            "Custom Tag Exists[\"a,b\",1] matches true",
        ] {
            let filter = parse(text).unwrap();
            assert_eq!(parse(&filter.to_string()).unwrap(), filter, "{filter}");
        }
    }
}

#[cfg(test)]
mod quoting_properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a hostname holds, quoting it the documented way yields one clause whose
        /// value is exactly that hostname: no operator or clause can be smuggled in.
        #[test]
        fn a_quoted_value_is_one_literal(value in any::<String>()) {
            let text = format!("Computer Name equals {}", quote(&value));
            prop_assert_eq!(
                parse(&text).unwrap(),
                Filter::Clause(Clause {
                    sensor: "Computer Name".to_owned(),
                    params: Vec::new(),
                    operator: Operator::Equal,
                    value,
                })
            );
        }

        /// Parsing never panics, whatever the text.
        #[test]
        fn parsing_never_panics(text in "[ -~]{0,80}") {
            let _ = parse(&text);
            let _ = parse_question(&text);
        }
    }
}
