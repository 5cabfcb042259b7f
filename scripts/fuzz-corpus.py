#!/usr/bin/env python3
"""Derives the fuzz targets' seed inputs from real outputs of the project's tools.

usage: fuzz-corpus.py OUT [--bundle DIR] [--deploy FILE] [--agent-config FILE]
                          [--operators FILE]... [--deposit FILE]... [--keyshares FILE]...
                          [--logs FILE]... [--receipt FILE]... [--beacon FILE]...

Writes OUT/<target>/<name> for the targets of fuzz/src/lib.rs. Inputs that a target reads
with a control byte (bundle, shares_data, operator_key, agent_beacon) get it prepended here,
as documented in each target's module. Used by scripts/fuzz-seeds.sh (fresh outputs, at fuzz
time) and to refresh the committed fuzz/corpus from fuzz/seeds.
"""
import argparse
import base64
import hashlib
import json
import os
import sys

FILES = [
    "plan.toml", "operators.json", "deposit_data.json", "keyshares.json",
    "transcript.jsonl", "sealed/master.seal", "manifest.json", "manifest.sig",
]
# DER prefix of an RSA-2048 SubjectPublicKeyInfo; what follows is the PKCS#1 RSAPublicKey.
SPKI_RSA2048_PREFIX = bytes.fromhex("30820122300d06092a864886f70d01010105000382010f00")


def put(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def pem(label, der):
    b = base64.b64encode(der).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def operator_key_seeds(out, tag, operators):
    """operators: [(id, network-encoded key)]"""
    for oid, key in operators:
        idb = bytes([oid % 256])
        put(out, "operator_key", f"{tag}-{oid}-network", idb + key.encode())
        text = base64.b64decode(key).decode()
        put(out, "operator_key", f"{tag}-{oid}-pem", idb + text.encode())
        body = "".join(l for l in text.splitlines() if l and not l.startswith("-----"))
        der = base64.b64decode(body)
        if der.startswith(SPKI_RSA2048_PREFIX):
            pkcs1 = der[len(SPKI_RSA2048_PREFIX):]
            spki = der
        else:
            pkcs1, spki = der, SPKI_RSA2048_PREFIX + der
        for label, d, name in [("RSA PUBLIC KEY", pkcs1, "pkcs1"), ("PUBLIC KEY", spki, "spki")]:
            put(out, "operator_key", f"{tag}-{oid}-{name}",
                idb + base64.b64encode(pem(label, d).encode()))


def keyshares_seeds(out, tag, data):
    put(out, "keyshares", tag, data)
    ks = json.loads(data)
    for i, item in enumerate(ks.get("shares") or []):
        n = len(item["payload"]["operatorIds"])
        pick = {4: 0, 7: 1, 10: 2, 13: 3}.get(n, 0)
        sd = bytes.fromhex(item["payload"]["sharesData"][2:])
        put(out, "shares_data", f"{tag}-{i}", bytes([pick]) + sd)
        if i == 0:
            put(out, "shares_data", f"{tag}-{i}-hex",
                bytes([pick]) + item["payload"]["sharesData"].encode())
        ops = [(o["id"], o["operatorKey"]) for o in item["data"]["operators"]]
        if i == 0:
            operator_key_seeds(out, tag, ops)


def bundle_seeds(out, bundle):
    files = {f: read(os.path.join(bundle, f)) for f in FILES}
    for i, f in enumerate(FILES):
        short = f.replace("/", "_")
        put(out, "bundle", f"pinned-{short}", bytes([i]) + files[f])
        put(out, "bundle", f"rekeyed-{short}", bytes([i | 8]) + files[f])
    put(out, "bundle", "remove-keyshares", bytes([0x10 | 3]))
    put(out, "bundle", "extra-file", bytes([0x20 | 0]) + b"{}\n")
    put(out, "bundle", "symlink-plan", bytes([0x30 | 0]))
    put(out, "plan", "bundle-plan.toml", files["plan.toml"])
    put(out, "operators", "bundle-pinned.json", files["operators.json"])
    put(out, "manifest", "manifest.json", files["manifest.json"])
    put(out, "manifest_sig", "manifest.sig", files["manifest.sig"])
    put(out, "transcript", "transcript.jsonl", files["transcript.jsonl"])
    put(out, "deposit_data", "bundle-deposit_data.json", files["deposit_data.json"])
    put(out, "seal", "master.seal", files["sealed/master.seal"])
    keyshares_seeds(out, "bundle", files["keyshares.json"])
    # Plan variants: every section and option the plan reference documents.
    plan = files["plan.toml"].decode()
    variants = {
        "custom-network.toml": plan.replace('network = "hoodi"',
                                            'network = "custom"\nfork_version = "0x10000999"'),
        "compounding.toml": plan.replace('withdrawal_type = "0x01"', 'withdrawal_type = "0x02"')
                                .replace("amount_gwei = 32000000000", "amount_gwei = 2048000000000"),
        "mnemonic.toml": plan.replace('source = "hsm"',
                                      'source = "mnemonic"\nmnemonic_file = "words.txt"'),
        "unpinned-labels.toml": plan.replace('token_label = "ceremony"',
                                             'token_label = "ceremony"\nseal_key_label = "s"\n'
                                             'identity_key_label = "i"')
                                    + "",
        "extend.toml": plan.replace("start_index = 0", "start_index = 4294967292")
                           .replace("owner_nonce = 0", "owner_nonce = 65532"),
    }
    for name, text in variants.items():
        put(out, "plan", name, text)
    deposits = json.loads(files["deposit_data.json"])
    beacon_seeds(out, "bundle", ["0x" + d["pubkey"] for d in deposits])


def beacon_seeds(out, tag, pubkeys):
    genesis = {"data": {"genesis_time": "1742213400",
                        "genesis_validators_root": "0x" + "ab" * 32,
                        "genesis_fork_version": "0x10000910"}}
    put(out, "agent_beacon", f"{tag}-genesis", b"\x01" + json.dumps(genesis).encode())
    far = "18446744073709551615"
    data = [{"index": str(1000 + i), "balance": "32010000000", "status": "active_ongoing",
             "validator": {"pubkey": pk, "withdrawal_credentials": "0x01" + "00" * 31,
                           "effective_balance": "32000000000", "slashed": False,
                           "activation_eligibility_epoch": "0", "activation_epoch": "0",
                           "exit_epoch": far, "withdrawable_epoch": far}}
            for i, pk in enumerate(pubkeys)]
    if data:
        data[-1]["status"] = "withdrawal_done"
    body = {"execution_optimistic": False, "finalized": True, "data": data}
    put(out, "agent_beacon", f"{tag}-validators", bytes([len(pubkeys) << 1]) + json.dumps(body).encode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--bundle")
    ap.add_argument("--deploy")
    ap.add_argument("--agent-config")
    ap.add_argument("--operators", action="append", default=[])
    ap.add_argument("--deposit", action="append", default=[])
    ap.add_argument("--keyshares", action="append", default=[])
    ap.add_argument("--logs", action="append", default=[])
    ap.add_argument("--receipt", action="append", default=[])
    ap.add_argument("--beacon", action="append", default=[])
    a = ap.parse_args()
    out = a.out
    if a.bundle:
        bundle_seeds(out, a.bundle)
    for p in a.operators:
        put(out, "operators", os.path.basename(p), read(p))
    for p in a.deposit:
        put(out, "deposit_data", os.path.basename(p), read(p))
    for p in a.keyshares:
        tag = hashlib.sha256(read(p)).hexdigest()[:8]
        keyshares_seeds(out, f"sdk-{tag}", read(p))
    for p in a.logs:
        put(out, "agent_logs", os.path.basename(p), read(p))
    for p in a.receipt:
        put(out, "agent_receipt", os.path.basename(p), read(p))
    for p in a.beacon:
        put(out, "agent_beacon", os.path.basename(p), read(p))
    if a.agent_config:
        text = read(a.agent_config).decode()
        lines = [l for l in text.splitlines() if not l.startswith("deployment")]
        lines.insert(0, 'deployment = "deploy.json"')
        put(out, "agent_config", "agent.toml", "\n".join(lines) + "\n")
        put(out, "agent_config", "agent-policy.toml", "\n".join(lines) + """
[gas]
max_fee_per_gas_gwei = 100
max_priority_fee_per_gas_gwei = 2
max_gas_per_tx = 20000000

[policy]
chain_id = 31337
max_value_per_tx_gwei = 0
max_validators_per_day = 50

[[policy.allow]]
target = "pool_manager"
functions = ["stake(bytes32,uint64[],(bytes,bytes,bytes32,bytes,bytes32[])[],bytes32,uint256,(uint32,uint64,uint64,bool,uint256))", "0x12345678"]
""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
