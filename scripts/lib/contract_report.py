"""Reads a schemathesis NDJSON report and judges the contract (issue 16 §6), in either direction.

Positive pass (schema-valid requests, the default): per operation, how many cases the server refused as invalid input
(400 malformed-request or 422 invalid-argument — not a 404 for an id the fuzzer made up, nor a conflict with state such
as a reused idempotency key), every response >= 500, and every failed conformance check (status code, content type,
headers, body schema). Exits 1 when any operation refuses 5% or more of its schema-valid cases, or on any 5xx or
non-conforming response; prints why, with the server's own problem detail.

Negative pass (`--negative`: requests that break the document): the server must refuse what the document forbids.
Exits 1 on any schema-violating request accepted, request without a required header not refused as it should be,
undeclared method not answered 405, response >= 500 or response not as documented — unless EXEMPT below says why
that finding is not a fault; prints each with what was wrong with the request and what the server answered. Whether
schema-valid requests are accepted is the positive pass's to judge, not this one's.
"""
import base64
import json
import sys
from collections import defaultdict

# What is not judged, with why. Keyed by operation: operations whose refusals (positive pass) depend on more than one
# value's schema — a relation between two fields or parameters, the stored state, or a document with its own checker;
# their refusal rates are printed, not judged; every other constraint the server enforces is in the OpenAPI document.
# Keyed by failure code and operation ("ST201 POST /v1/…"): a negative-pass finding that is not a fault. There is
# none: the server refuses everything the document forbids.
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

# What each schemathesis check found, in plain words (its failure code, then what the server did).
MEANING = {
    "negative_data_rejection": ("ST201", "accepted a request the document forbids (it should have been refused with a 4xx)"),
    "missing_required_header": ("ST203", "did not refuse a request without a required header as it should "
                                         "(no Authorization: 401; no If-Match on a PATCH: 428)"),
    "unsupported_method": ("ST204", "answered a method the path does not have with something other than 405 and Allow"),
    "positive_data_acceptance": ("ST202", "refused a request the document allows"),
    "not_a_server_error": ("ST101", "answered 5xx: a server fault"),
    "status_code_conformance": ("ST103", "answered a status code the document does not list for the operation"),
    "content_type_conformance": ("ST105", "answered with a Content-Type the document does not list for that status"),
    "response_headers_conformance": ("ST107", "left out a response header the document requires"),
    "response_schema_conformance": ("ST108", "answered a body or header that the document's schema rejects"),
}
# Judged in the negative pass: everything but the acceptance of schema-valid requests (the positive pass's).
NEGATIVE_GATES = set(MEANING) - {"positive_data_acceptance"}

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


def operation(recorder, case):
    """The operation a case belongs to; the stateful phase's scenarios chain several, so each case is named by its own."""
    if recorder.get("label") == "Stateful tests":
        return f"{case.get('method', '?')} {case.get('path', '?')}"
    return recorder.get("label", "?")


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
        for case_id, case in (recorder.get("cases") or {}).items():
            label = operation(recorder, case["value"])
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
    if total == 0:
        print("no schema-valid case was answered: the run did not happen (see schemathesis.log)")
        return 1
    print(f"{len(cases)} operations, {total} schema-valid cases, {sum(len(v) for v in rejected.values())} refused, "
          f"{sum(len(v) for v in server_errors.values())} responses >= 500, "
          f"{sum(len(v) for v in nonconforming.values())} operation/check pairs not conforming")
    return 1 if failed else 0


def request_line(interaction, case):
    request = (interaction or {}).get("request") or {}
    line = f"{request.get('method', case.get('method', '?'))} {request.get('uri', case.get('path', '?'))}"
    headers = {name: value for name, value in (case.get("headers") or {}).items() if name.lower() != "authorization"}
    if headers:
        line += " " + " ".join(f"[{name}: {json.dumps(value, ensure_ascii=True)[:80]}]" for name, value in headers.items())
    body = case.get("body")
    if body is not None:
        line += " " + json.dumps(body, ensure_ascii=True)
    return line if len(line) <= 240 else line[:240] + "…"


def judge_negative(path):
    """The negative pass: every gated check that failed, per operation, with one example each."""
    findings = defaultdict(lambda: defaultdict(list))
    cases = defaultdict(int)
    untested = []
    for line in open(path):
        event = json.loads(line)
        error = event.get("NonFatalError")
        if error:
            untested.append(f"{error.get('label', '?')} ({error.get('phase', '?')} phase): "
                            f"{(error.get('value') or {}).get('message', '').splitlines()[0][:120]}")
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for case_id, checks in (recorder.get("checks") or {}).items():
            case = ((recorder.get("cases") or {}).get(case_id) or {}).get("value") or {}
            interaction = (recorder.get("interactions") or {}).get(case_id) or {}
            response = interaction.get("response")
            label = operation(recorder, case)
            if response:
                cases[label] += 1
            for check in checks:
                if check["status"] != "failure" or check["name"] not in NEGATIVE_GATES:
                    continue
                failure = (check.get("failure_info") or {}).get("failure") or {}
                message = failure.get("message", "")
                why = next((part[len("Invalid component: "):] for part in message.split("\n")
                            if part.startswith("Invalid component: ")), message.split("\n")[0])
                answer = ""
                if response:
                    body = problem(response)
                    answer = f"{response['status_code']} {body.get('detail', '')}".strip()[:200]
                findings[label][check["name"]].append((why[:200], request_line(interaction, case), answer))
    failed = False
    for label in sorted(findings):
        for name, found in sorted(findings[label].items()):
            code, meaning = MEANING[name]
            exempt = EXEMPT.get(f"{code} {label}")
            failed |= exempt is None
            print(f"{label}: {code} {meaning}: {len(found)} case(s){f'  (exempt: {exempt})' if exempt else '  <--'}")
            for why, request, answer in sorted(set(found))[:3]:
                print(f"      found:    {why}")
                print(f"      sent:     {request}")
                print(f"      answered: {answer}")
    total = sum(cases.values())
    counts = defaultdict(int)
    for per_check in findings.values():
        for name, found in per_check.items():
            counts[name] += len(found)
    summary = ", ".join(f"{counts[name]} {MEANING[name][0]}" for name in sorted(counts)) or "no findings"
    # Where schemathesis itself could not make cases (no way to break a pattern in a path; its own faults): not a
    # finding about the server, but said, so that what went untested is seen.
    for note in sorted(set(untested)):
        print(f"      not fuzzed by schemathesis: {note}")
    print(f"negative pass: {len(cases)} operations, {total} requests answered; {summary}")
    if total == 0:
        print("no request was answered: the run did not happen (see schemathesis-negative.log)")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1] == "--negative":
        sys.exit(judge_negative(sys.argv[2]))
    sys.exit(main(sys.argv[1]))
