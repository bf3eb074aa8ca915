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

use std::fmt;

use regex::{Regex, RegexBuilder};

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
    /// The sensors of the get clause, in order (empty for `Get from all machines`? no:
    /// Tanium needs at least one; a question posted as JSON may have none).
    pub selects: Vec<String>,
    /// The from-clause filter; [`Filter::All`] without `with`.
    pub filter: Filter,
}

/// Parses filter text such as `Computer Name equals "web-01.corp.example"`. Empty or
/// blank text is [`Filter::All`] (an empty group means all machines).
pub fn parse(text: &str) -> Result<Filter, ParseError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(Filter::All);
    }
    let mut parser = Parser {
        tokens: &tokens,
        position: 0,
        depth: 0,
        text_len: text.chars().count(),
    };
    let filter = parser.parse_or()?;
    if let Some(token) = parser.peek() {
        return Err(ParseError {
            message: format!(
                "unexpected {} after a complete filter",
                token.kind.describe()
            ),
            offset: token.offset,
        });
    }
    Ok(filter)
}

/// Parses a whole question: `Get Computer Name from all machines with OS Platform equals
/// Windows`. The get clause lists sensors separated by `and`.
pub fn parse_question(text: &str) -> Result<Question, ParseError> {
    let tokens = tokenize(text)?;
    let mut index = 0;
    match tokens.first() {
        Some(token) if token.is_word("get") => index += 1,
        _ => {
            return Err(ParseError {
                message: "a question starts with \"Get\"".to_owned(),
                offset: 0,
            });
        }
    }
    let from_index = (index..tokens.len())
        .find(|&i| {
            tokens[i].is_word("from")
                && tokens.get(i + 1).is_some_and(|t| t.is_word("all"))
                && tokens
                    .get(i + 2)
                    .is_some_and(|t| t.is_word("machines") || t.is_word("machine"))
        })
        .ok_or_else(|| ParseError {
            message: "expected \"from all machines\" after the sensors".to_owned(),
            offset: text.chars().count(),
        })?;
    let mut selects = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for token in &tokens[index..from_index] {
        match &token.kind {
            TokenKind::Word(word) if word.eq_ignore_ascii_case("and") => {
                if current.is_empty() {
                    return Err(ParseError {
                        message: "expected a sensor name before \"and\"".to_owned(),
                        offset: token.offset,
                    });
                }
                selects.push(current.join(" "));
                current.clear();
            }
            TokenKind::Word(word) | TokenKind::Quoted(word) => current.push(word.clone()),
            // Sensor parameters and column filters in the get clause do not change which
            // machines answer, so the simulator reads past them.
            _ => {}
        }
    }
    if !current.is_empty() {
        selects.push(current.join(" "));
    }
    let rest = &tokens[from_index + 3..];
    let filter = match rest.first() {
        None => Filter::All,
        Some(token) if token.is_word("with") => {
            let filter_tokens = &rest[1..];
            if filter_tokens.is_empty() {
                return Err(ParseError {
                    message: "expected a filter after \"with\"".to_owned(),
                    offset: text.chars().count(),
                });
            }
            let mut parser = Parser {
                tokens: filter_tokens,
                position: 0,
                depth: 0,
                text_len: text.chars().count(),
            };
            let filter = parser.parse_or()?;
            if let Some(token) = parser.peek() {
                return Err(ParseError {
                    message: format!(
                        "unexpected {} after a complete filter",
                        token.kind.describe()
                    ),
                    offset: token.offset,
                });
            }
            filter
        }
        Some(token) => {
            return Err(ParseError {
                message: format!(
                    "expected \"with\" after \"from all machines\", found {}",
                    token.kind.describe()
                ),
                offset: token.offset,
            });
        }
    };
    Ok(Question { selects, filter })
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

    /// Compiles the regexes once so that the filter can be run over a large fleet.
    pub fn compile(&self) -> Result<CompiledFilter, ParseError> {
        Ok(match self {
            Filter::All => CompiledFilter::All,
            Filter::Group(name) => {
                return Err(ParseError {
                    message: format!("unknown computer group '{name}'"),
                    offset: 0,
                });
            }
            Filter::And(items) => CompiledFilter::And(
                items
                    .iter()
                    .map(Filter::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Or(items) => CompiledFilter::Or(
                items
                    .iter()
                    .map(Filter::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Filter::Not(inner) => CompiledFilter::Not(Box::new(inner.compile()?)),
            Filter::Clause(clause) => {
                let regex = if clause.operator == Operator::RegexMatch {
                    // Boost's regex_match semantics: the pattern must cover the whole value.
                    Some(
                        RegexBuilder::new(&format!("^(?:{})$", clause.value))
                            .case_insensitive(true)
                            .size_limit(1 << 20)
                            .build()
                            .map_err(|error| ParseError {
                                message: format!(
                                    "invalid regular expression '{}': {error}",
                                    clause.value
                                ),
                                offset: 0,
                            })?,
                    )
                } else {
                    None
                };
                CompiledFilter::Clause {
                    clause: clause.clone(),
                    regex,
                }
            }
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

/// A filter ready to run against endpoints.
#[derive(Debug, Clone)]
pub enum CompiledFilter {
    /// Every machine.
    All,
    /// All of these.
    And(Vec<CompiledFilter>),
    /// Any of these.
    Or(Vec<CompiledFilter>),
    /// The opposite.
    Not(Box<CompiledFilter>),
    /// One sensor test, its regex built.
    Clause {
        /// The clause.
        clause: Clause,
        /// The compiled regex for `RegexMatch`.
        regex: Option<Regex>,
    },
}

/// What a filter needs from an endpoint: the answers a sensor gives on it (several for
/// multi-valued sensors such as `Custom Tags`; none when the sensor has no answer there).
pub trait SensorSource {
    /// The sensor's answers on this machine, or `None` when the sensor does not exist.
    fn sensor_values(&self, sensor: &str, params: &[String]) -> Option<Vec<String>>;
}

impl CompiledFilter {
    /// Whether the endpoint passes. A clause passes when any of the sensor's answers
    /// passes; an unknown sensor passes nowhere.
    pub fn matches(&self, endpoint: &dyn SensorSource) -> bool {
        match self {
            CompiledFilter::All => true,
            CompiledFilter::And(items) => items.iter().all(|item| item.matches(endpoint)),
            CompiledFilter::Or(items) => items.iter().any(|item| item.matches(endpoint)),
            CompiledFilter::Not(inner) => !inner.matches(endpoint),
            CompiledFilter::Clause { clause, regex } => {
                let Some(values) = endpoint.sensor_values(&clause.sensor, &clause.params) else {
                    return false;
                };
                values
                    .iter()
                    .any(|value| clause_matches(clause, regex.as_ref(), value))
            }
        }
    }
}

fn clause_matches(clause: &Clause, regex: Option<&Regex>, value: &str) -> bool {
    match clause.operator {
        Operator::Equal => value.to_lowercase() == clause.value.to_lowercase(),
        Operator::RegexMatch => regex.is_some_and(|regex| regex.is_match(value)),
        Operator::Less => compare(value, &clause.value).is_lt(),
        Operator::LessEqual => compare(value, &clause.value).is_le(),
        Operator::Greater => compare(value, &clause.value).is_gt(),
        Operator::GreaterEqual => compare(value, &clause.value).is_ge(),
    }
}

/// Numbers compare as numbers, anything else as case-folded text.
fn compare(left: &str, right: &str) -> std::cmp::Ordering {
    match (left.trim().parse::<f64>(), right.trim().parse::<f64>()) {
        (Ok(left), Ok(right)) => left.total_cmp(&right),
        _ => left.to_lowercase().cmp(&right.to_lowercase()),
    }
}

// ---------------------------------------------------------------------------------------
// Tokens

#[derive(Debug, Clone, PartialEq)]
enum TokenKind {
    Word(String),
    Quoted(String),
    Params(Vec<String>),
    Open,
    Close,
}

impl TokenKind {
    fn describe(&self) -> String {
        match self {
            TokenKind::Word(word) => format!("'{word}'"),
            TokenKind::Quoted(value) => format!("quoted value {}", quote(value)),
            TokenKind::Params(_) => "sensor parameters '[...]'".to_owned(),
            TokenKind::Open => "'('".to_owned(),
            TokenKind::Close => "')'".to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: TokenKind,
    offset: usize,
}

impl Token {
    fn is_word(&self, expected: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(expected))
    }
}

/// Symbols that are operators on their own even without spaces around them.
const SYMBOLS: [&str; 6] = ["!=", "<=", ">=", "=", "<", ">"];

fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        let start = index;
        match c {
            '(' => {
                tokens.push(Token {
                    kind: TokenKind::Open,
                    offset: start,
                });
                index += 1;
            }
            ')' => {
                tokens.push(Token {
                    kind: TokenKind::Close,
                    offset: start,
                });
                index += 1;
            }
            '"' => {
                let (value, next) = read_quoted(&chars, index)?;
                tokens.push(Token {
                    kind: TokenKind::Quoted(value),
                    offset: start,
                });
                index = next;
            }
            '[' => {
                let (params, next) = read_params(&chars, index)?;
                tokens.push(Token {
                    kind: TokenKind::Params(params),
                    offset: start,
                });
                index = next;
            }
            ']' => {
                return Err(ParseError {
                    message: "']' without a matching '['".to_owned(),
                    offset: start,
                });
            }
            _ => {
                if let Some(symbol) = SYMBOLS
                    .iter()
                    .find(|symbol| starts_with_at(&chars, index, symbol))
                {
                    tokens.push(Token {
                        kind: TokenKind::Word((*symbol).to_owned()),
                        offset: start,
                    });
                    index += symbol.len();
                    continue;
                }
                let mut word = String::new();
                while index < chars.len() {
                    let c = chars[index];
                    if c.is_whitespace()
                        || matches!(c, '(' | ')' | '"' | '[' | ']')
                        || SYMBOLS
                            .iter()
                            .any(|symbol| starts_with_at(&chars, index, symbol))
                    {
                        break;
                    }
                    word.push(c);
                    index += 1;
                }
                tokens.push(Token {
                    kind: TokenKind::Word(word),
                    offset: start,
                });
            }
        }
    }
    Ok(tokens)
}

fn starts_with_at(chars: &[char], index: usize, symbol: &str) -> bool {
    symbol
        .chars()
        .enumerate()
        .all(|(offset, expected)| chars.get(index + offset) == Some(&expected))
}

/// Reads `"..."` starting at the opening quote, `""` standing for one quote.
fn read_quoted(chars: &[char], open: usize) -> Result<(String, usize), ParseError> {
    let mut value = String::new();
    let mut index = open + 1;
    loop {
        match chars.get(index) {
            None => {
                return Err(ParseError {
                    message: "unterminated quoted value (a quote inside a value is written \
                              as two quotes: \"\")"
                        .to_owned(),
                    offset: open,
                });
            }
            Some('"') if chars.get(index + 1) == Some(&'"') => {
                value.push('"');
                index += 2;
            }
            Some('"') => return Ok((value, index + 1)),
            Some(&c) => {
                value.push(c);
                index += 1;
            }
        }
    }
}

/// Reads `[a, "b,c", ""]` starting at the `[`.
fn read_params(chars: &[char], open: usize) -> Result<(Vec<String>, usize), ParseError> {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut index = open + 1;
    loop {
        match chars.get(index) {
            None => {
                return Err(ParseError {
                    message: "unterminated sensor parameters: '[' without ']'".to_owned(),
                    offset: open,
                });
            }
            Some(']') => {
                params.push(current.trim().to_owned());
                return Ok((params, index + 1));
            }
            Some(',') => {
                params.push(current.trim().to_owned());
                current.clear();
                index += 1;
            }
            Some('"') => {
                let (value, next) = read_quoted(chars, index)?;
                current.push_str(&value);
                index = next;
            }
            Some(&c) => {
                current.push(c);
                index += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Parser

/// Text operators, longest first so that `does not contain` wins over `contains`.
/// Each maps to (wire operator, negated, how the value becomes the wire value).
#[derive(Clone, Copy)]
enum ValueShape {
    Raw,
    Contains,
    StartsWith,
    EndsWith,
}

const OPERATORS: &[(&[&str], Operator, bool, ValueShape)] = &[
    (
        &["does", "not", "contain"],
        Operator::RegexMatch,
        true,
        ValueShape::Contains,
    ),
    (
        &["does", "not", "contains"],
        Operator::RegexMatch,
        true,
        ValueShape::Contains,
    ),
    (
        &["does", "not", "match"],
        Operator::RegexMatch,
        true,
        ValueShape::Raw,
    ),
    (
        &["does", "not", "equal"],
        Operator::Equal,
        true,
        ValueShape::Raw,
    ),
    (
        &["does", "match"],
        Operator::RegexMatch,
        false,
        ValueShape::Raw,
    ),
    (&["not", "equals"], Operator::Equal, true, ValueShape::Raw),
    (&["not", "equal"], Operator::Equal, true, ValueShape::Raw),
    (
        &["not", "contains"],
        Operator::RegexMatch,
        true,
        ValueShape::Contains,
    ),
    (
        &["not", "matches"],
        Operator::RegexMatch,
        true,
        ValueShape::Raw,
    ),
    (&["is", "not"], Operator::RegexMatch, true, ValueShape::Raw),
    (
        &["starts", "with"],
        Operator::RegexMatch,
        false,
        ValueShape::StartsWith,
    ),
    (
        &["starting", "with"],
        Operator::RegexMatch,
        false,
        ValueShape::StartsWith,
    ),
    (
        &["ends", "with"],
        Operator::RegexMatch,
        false,
        ValueShape::EndsWith,
    ),
    (
        &["ending", "with"],
        Operator::RegexMatch,
        false,
        ValueShape::EndsWith,
    ),
    (&["less", "than"], Operator::Less, false, ValueShape::Raw),
    (
        &["greater", "than"],
        Operator::Greater,
        false,
        ValueShape::Raw,
    ),
    (&["!="], Operator::Equal, true, ValueShape::Raw),
    (&["<="], Operator::LessEqual, false, ValueShape::Raw),
    (&[">="], Operator::GreaterEqual, false, ValueShape::Raw),
    (&["="], Operator::Equal, false, ValueShape::Raw),
    (&["<"], Operator::Less, false, ValueShape::Raw),
    (&[">"], Operator::Greater, false, ValueShape::Raw),
    (&["equals"], Operator::Equal, false, ValueShape::Raw),
    (&["equal"], Operator::Equal, false, ValueShape::Raw),
    (
        &["contains"],
        Operator::RegexMatch,
        false,
        ValueShape::Contains,
    ),
    (
        &["containing"],
        Operator::RegexMatch,
        false,
        ValueShape::Contains,
    ),
    (
        &["contain"],
        Operator::RegexMatch,
        false,
        ValueShape::Contains,
    ),
    (&["matches"], Operator::RegexMatch, false, ValueShape::Raw),
    (&["matching"], Operator::RegexMatch, false, ValueShape::Raw),
    (&["regex"], Operator::RegexMatch, false, ValueShape::Raw),
    (&["is"], Operator::RegexMatch, false, ValueShape::Raw),
    (&["less"], Operator::Less, false, ValueShape::Raw),
    (&["greater"], Operator::Greater, false, ValueShape::Raw),
];

/// Deepest nesting of `not` and parentheses accepted.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
    text_len: usize,
    /// Nesting of `not` and parentheses, bounded so hostile text cannot exhaust the stack.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn end_offset(&self) -> usize {
        self.text_len
    }

    fn parse_or(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.parse_and()?];
        while self.peek().is_some_and(|token| token.is_word("or")) {
            self.position += 1;
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Filter, ParseError> {
        let mut items = vec![self.parse_unary()?];
        while self.peek().is_some_and(|token| token.is_word("and")) {
            self.position += 1;
            items.push(self.parse_unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Filter::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Filter, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(ParseError {
                message: format!("filter nested deeper than {MAX_DEPTH} levels"),
                offset: self.peek().map_or(self.end_offset(), |token| token.offset),
            });
        }
        self.depth += 1;
        let result = self.parse_unary_inner();
        self.depth -= 1;
        result
    }

    fn parse_unary_inner(&mut self) -> Result<Filter, ParseError> {
        let Some(token) = self.peek() else {
            return Err(ParseError {
                message: "expected a filter, found the end of the text".to_owned(),
                offset: self.end_offset(),
            });
        };
        if token.is_word("not") {
            self.position += 1;
            return Ok(Filter::Not(Box::new(self.parse_unary()?)));
        }
        match &token.kind {
            TokenKind::Open => {
                let open_offset = token.offset;
                self.position += 1;
                let inner = self.parse_or()?;
                match self.peek() {
                    Some(Token {
                        kind: TokenKind::Close,
                        ..
                    }) => {
                        self.position += 1;
                        Ok(inner)
                    }
                    Some(other) => Err(ParseError {
                        message: format!(
                            "expected ')' to close the '(' at character {open_offset}, found {}",
                            other.kind.describe()
                        ),
                        offset: other.offset,
                    }),
                    None => Err(ParseError {
                        message: format!("'(' at character {open_offset} is never closed"),
                        offset: self.end_offset(),
                    }),
                }
            }
            TokenKind::Close => Err(ParseError {
                message: "unexpected ')' where a filter should start".to_owned(),
                offset: token.offset,
            }),
            TokenKind::Params(_) => Err(ParseError {
                message: "sensor parameters '[...]' must follow a sensor name".to_owned(),
                offset: token.offset,
            }),
            TokenKind::Word(word)
                if word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or") =>
            {
                Err(ParseError {
                    message: format!("expected a filter before '{word}'"),
                    offset: token.offset,
                })
            }
            _ => self.parse_clause(),
        }
    }

    /// Reads sensor words up to an operator, then the value.
    fn parse_clause(&mut self) -> Result<Filter, ParseError> {
        let start_offset = self.peek().map_or(0, |token| token.offset);
        let mut sensor_words: Vec<String> = Vec::new();
        let mut params: Vec<String> = Vec::new();
        loop {
            // A word operator at the very start is part of the sensor name (Tanium's own
            // example sensor is "Is Windows"); a symbol there has no sensor before it.
            let operator = self.operator_here().filter(|_| {
                !sensor_words.is_empty()
                    || self.peek().is_some_and(|token| {
                        matches!(&token.kind, TokenKind::Word(word) if SYMBOLS.contains(&word.as_str()))
                    })
            });
            if let Some((operator, negated, shape, length)) = operator {
                if sensor_words.is_empty() {
                    return Err(ParseError {
                        message: "expected a sensor name before the operator".to_owned(),
                        offset: start_offset,
                    });
                }
                let operator_offset = self.tokens[self.position].offset;
                self.position += length;
                let value = self.parse_value(operator_offset)?;
                let value = match shape {
                    ValueShape::Raw => value,
                    ValueShape::Contains => format!(".*{value}.*"),
                    ValueShape::StartsWith => format!("{value}.*"),
                    ValueShape::EndsWith => format!(".*{value}"),
                };
                let clause = Filter::Clause(Clause {
                    sensor: sensor_words.join(" "),
                    params,
                    operator,
                    value,
                });
                return Ok(if negated {
                    Filter::Not(Box::new(clause))
                } else {
                    clause
                });
            }
            match self.peek() {
                None
                | Some(Token {
                    kind: TokenKind::Close,
                    ..
                }) => break,
                Some(token) if token.is_word("and") || token.is_word("or") => break,
                Some(token) => {
                    match &token.kind {
                        TokenKind::Word(word) | TokenKind::Quoted(word) => {
                            if !params.is_empty() {
                                return Err(ParseError {
                                    message: format!(
                                        "expected an operator after sensor parameters, found {}",
                                        token.kind.describe()
                                    ),
                                    offset: token.offset,
                                });
                            }
                            sensor_words.push(word.clone());
                        }
                        TokenKind::Params(values) => {
                            if sensor_words.is_empty() || !params.is_empty() {
                                return Err(ParseError {
                                    message: "sensor parameters '[...]' must follow a sensor name"
                                        .to_owned(),
                                    offset: token.offset,
                                });
                            }
                            params = values.clone();
                        }
                        TokenKind::Open | TokenKind::Close => {
                            return Err(ParseError {
                                message: format!(
                                    "unexpected {} inside a filter (missing 'and'/'or'?)",
                                    token.kind.describe()
                                ),
                                offset: token.offset,
                            });
                        }
                    }
                    self.position += 1;
                }
            }
        }
        if !params.is_empty() {
            return Err(ParseError {
                message: format!(
                    "expected an operator after sensor '{}[...]'",
                    sensor_words.join(" ")
                ),
                offset: self.peek().map_or(self.end_offset(), |token| token.offset),
            });
        }
        // No operator: a computer-group name (Tanium expands it to the group's filter).
        Ok(Filter::Group(sensor_words.join(" ")))
    }

    fn operator_here(&self) -> Option<(Operator, bool, ValueShape, usize)> {
        OPERATORS
            .iter()
            .find_map(|(words, operator, negated, shape)| {
                let all_match = words.iter().enumerate().all(|(offset, expected)| {
                    self.tokens
                        .get(self.position + offset)
                        .is_some_and(|token| token.is_word(expected))
                });
                all_match.then_some((*operator, *negated, *shape, words.len()))
            })
    }

    /// A quoted value is one token; an unquoted one runs up to `and`/`or`/`)`/end.
    fn parse_value(&mut self, operator_offset: usize) -> Result<String, ParseError> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Quoted(value),
                ..
            }) => {
                let value = value.clone();
                self.position += 1;
                if let Some(token) = self.peek()
                    && !(token.is_word("and")
                        || token.is_word("or")
                        || token.kind == TokenKind::Close)
                {
                    return Err(ParseError {
                        message: format!(
                            "unexpected {} after the quoted value (expected 'and', 'or', ')' or \
                             the end)",
                            token.kind.describe()
                        ),
                        offset: token.offset,
                    });
                }
                Ok(value)
            }
            _ => {
                let mut words: Vec<String> = Vec::new();
                while let Some(token) = self.peek() {
                    if token.is_word("and") || token.is_word("or") {
                        break;
                    }
                    match &token.kind {
                        TokenKind::Word(word) => words.push(word.clone()),
                        TokenKind::Close => break,
                        other => {
                            return Err(ParseError {
                                message: format!(
                                    "unexpected {} in an unquoted value (quote values that \
                                     contain quotes, brackets or parentheses)",
                                    other.describe()
                                ),
                                offset: token.offset,
                            });
                        }
                    }
                    self.position += 1;
                }
                if words.is_empty() {
                    return Err(ParseError {
                        message: "expected a value after the operator".to_owned(),
                        offset: self.peek().map_or(operator_offset, |token| token.offset),
                    });
                }
                Ok(words.join(" "))
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
        assert_eq!(question.selects, vec!["Computer Name", "IP Address"]);
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
        assert_eq!(question.selects, vec!["Process Details"]);
        assert_eq!(
            question.filter,
            clause("Computer Name", Operator::RegexMatch, ".*localhost.*")
        );
        let question = parse_question("Get Trace Executed Processes[1 month,1522723342293|1522726941293,0,0,10,0,rar.exe,\"\",-hp,\"\",\"\",\"\"] from all machines").unwrap();
        assert_eq!(question.selects, vec!["Trace Executed Processes"]);
        let question = parse_question("Get Folder Contents[c:\\] from all machines").unwrap();
        assert_eq!(question.selects, vec!["Folder Contents"]);
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
