//! The lexer: question text as words, quoted values, sensor parameters and parentheses, each
//! with its character offset for error messages.

use super::{ParseError, quote};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum TokenKind {
    Word(String),
    Quoted(String),
    Params(Vec<String>),
    Open,
    Close,
}

impl TokenKind {
    pub(super) fn describe(&self) -> String {
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
pub(super) struct Token {
    pub(super) kind: TokenKind,
    pub(super) offset: usize,
}

impl Token {
    pub(super) fn is_word(&self, expected: &str) -> bool {
        matches!(&self.kind, TokenKind::Word(word) if word.eq_ignore_ascii_case(expected))
    }
}

/// Symbols that are operators on their own even without spaces around them.
pub(super) const SYMBOLS: [&str; 6] = ["!=", "<=", ">=", "=", "<", ">"];

pub(super) fn tokenize(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace() {
            index += 1;
            continue;
        }
        let (kind, next) = match c {
            '(' => (TokenKind::Open, index + 1),
            ')' => (TokenKind::Close, index + 1),
            '"' => {
                let (value, next) = read_quoted(&chars, index)?;
                (TokenKind::Quoted(value), next)
            }
            '[' => {
                let (params, next) = read_params(&chars, index)?;
                (TokenKind::Params(params), next)
            }
            ']' => {
                return Err(ParseError {
                    message: "']' without a matching '['".to_owned(),
                    offset: index,
                });
            }
            _ => read_word(&chars, index),
        };
        tokens.push(Token {
            kind,
            offset: index,
        });
        index = next;
    }
    Ok(tokens)
}

/// Reads a symbol operator, or a word up to whitespace, a bracket, a quote or a symbol.
fn read_word(chars: &[char], start: usize) -> (TokenKind, usize) {
    if let Some(symbol) = SYMBOLS
        .iter()
        .find(|symbol| starts_with_at(chars, start, symbol))
    {
        return (TokenKind::Word((*symbol).to_owned()), start + symbol.len());
    }
    let mut word = String::new();
    let mut index = start;
    while index < chars.len() {
        let c = chars[index];
        if c.is_whitespace()
            || matches!(c, '(' | ')' | '"' | '[' | ']')
            || SYMBOLS
                .iter()
                .any(|symbol| starts_with_at(chars, index, symbol))
        {
            break;
        }
        word.push(c);
        index += 1;
    }
    (TokenKind::Word(word), index)
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
