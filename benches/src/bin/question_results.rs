//! Question answers: a `result_data/question` answer of 100,000 rows summarised into rows
//! (budget: under 1 s, and under 3x its JSON size in memory).
//!
//! Builds a realistic answer (Computer Name / IP Address / Count; row and computer ids above
//! 2^31; every 10th IP cell with two values; `[no results]` every 31st row, `TSE-Error` every
//! 211th, and a row of only `[current results unavailable]` every 97th), reads it with
//! `QuestionReader` five times keeping every row, and prints the best time and the process's
//! peak resident memory (`VmHWM`, the JSON text included) beside the JSON size. Then it times the
//! conversion of the kept rows to JSON objects (the step's `rows` output), which the budget
//! leaves out: a question step keeps 1,000 rows by default.
//!
//! `cargo run --release -p runbook-benches --bin question_results -- [ROWS [MAX_ROWS]]`
//! (defaults 100,000 and 1,000,000, so that every row is kept).

use std::process::ExitCode;
use std::time::Instant;

use runbook_benches::proc_stats;
use runbook_tanium::question_results::{QuestionReader, QuestionResults};

fn main() -> ExitCode {
    let argument = |index: usize, default: usize| {
        std::env::args()
            .nth(index)
            .map_or(Ok(default), |text| text.parse::<usize>())
    };
    let (Ok(rows), Ok(max_rows)) = (argument(1, 100_000), argument(2, 1_000_000)) else {
        eprintln!("usage: question_results [ROWS [MAX_ROWS]]");
        return ExitCode::from(2);
    };
    let json = answer(rows);
    let json_mib = json.len() as f64 / (1024.0 * 1024.0);
    let before = proc_stats::peak_rss_kib().ok();
    let mut best = f64::MAX;
    let mut summary: Option<QuestionResults> = None;
    for _ in 0..5 {
        // Drop the previous summary first, so that only one is alive at a time.
        drop(summary.take());
        let started = Instant::now();
        let mut reader = QuestionReader::new(max_rows);
        if let Err(err) = reader.add_page(&json) {
            eprintln!("reading failed: {err}");
            return ExitCode::FAILURE;
        }
        let results = reader.finish();
        best = best.min(started.elapsed().as_secs_f64());
        summary = Some(results);
    }
    let after = proc_stats::peak_rss_kib().ok();
    let Some(results) = summary else {
        return ExitCode::FAILURE;
    };
    println!(
        "rows:                {} data rows ({} kept), {} unavailable rows",
        results.row_count,
        results.rows.len(),
        results.unavailable
    );
    println!("special texts:       {:?}", results.special_texts);
    println!("json size:           {json_mib:.1} MiB");
    println!("read into rows:      {:.1} ms (best of 5)", best * 1000.0);
    println!("throughput:          {:.0} MiB/s", json_mib / best);
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "peak RSS before:     {:.1} MiB (the JSON text is already in memory)",
            proc_stats::mib(before)
        );
        println!("peak RSS after:      {:.1} MiB", proc_stats::mib(after));
        println!(
            "peak / json size:    {:.2}x",
            proc_stats::mib(after) / json_mib
        );
    }
    let started = Instant::now();
    let json_rows = results.json_rows();
    let converted = started.elapsed().as_secs_f64();
    let peak = proc_stats::peak_rss_kib().ok();
    println!(
        "rows as JSON:        {:.1} ms for {} objects (outside the budget)",
        converted * 1000.0,
        json_rows.len()
    );
    if let Some(peak) = peak {
        println!(
            "peak RSS with JSON:  {:.1} MiB ({:.2}x the JSON size)",
            proc_stats::mib(peak),
            proc_stats::mib(peak) / json_mib
        );
    }
    ExitCode::SUCCESS
}

/// The answer: two sensors and Tanium's `Count`, with the cells and special texts described at
/// the top of this file.
fn answer(rows: usize) -> Vec<u8> {
    let mut out = String::with_capacity(rows * 150 + 1024);
    out.push_str(
        r#"{"data":{"now":"2023/05/26 21:19:59 GMT-0000","max_available_age":"","result_sets":[{"age":0,"id":14639814,"report_count":488,"saved_question_id":0,"question_id":14639814,"archived_question_id":0,"seconds_since_issued":12,"issue_seconds":0,"expire_seconds":600,"tested":"#,
    );
    out.push_str(&format!(
        r#"{rows},"passed":{rows},"mr_tested":{rows},"mr_passed":{rows},"estimated_total":{rows},"select_count":2,"error_count":0,"no_results_count":0,"columns":[{{"hash":3409330187,"name":"Computer Name","type":1}},{{"hash":3209138996,"name":"IP Address","type":5}},{{"hash":0,"name":"Count","type":3}}],"filtered_row_count":{rows},"filtered_row_count_machines":{rows},"row_count":{rows},"row_count_machines":{rows},"item_count":{rows},"cache_id":"3891494157","rows":["#
    ));
    for row in 0..rows {
        if row > 0 {
            out.push(',');
        }
        let (name, address) = if row % 97 == 0 {
            let unavailable = r#"{"text":"[current results unavailable]"}"#;
            (unavailable.to_owned(), unavailable.to_owned())
        } else {
            let name = format!(r#"{{"text":"WIN-LAPTOP-{row:06}.corp.example.com"}}"#);
            let ipv4 = format!(
                r#"{{"text":"10.{}.{}.{}"}}"#,
                row >> 16,
                (row >> 8) & 255,
                row & 255
            );
            let address = if row % 31 == 0 {
                r#"{"text":"[no results]"}"#.to_owned()
            } else if row % 211 == 0 {
                r#"{"text":"TSE-Error: Sensor timed out"}"#.to_owned()
            } else if row % 10 == 0 {
                format!(r#"{ipv4},{{"text":"fe80::{row:x}"}}"#)
            } else {
                ipv4
            };
            (name, address)
        };
        let count = if row % 13 == 0 { 3 } else { 1 };
        out.push_str(&format!(
            r#"{{"id":{},"cid":{},"data":[[{name}],[{address}],[{{"text":"{count}"}}]]}}"#,
            2_147_483_648u64 + row as u64 * 7,
            3_000_000_000u64 + row as u64,
        ));
    }
    out.push_str(r#"]},{"cache_id":1,"page_row_count":1}]}}"#);
    out.into_bytes()
}
