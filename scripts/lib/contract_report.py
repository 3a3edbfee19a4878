"""Reads a schemathesis NDJSON report and judges the contract (issue 16 §6).

Per operation: how many schema-valid (positive) cases the server refused as invalid input (400 malformed-request or
422 invalid-argument — not a 404 for an id the fuzzer made up, nor a conflict with state such as a reused
idempotency key), every response >= 500, and every failed conformance check (status code, content type, headers,
body schema). Exits 1 when any operation refuses 5% or more of its schema-valid cases, or on any 5xx or
non-conforming response; prints why, with the server's own problem detail.
"""
import base64
import json
import sys
from collections import defaultdict

# Operations whose refusals depend on more than one value's schema — a relation between two fields or parameters, the
# stored state, or a document with its own checker. Their refusal rates are printed, not judged; every other
# constraint the server enforces is in the OpenAPI document.
EXEMPT = {
    "GET /v1/audit": "since must be before until (two parameters)",
    "GET /v1/inventory/export": "name needs kind (two parameters)",
    "DELETE /v1/network/vlans/{vlan}": "a VID names a VLAN only with its group (two parameters)",
    "POST /v1/network/asn-pools": "last must not be below first (two fields)",
    "POST /v1/network/vlan-groups": "maxVID must not be below minVID (two fields)",
    "POST /v1/network/addresses": "the address must lie in a stored prefix and not be its network address (state)",
    "POST /v1/network/prefixes": "a prefix may not overlap a stored one unless nested in a container (state)",
    "POST /v1/network/prefixes/allocate": "the parent must be a stored container with room (state)",
    "POST /v1/machines": "plain HTTP (tls: plaintext) only to a loopback BMC (two fields)",
    "POST /v1/inventory/apply": "the files are site declarations, checked by the site parser (file:line:column errors)",
    "POST /v1/network/changesets": "the intent is checked by the intent verifier (overlaps, VLANs, policy)",
    "POST /v1/network/plan": "the intent is checked by the intent verifier (overlaps, VLANs, policy)",
}

CONFORMANCE = {"status_code_conformance", "content_type_conformance", "response_headers_conformance",
               "response_schema_conformance", "not_a_server_error"}
REJECTIONS = {"malformed-request", "invalid-argument"}


def problem(response):
    content = response.get("content") or {}
    raw = content.get("$base64")
    try:
        text = base64.b64decode(raw).decode("utf-8", "replace") if raw else content.get("string", "")
        return json.loads(text)
    except Exception:
        return {}


def main(path, threshold=0.05):
    cases = defaultdict(int)
    rejected = defaultdict(list)
    server_errors = defaultdict(list)
    nonconforming = defaultdict(set)
    for line in open(path):
        event = json.loads(line)
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        label = recorder.get("label", "?")
        for case_id, case in (recorder.get("cases") or {}).items():
            meta = case["value"].get("meta") or {}
            if (meta.get("generation") or {}).get("mode") != "positive":
                continue
            interaction = (recorder.get("interactions") or {}).get(case_id)
            if not interaction or not interaction.get("response"):
                continue
            response = interaction["response"]
            status = response["status_code"]
            cases[label] += 1
            body = problem(response)
            kind = str(body.get("type", "")).rsplit("/", 1)[-1]
            if status >= 500:
                server_errors[label].append(f"{status} {body.get('detail', '')}"[:200])
            elif status in (400, 422) and kind in REJECTIONS:
                rejected[label].append(str(body.get("detail", ""))[:160])
            for check in (recorder.get("checks") or {}).get(case_id, []):
                if check["name"] in CONFORMANCE and check["status"] == "failure":
                    nonconforming[label].add(check["name"])
    failed = False
    print(f"{'operation':70} {'cases':>6} {'refused':>8}")
    for label in sorted(cases):
        share = len(rejected[label]) / cases[label]
        flag = (share >= threshold and label not in EXEMPT) or server_errors[label] or nonconforming[label]
        failed |= bool(flag)
        if flag or rejected[label]:
            note = f"  (exempt: {EXEMPT[label]})" if label in EXEMPT and share >= threshold else ""
            print(f"{label:70} {cases[label]:6} {share:7.0%}{'  <-- ' if flag else ''}{note}")
            for reason in sorted(set(rejected[label]))[:2 if label in EXEMPT else 4]:
                print(f"      refused: {reason}")
            for reason in server_errors[label][:3]:
                print(f"      5xx: {reason}")
            for check in sorted(nonconforming[label]):
                print(f"      failed check: {check}")
    total = sum(cases.values())
    print(f"{len(cases)} operations, {total} schema-valid cases, {sum(len(v) for v in rejected.values())} refused, "
          f"{sum(len(v) for v in server_errors.values())} responses >= 500, "
          f"{sum(len(v) for v in nonconforming.values())} operation/check pairs not conforming")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
