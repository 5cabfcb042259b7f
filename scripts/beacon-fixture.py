#!/usr/bin/env python3
"""A tiny Beacon API fixture for demos (loopback only; NOT a beacon node).

Serves the two endpoints `signer-agent oracle report` reads, in the standard JSON shapes of
ethereum/beacon-APIs (numbers as decimal strings):
  GET /eth/v1/beacon/genesis
  GET /eth/v1/beacon/states/{state_id}/validators?id=0x..,0x..
The validators are the pubkeys of a deposit_data.json, each `active_ongoing` with the given
balance (gwei). Unknown ids are left out, as real nodes do.

usage: beacon-fixture.py PORT DEPOSIT_DATA_JSON BALANCE_GWEI
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

port, deposit_data, balance = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
validators = {
    "0x" + d["pubkey"].lower(): {"index": str(1000 + i), "balance": str(balance)}
    for i, d in enumerate(json.load(open(deposit_data)))
}
FAR = "18446744073709551615"


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
        if len(parts) == 6 and parts[:4] == ["eth", "v1", "beacon", "states"] and parts[5] == "validators":
            ids = [i.lower() for v in parse_qs(url.query).get("id", []) for i in unquote(v).split(",")]
            data = [{
                "index": v["index"], "balance": v["balance"], "status": "active_ongoing",
                "validator": {
                    "pubkey": pk, "withdrawal_credentials": "0x01" + "00" * 31,
                    "effective_balance": "32000000000", "slashed": False,
                    "activation_eligibility_epoch": "0", "activation_epoch": "0",
                    "exit_epoch": FAR, "withdrawable_epoch": FAR}}
                for pk, v in validators.items() if pk in ids]
            return self._send(200, {"execution_optimistic": False, "finalized": True, "data": data})
        return self._send(404, {"code": 404, "message": "not found"})

    def log_message(self, fmt, *args):
        sys.stderr.write("beacon-fixture: " + (fmt % args) + "\n")


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
