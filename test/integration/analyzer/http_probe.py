"""Sends HTTP requests to a running service: http_probe.py BASE_URL REQUESTS.json.

REQUESTS is a list of {"method", "path", "params"?, "json"?}; prints a JSON
list of {"status", "body"} in the same order. Used by the analyzer's
integration tests to talk to the generated service over real HTTP."""
import json
import sys

import httpx

base, requests_file = sys.argv[1], sys.argv[2]
with open(requests_file) as f:
    requests = json.load(f)
results = []
with httpx.Client(base_url=base, timeout=30) as client:
    for r in requests:
        response = client.request(r["method"], r["path"], params=r.get("params"), json=r.get("json"))
        try:
            body = response.json()
        except ValueError:
            body = response.text
        results.append({"status": response.status_code, "body": body})
print(json.dumps(results))
