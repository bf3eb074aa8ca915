//! The parser: tokens to a [`Filter`] by recursive descent (`or` of `and`s of unary terms),
//! the text operators mapped to their wire form, and whole questions split into their get and
//! from clauses.

use super::lexer::{SYMBOLS, Token, TokenKind, tokenize};
use super::{Clause, Filter, Operator, ParseError, Question, SelectText};

/// Parses filter text such as `Computer Name equals "web-01.corp.example"`. Empty or
/// blank text is [`Filter::All`] (an empty group means all machines).
pub fn parse(text: &str) -> Result<Filter, ParseError> {
    let tokens = tokenize(text)?;
    if tokens.is_empty() {
        return Ok(Filter::All);
    }
    whole_filter(&tokens, text.chars().count())
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
    let selects = read_selects(&tokens[index..from_index])?;
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
            whole_filter(filter_tokens, text.chars().count())?
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

/// The sensors of a get clause, separated by `and`, each with the parameters in brackets
/// after its name. Column filters in the get clause (`Get Running Processes contains x`) are
/// not understood: their words become part of the sensor name, which then names no sensor.
fn read_selects(tokens: &[Token]) -> Result<Vec<SelectText>, ParseError> {
    let mut selects = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut params: Vec<String> = Vec::new();
    for token in tokens {
        match &token.kind {
            TokenKind::Word(word) if word.eq_ignore_ascii_case("and") => {
                if current.is_empty() {
                    return Err(ParseError {
                        message: "expected a sensor name before \"and\"".to_owned(),
                        offset: token.offset,
                    });
                }
                selects.push(SelectText {
                    sensor: current.join(" "),
                    params: std::mem::take(&mut params),
                });
                current.clear();
            }
            TokenKind::Word(word) | TokenKind::Quoted(word) => current.push(word.clone()),
            TokenKind::Params(values) => params = values.clone(),
            TokenKind::Open | TokenKind::Close => {}
        }
    }
    if !current.is_empty() {
        selects.push(SelectText {
            sensor: current.join(" "),
            params,
        });
    }
    Ok(selects)
}

/// Parses tokens that must hold one filter and nothing after it; `text_len` is the offset
/// errors at the end of the text name.
fn whole_filter(tokens: &[Token], text_len: usize) -> Result<Filter, ParseError> {
    let mut parser = Parser {
        tokens,
        position: 0,
        depth: 0,
        text_len,
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
        self.parse_joined("or", Self::parse_and, Filter::Or)
    }

    fn parse_and(&mut self) -> Result<Filter, ParseError> {
        self.parse_joined("and", Self::parse_unary, Filter::And)
    }

    /// `operand (joiner operand)*`: a single operand as it is, several `combine`d.
    fn parse_joined(
        &mut self,
        joiner: &str,
        operand: fn(&mut Self) -> Result<Filter, ParseError>,
        combine: fn(Vec<Filter>) -> Filter,
    ) -> Result<Filter, ParseError> {
        let mut items = vec![operand(self)?];
        while self.peek().is_some_and(|token| token.is_word(joiner)) {
            self.position += 1;
            items.push(operand(self)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            combine(items)
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
