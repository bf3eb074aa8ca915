//! `GET /system_status`: the clients registered with the server, in the recorded shape (one
//! object per client, then a statistics object, then the cache-info object).
//!
//! Tanium Clients register every 30 to 90 seconds (docs.tanium.com, "Tanium Client
//! concepts"). An online machine here last registered within the last 90 simulated seconds;
//! an offline one between one hour and two days ago, so that a client reading
//! `last_registration` against the server's time tells them apart.

use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiResult, AppState, Options, cache_info, data, page};
use crate::config::Endpoint;
use crate::state::iso;
use crate::{mix, unit};

pub(super) async fn system_status(State(shared): State<AppState>, options: Options) -> ApiResult {
    let now = shared.clock.now();
    let date = shared.clock.date(now);
    let seed = shared.config.seed;
    let clients: Vec<Value> = shared
        .fleet()
        .iter()
        .enumerate()
        .map(|(index, endpoint)| {
            let machine = index as u64;
            let age = if endpoint.online {
                5.0 + 85.0 * unit(mix(seed, machine), 11)
            } else {
                3_600.0 + 169_200.0 * unit(mix(seed, machine), 12)
            };
            let registered = date - chrono::Duration::milliseconds((age * 1000.0) as i64);
            client_json(endpoint, mix(seed, machine) % (1 << 32), &iso(registered))
        })
        .collect();
    let total = clients.len();
    let leaders = clients
        .iter()
        .filter(|client| client["status"] == "Leader")
        .count();
    let mut paged = page(clients, &options);
    let cache_id = options
        .cache_id
        .unwrap_or_else(|| shared.lock().new_cache(0, now));
    let page_rows = paged.len();
    paged.push(json!({
        "send_forward_count": 0,
        "send_backward_count": 0,
        "send_none_count": total,
        "send_ok_count": 0,
        "receive_forward_count": 0,
        "receive_backward_count": 0,
        "receive_none_count": total,
        "receive_ok_count": 0,
        "slowlink_count": 0,
        "blocked_count": 0,
        "leader_count": leaders,
        "normal_count": total - leaders,
        "registered_with_tls_count": total,
        "versions": [{ "version_string": CLIENT_VERSION, "count": total, "filtered": total }],
    }));
    paged.push(cache_info(&shared, cache_id, page_rows, total));
    data(Value::Array(paged))
}

const CLIENT_VERSION: &str = "7.4.10.1075";

/// One registered client, with the fields of the recorded answer.
fn client_json(endpoint: &Endpoint, computer_id: u64, last_registration: &str) -> Value {
    json!({
        "host_name": endpoint.computer_name,
        "computer_id": computer_id,
        "ipaddress_client": endpoint.ip_address,
        "ipaddress_server": "10.0.0.1",
        "port_number": 17472,
        "send_state": "None",
        "receive_state": "None",
        "status": if computer_id.is_multiple_of(8) { "Leader" } else { "Normal" },
        "protocol_version": 314,
        "full_version": CLIENT_VERSION,
        "last_registration": last_registration,
        "public_key_valid": true,
        "registered_with_tls": true,
    })
}
