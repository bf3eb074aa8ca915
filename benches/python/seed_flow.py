#!/usr/bin/env python3
"""The status quo: the seed's calls for one run, with `requests`, run N times in a row.

Per run, as Tanium's actions API docs (the seed) show them: create an ad-hoc group from
targeting text, read the package by name, POST /actions, then poll result_data until every
targeted endpoint reports a final status. The action group id is looked up once, as the seed
expects an id known in advance. One requests.Session (connection reuse) serves every run,
which is kinder to Python than a fresh connection per call.

Prints one JSON line at the end: runs, failures, wall seconds, CPU seconds, requests sent.

    python3 seed_flow.py --url http://127.0.0.1:PORT --token TOKEN --runs 200 --time-scale 100
"""

import argparse
import json
import os
import sys
import time
import urllib.parse

import requests

FINAL = {"Completed", "Verified", "Succeeded", "Failed", "NotSucceeded", "Expired", "Stopped"}
FAILED = {"Failed", "NotSucceeded", "Expired", "Stopped"}
PACKAGE = "Custom Tagging - Add Tags"
POLL_SECONDS = 5.0  # the seed's interval, in Tanium time


class Client:
    def __init__(self, url, token):
        self.url = url.rstrip("/") + "/api/v2"
        self.session = requests.Session()
        self.session.headers.update({"session": token, "Content-Type": "application/json"})
        self.requests = 0

    def call(self, method, path, body=None):
        self.requests += 1
        response = self.session.request(method, self.url + path, data=None if body is None else json.dumps(body), timeout=30)
        response.raise_for_status()
        return response.json()["data"]


def status_word(cell):
    text = cell[0]["text"] if cell else ""
    word = text.split(":", 1)[1] if ":" in text else text
    return word.strip().rstrip(".").replace(" ", "")


def one_run(client, action_group_id, hostname, run_number, poll_seconds):
    quoted = hostname.replace('"', '""')
    group = client.call("POST", "/groups", {"text": f'Computer Name equals "{quoted}"'})
    package = client.call("GET", "/packages/by-name/" + urllib.parse.quote(PACKAGE, safe=""))
    action = client.call("POST", "/actions", {
        "name": f"seed tag {hostname} [python {run_number}]",
        "action_group": {"id": action_group_id},
        "target_group": {"id": group["id"]},
        "package_spec": {"source_id": package["id"], "parameters": [{"key": "$1", "value": f"IR-{hostname}"}]},
        "expire_seconds": 3600,
    })
    for _ in range(100000):
        data = client.call("GET", f"/result_data/action/{action['id']}")
        result = data["result_sets"][0]
        names = [column["name"] for column in result.get("columns", [])]
        status_at = names.index("Action Statuses") if "Action Statuses" in names else 1
        statuses = [status_word(row["data"][status_at]) for row in result.get("rows", [])]
        if statuses and all(status in FINAL for status in statuses):
            return not any(status in FAILED for status in statuses)
        time.sleep(poll_seconds)
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--hostname", default="WIN-DC01")
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        sys.exit("this benchmark only talks to a simulator on 127.0.0.1")

    client = Client(args.url, args.token)
    action_group = client.call("GET", "/action_groups/by-name/" + urllib.parse.quote("All Computers", safe=""))
    poll_seconds = POLL_SECONDS / max(args.time_scale, 1.0)
    started, cpu_started = time.monotonic(), os.times()
    failures = 0
    for run_number in range(args.runs):
        if not one_run(client, action_group["id"], args.hostname, run_number, poll_seconds):
            failures += 1
    cpu = os.times()
    print(json.dumps({
        "runs": args.runs,
        "failures": failures,
        "seconds": time.monotonic() - started,
        "cpu_seconds": (cpu.user - cpu_started.user) + (cpu.system - cpu_started.system),
        "requests": client.requests,
    }))


if __name__ == "__main__":
    main()
