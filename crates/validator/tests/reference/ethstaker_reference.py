"""Reference outputs from ethstaker-deposit 1.3.1 (PyPI `ethstaker-deposit`), for kc-validator's
cross-check test (tests/it/reference.rs).

Reads one JSON request on stdin:
  {"cases": [{"mnemonic": str, "passphrase": str,
              "network": "mainnet" | "sepolia" | "hoodi" |
                         {"name": str, "genesis_fork_version": hex, "exit_fork_version": hex,
                          "genesis_validators_root": hex},
              "start_index": int, "count": int, "amount": int (gwei),
              "compounding": bool, "withdrawal_address": "0x...",
              "exits": [{"offset": int, "validator_index": int, "epoch": int}]}]}
Writes one JSON object on stdout:
  {"version": str, "cases": [{"deposit_file": str, "deposits": [dict], "exit_files": [str]}]}
where `deposit_file` and `exit_files` are the exact bytes (UTF-8) of the files the tool writes
(through its own export functions), and `deposits` are the datum dicts with bytes as hex.
Only the library API is used (the CLI does not run from the wheel).
"""
import json
import os
import sys
import tempfile

from ethstaker_deposit import __version__
from ethstaker_deposit.credentials import Credential
from ethstaker_deposit.settings import get_chain_setting, get_devnet_chain_setting
from ethstaker_deposit.utils.export_data import export_deposit_data_json


def chain_setting(network):
    if isinstance(network, str):
        return get_chain_setting(network)
    return get_devnet_chain_setting(
        network_name=network["name"],
        genesis_fork_version=network["genesis_fork_version"],
        exit_fork_version=network["exit_fork_version"],
        genesis_validator_root=network["genesis_validators_root"],
    )


def hexed(d):
    return {k: (v.hex() if isinstance(v, (bytes, bytearray)) else v) for k, v in d.items()}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def run_case(case, tmp):
    setting = chain_setting(case["network"])
    creds = [
        Credential(
            mnemonic=case["mnemonic"],
            mnemonic_password=case["passphrase"],
            index=case["start_index"] + i,
            amount=case["amount"],
            chain_setting=setting,
            hex_withdrawal_address=case["withdrawal_address"],
            compounding=case["compounding"],
        )
        for i in range(case["count"])
    ]
    datums = [c.deposit_datum_dict for c in creds]
    folder = tempfile.mkdtemp(dir=tmp)
    deposit_file = read(export_deposit_data_json(folder, 1700000000, datums))
    exit_files = []
    for ex in case.get("exits", []):
        folder = tempfile.mkdtemp(dir=tmp)
        path = creds[ex["offset"]].save_exit_transaction(
            validator_index=ex["validator_index"], epoch=ex["epoch"], folder=folder, timestamp=1700000000
        )
        exit_files.append(read(path))
    return {"deposit_file": deposit_file, "deposits": [hexed(d) for d in datums], "exit_files": exit_files}


def main():
    request = json.load(sys.stdin)
    with tempfile.TemporaryDirectory() as tmp:
        out = {"version": __version__, "cases": [run_case(c, tmp) for c in request["cases"]]}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
