//! Validates 1,000 generated playbooks of realistic size (inputs, a guard, 8 steps of every
//! main kind, templates everywhere) and compares with bare serde-saphyr parsing of the same
//! files into `serde_json::Value`. Criterion's throughput line is playbooks per second.
//!
//! Run: `cargo bench -p runbook-playbook --bench validate`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn playbook(index: usize) -> String {
    let host = format!("web-{index:03}.corp.example");
    let tag = ["IR-suspect", "IR-cleared", "Patch-window"][index % 3];
    format!(
        r#"# Generated playbook {index}: tag a host after approval, then check the results.
version: 1
name: generated-{index}
description: Tag {host} for investigation and verify every endpoint took it.
inputs:
  hostname:
    type: string
    description: Computer name from the alert
    default: {host}
    pattern: "^[A-Za-z0-9._-]+$"
  ip:
    type: string
    required: false
  tag:
    type: string
    enum: [IR-suspect, IR-cleared, Patch-window]
    default: {tag}
  level:
    type: integer
    minimum: 0
    maximum: 99
    default: {level}
guard:
  max_endpoints: {max}
secrets: [SLACK_WEBHOOK]
steps:
  - id: scope
    name: The host from the alert
    target:
      all:
        - {{ sensor: Computer Name, op: equals, value: "{{{{ inputs.hostname }}}}" }}
        - {{ sensor: IP Address, op: equals, value: "{{{{ inputs.ip }}}}", when: "{{{{ inputs.ip }}}}" }}
  - id: tag_params
    parameterize:
      package: Custom Tagging - Add Tags
      params:
        $1: "{{{{ inputs.tag }}}}"
    retry: {{ attempts: 3, backoff: 5s }}
  - id: tag
    issue:
      name: "IR tag {{{{ inputs.hostname }}}} ({{{{ run.id }}}})"
      action_group: All Computers
      target: "{{{{ steps.scope.group }}}}"
      package: "{{{{ steps.tag_params.package_spec }}}}"
      expire: 12h
      distribute: 0s
  - id: approved
    await_approval:
      action: "{{{{ steps.tag.action_id }}}}"
      timeout: 4h
  - id: results
    poll:
      action: "{{{{ steps.tag.action_id }}}}"
      until_percent: 90
      timeout: 30m
      interval: 15s
  - id: all_done
    assert:
      that: "{{{{ steps.results.failed == 0 }}}}"
      message: "{{{{ steps.results.failed }}}} endpoints failed to tag"
  - id: summary
    set:
      text: "{{{{ steps.results.completed }}}} of {{{{ steps.tag.targeted }}}} tagged with {{{{ inputs.tag | upper }}}}"
  - id: notify
    log: "{{{{ steps.summary.text }}}} via {{{{ secrets.SLACK_WEBHOOK | length }}}}"
outputs:
  completed: "{{{{ steps.results.completed }}}}"
  percent: "{{{{ steps.results.percent }}}}"
"#,
        level = index % 100,
        max = 1 + index % 10,
    )
}

fn bench(criterion: &mut Criterion) {
    let sources: Vec<String> = (0..1_000).map(playbook).collect();
    // The generator must produce valid playbooks, or the benchmark measures error paths.
    for (index, source) in sources.iter().enumerate() {
        let loaded = runbook_playbook::load("generated.yaml", source);
        assert!(
            loaded.diagnostics.is_empty(),
            "playbook {index}:\n{}",
            runbook_playbook::render_human(&loaded.diagnostics, false)
        );
    }
    let bytes: usize = sources.iter().map(String::len).sum();
    eprintln!(
        "1,000 playbooks, {} bytes on average",
        bytes / sources.len()
    );

    let mut group = criterion.benchmark_group("playbooks");
    group.throughput(Throughput::Elements(sources.len() as u64));
    group.bench_function("validate_1000", |bencher| {
        bencher.iter(|| {
            for source in &sources {
                black_box(runbook_playbook::load("generated.yaml", black_box(source)));
            }
        });
    });
    group.bench_function("bare_serde_saphyr_1000", |bencher| {
        bencher.iter(|| {
            for source in &sources {
                let value: Result<serde_json::Value, _> = serde_saphyr::from_str(black_box(source));
                black_box(value.ok());
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
