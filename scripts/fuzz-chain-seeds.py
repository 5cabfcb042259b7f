#!/usr/bin/env python3
"""Dumps what the agent reads from a chain, as the node answers it: every log (eth_getLogs from
block 0) and the receipt of every transaction that emitted one. Seeds for the agent_logs and
agent_receipt fuzz targets (scripts/fuzz-seeds.sh runs it against the demo's anvil).

usage: RPC_URL=… fuzz-chain-seeds.py DIR      (the demo's hook: DIR is demo-out)
writes DIR/chain/logs-all.json, DIR/chain/logs-<topic0 prefix>.json (one file per event kind) and
DIR/chain/receipt-<tx hash prefix>.json
"""
import json
import os
import sys
import urllib.request


def rpc(url, method, params):
    req = urllib.request.Request(
        url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.load(r)
    if "error" in answer:
        raise SystemExit(f"{method}: {answer['error']}")
    return answer["result"]


def main():
    url, out = os.environ["RPC_URL"], os.path.join(sys.argv[1], "chain")
    os.makedirs(out, exist_ok=True)
    logs = rpc(url, "eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest"}])
    with open(os.path.join(out, "logs-all.json"), "w") as f:
        json.dump(logs, f)
    kinds = {}
    for log in logs:
        if log["topics"]:
            kinds.setdefault(log["topics"][0][:10], []).append(log)
    for topic, group in kinds.items():
        with open(os.path.join(out, f"logs-{topic}.json"), "w") as f:
            json.dump(group, f)
    for tx in sorted({l["transactionHash"] for l in logs}):
        receipt = rpc(url, "eth_getTransactionReceipt", [tx])
        with open(os.path.join(out, f"receipt-{tx[:12]}.json"), "w") as f:
            json.dump(receipt, f)
    print(f"{len(logs)} logs of {len(kinds)} kinds, receipts of {len({l['transactionHash'] for l in logs})} transactions")


if __name__ == "__main__":
    main()
