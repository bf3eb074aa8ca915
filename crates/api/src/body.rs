//! Reading a JSON request body: within the 1 MiB limit (413 past it), and refused with 400 and
//! the place of the problem when it is not the JSON the route reads. Whatever the client sent
//! is not echoed in the message (a secret input's value may be among it).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::BODY_LIMIT;

/// A JSON body of type `T` (any content type: `curl -d` sends a form type).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// How long a client may take to send a request's body.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// The raw body, within the size limit and [`BODY_TIMEOUT`] (408 past it: a slow client does
/// not hold a request open).
pub async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(request, state))
        .await
        .map_err(|_| ApiError::timeout())?
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(BODY_LIMIT)
            } else {
                ApiError::bad_request(format!(
                    "the request body could not be read: {}",
                    rejection.body_text()
                ))
            }
        })
}

/// Parses `bytes` as `T`; a problem is named by its place, without the values around it.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let place = format!("line {} column {}", error.line(), error.column());
        match error.classify() {
            serde_json::error::Category::Data => ApiError::bad_json(format!(
                "the body does not have the shape this route reads ({place}): {}",
                without_quoted(&error.to_string())
            )),
            serde_json::error::Category::Eof => {
                ApiError::bad_json(format!("the body is not complete JSON ({place})"))
            }
            _ => ApiError::bad_json(format!("the body is not valid JSON ({place})")),
        }
    })
}

/// serde's message with what it quotes of the input (between `` ` `` or `"`) left out, and its
/// own "at line .. column .." suffix dropped.
fn without_quoted(message: &str) -> String {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    let mut out = String::with_capacity(message.len());
    let mut quote: Option<char> = None;
    for character in message.chars() {
        match quote {
            Some(open) if character == open => {
                out.push('…');
                out.push(character);
                quote = None;
            }
            Some(_) => {}
            None if character == '`' || character == '"' => {
                out.push(character);
                quote = Some(character);
            }
            None => out.push(character),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Shape {
        playbook: String,
    }

    #[test]
    fn problems_are_placed_and_values_are_not_echoed() {
        let error = parse_json::<Shape>(br#"{"playbook": "hunter2-secret"#).expect_err("eof");
        assert_eq!(
            error.message(),
            "the body is not complete JSON (line 1 column 28)"
        );
        let error = parse_json::<Shape>(br#"{"playbook": 12345678}"#).expect_err("type");
        assert_eq!(
            error.message(),
            "the body does not have the shape this route reads (line 1 column 21): invalid type: integer `…`, expected a string"
        );
        let error = parse_json::<Shape>(br#"{"playbook": "x", "playbook": "s3cret"}"#)
            .expect_err("duplicate");
        assert!(!error.message().contains("s3cret"), "{}", error.message());
        let error = parse_json::<Shape>(b"not json").expect_err("syntax");
        assert_eq!(error.status(), StatusCode::BAD_REQUEST);
    }
}
