//! Benchmark: parse and summarise a `result_data/action` answer of 200,000 rows.
//!
//! Run with `cargo run --release -p runbook-tanium --example bench_results [ROWS [MAX_ROWS]]`
//! (MAX_ROWS: how many rows the summary keeps, 100 by default). Prints
//! the JSON size, the parse time (best of several runs) and the process's peak resident
//! memory (`VmHWM` from `/proc/self/status`) before and after parsing, so the memory the
//! summary needs beyond the JSON itself can be read off.

use std::time::Instant;

use runbook_tanium::parse_action_results;

fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|text| text.parse().ok())
        .unwrap_or(200_000);
    let max_rows: usize = std::env::args()
        .nth(2)
        .and_then(|text| text.parse().ok())
        .unwrap_or(100);
    let json = answer(rows);
    let before = peak_kib();
    let mut best = f64::MAX;
    let mut summary = None;
    for _ in 0..5 {
        // Drop the previous summary first, so that only one is alive at a time.
        drop(summary.take());
        let started = Instant::now();
        let results = match parse_action_results(&json, false, max_rows) {
            Ok(results) => results,
            Err(err) => {
                eprintln!("parse failed: {err}");
                std::process::exit(1);
            }
        };
        best = best.min(started.elapsed().as_secs_f64());
        summary = Some(results);
    }
    let after = peak_kib();
    let Some(results) = summary else { return };
    let json_mib = json.len() as f64 / (1024.0 * 1024.0);
    println!(
        "rows:                {} ({} kept in the summary)",
        results.rows_read,
        results.rows.len()
    );
    println!(
        "statuses:            {:?} (running {}, succeeded {}, failed {}, unknown {})",
        results.statuses, results.running, results.succeeded, results.failed, results.unknown
    );
    println!("json size:           {json_mib:.1} MiB");
    println!("parse + summarise:   {:.1} ms (best of 5)", best * 1000.0);
    println!("throughput:          {:.0} MiB/s", json_mib / best);
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "peak RSS before:     {:.1} MiB (the JSON text is already in memory)",
            before as f64 / 1024.0
        );
        println!("peak RSS after:      {:.1} MiB", after as f64 / 1024.0);
        println!(
            "peak / json size:    {:.2}x",
            after as f64 / 1024.0 / json_mib
        );
    }
}

/// A realistic answer: Computer Name / Action Statuses / Count, row and computer ids above
/// 2^31, a mix of statuses, and a few special texts.
fn answer(rows: usize) -> Vec<u8> {
    const STATUSES: [&str; 6] = [
        "Completed",
        "Completed",
        "Completed",
        "Running",
        "Failed",
        "Downloading",
    ];
    let mut out = String::with_capacity(rows * 130 + 1024);
    out.push_str(
        r#"{"data":{"now":"2021/07/21 15:48:38 GMT-0000","max_available_age":"","result_sets":[{"age":0,"id":6338700,"report_count":488,"saved_question_id":195532,"question_id":6338700,"archived_question_id":0,"seconds_since_issued":607,"issue_seconds":0,"expire_seconds":3660,"tested":"#,
    );
    out.push_str(&format!(
        r#"{rows},"passed":{rows},"mr_tested":{rows},"mr_passed":{rows},"estimated_total":{rows},"select_count":2,"error_count":0,"no_results_count":0,"columns":[{{"hash":3409330187,"name":"Computer Name","type":1}},{{"hash":1792443391,"name":"Action Statuses","type":1}},{{"hash":0,"name":"Count","type":3}}],"filtered_row_count":{rows},"filtered_row_count_machines":{rows},"row_count":{rows},"row_count_machines":{rows},"item_count":{rows},"rows":["#
    ));
    for row in 0..rows {
        if row > 0 {
            out.push(',');
        }
        let status = if row % 997 == 0 {
            "[current results unavailable]".to_owned()
        } else {
            format!("1362231:{}.", STATUSES[row % STATUSES.len()])
        };
        out.push_str(&format!(
            r#"{{"id":{},"cid":{},"data":[[{{"text":"WIN-LAPTOP-{row:06}.corp.example.com"}}],[{{"text":"{status}"}}],[{{"text":"1"}}]]}}"#,
            2_147_483_648u64 + row as u64 * 7,
            3_000_000_000u64 + row as u64,
        ));
    }
    out.push_str("]}]}}");
    out.into_bytes()
}

fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
