//! Sensors: the catalogue as a collection, and one sensor by name or id, with its hash and its
//! `parameter_definition` string. An unknown sensor is Tanium's 404.

use axum::extract::{Path, State};

use super::{ApiError, ApiResult, AppState, ObjectId, Options, data, list_with_cache};
use crate::sensors::{self, CATALOGUE};

pub(super) async fn list_sensors(State(shared): State<AppState>, options: Options) -> ApiResult {
    let items = CATALOGUE.iter().map(|sensor| sensor.json()).collect();
    list_with_cache(&shared, items, &options)
}

/// `GET /sensors/by-name/{name}`: names match ignoring case, as in question text.
pub(super) async fn sensor_by_name(Path(name): Path<String>) -> ApiResult {
    let sensor = sensors::by_name(&name)
        .ok_or_else(|| ApiError::not_found(format!("no sensor named '{name}'")))?;
    data(sensor.json())
}

pub(super) async fn sensor_by_id(ObjectId(id): ObjectId) -> ApiResult {
    let sensor =
        sensors::by_id(id).ok_or_else(|| ApiError::not_found(format!("no sensor with id {id}")))?;
    data(sensor.json())
}
