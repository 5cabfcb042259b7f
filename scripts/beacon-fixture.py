#!/usr/bin/env python3
"""A tiny Beacon API fixture for demos and tests (loopback only; NOT a beacon node).

Serves the endpoints the agent reads (`oracle report`, the exit lifecycle of `run`), in the
standard JSON shapes of ethereum/beacon-APIs (numbers as decimal strings):
  GET /eth/v1/beacon/genesis
  GET /eth/v1/beacon/states/{state_id}/validators?id=0x..,0x..
The validators are the pubkeys of a deposit_data.json, each `active_ongoing` with the given
balance (gwei). Unknown ids are left out, as real nodes do.

Test control (not a Beacon API endpoint): the lifecycle of a validator is moved by
  POST /fixture/validators   {"pubkeys": ["0x.."], "status": "exited_unslashed", "balance": "0"}
(`status` and `balance` each optional; unknown pubkeys are added). A status past
`active_ongoing` sets the exit epoch; `withdrawal_possible`/`withdrawal_done` the withdrawable
epoch too. `GET /fixture/validators` returns the whole table.

usage: beacon-fixture.py PORT DEPOSIT_DATA_JSON BALANCE_GWEI
PORT 0 picks a free port; the first line on stdout is `listening PORT`.
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

port, deposit_data, balance = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
FAR = "18446744073709551615"
STATUSES = {
    "pending_initialized", "pending_queued", "active_ongoing", "active_exiting", "active_slashed",
    "exited_unslashed", "exited_slashed", "withdrawal_possible", "withdrawal_done",
}
EXITING = {"active_exiting", "active_slashed", "exited_unslashed", "exited_slashed",
           "withdrawal_possible", "withdrawal_done"}
WITHDRAWABLE = {"withdrawal_possible", "withdrawal_done"}
lock = threading.Lock()
validators = {
    "0x" + d["pubkey"].lower(): {"index": str(1000 + i), "balance": str(balance), "status": "active_ongoing"}
    for i, d in enumerate(json.load(open(deposit_data)))
}


def entry(pk, v):
    exit_epoch = "100" if v["status"] in EXITING else FAR
    withdrawable = "356" if v["status"] in WITHDRAWABLE else FAR
    return {
        "index": v["index"], "balance": v["balance"], "status": v["status"],
        "validator": {
            "pubkey": pk, "withdrawal_credentials": "0x01" + "00" * 31,
            "effective_balance": "0" if v["status"] == "withdrawal_done" else "32000000000",
            "slashed": v["status"] in ("active_slashed", "exited_slashed"),
            "activation_eligibility_epoch": "0", "activation_epoch": "0",
            "exit_epoch": exit_epoch, "withdrawable_epoch": withdrawable}}


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/eth/v1/beacon/genesis":
            return self._send(200, {"data": {
                "genesis_time": "1742213400",
                "genesis_validators_root": "0x" + "21" * 32,
                "genesis_fork_version": "0x10000910"}})
        if url.path == "/fixture/validators":
            with lock:
                return self._send(200, validators)
        if len(parts) == 6 and parts[:4] == ["eth", "v1", "beacon", "states"] and parts[5] == "validators":
            ids = [i.lower() for v in parse_qs(url.query).get("id", []) for i in unquote(v).split(",")]
            with lock:
                data = [entry(pk, v) for pk, v in validators.items() if pk in ids]
            return self._send(200, {"execution_optimistic": False, "finalized": True, "data": data})
        return self._send(404, {"code": 404, "message": "not found"})

    def do_POST(self):
        if urlsplit(self.path).path != "/fixture/validators":
            return self._send(404, {"code": 404, "message": "not found"})
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            status = body.get("status")
            if status is not None and status not in STATUSES:
                return self._send(400, {"code": 400, "message": f"unknown status {status!r}"})
            bal = body.get("balance")
            if bal is not None:
                bal = str(int(bal))
            with lock:
                for pk in body["pubkeys"]:
                    pk = pk.lower()
                    v = validators.setdefault(pk, {"index": str(1000 + len(validators)),
                                                   "balance": str(balance), "status": "active_ongoing"})
                    if status is not None:
                        v["status"] = status
                    if bal is not None:
                        v["balance"] = bal
            return self._send(200, {"updated": len(body["pubkeys"])})
        except (KeyError, ValueError, TypeError) as e:
            return self._send(400, {"code": 400, "message": f"bad request: {e}"})

    def log_message(self, fmt, *args):
        sys.stderr.write("beacon-fixture: " + (fmt % args) + "\n")


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
