"""Independent check of kc-ssv share encryption, emulating the SSV node (ssvlabs/ssv).

`keygen N`  prints N fresh RSA-2048 operator key pairs as JSON:
            [{"public_key": <network encoding: base64 of PEM "RSA PUBLIC KEY" around SPKI>,
              "private_key_pem": <PKCS#1 PEM>}]
`decrypt F` reads F = {"operators": [{"id", "private_key_pem"}],
                       "shares": [{"id", "ciphertext": hex, "share_public_key": hex}]}
            and for every share does what the node does on a ValidatorAdded event
            (ekm AddShare / ssv-signer keystoreJSONFromEncryptedShare):
              1. RSA PKCS#1 v1.5 decryption with the operator's private key (pyca/cryptography);
              2. plaintext = ASCII "0x" + hex; strip "0x", hex-decode, must be 32 bytes, a scalar < r;
              3. the share's public key (py_ecc, sk * G1, compressed) must equal share_public_key.
            Prints {"shares": [{"id", "secret": hex}]} (test keys only).
"""
import base64
import json
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFEFFFE5BFEFFFFFFFF00000001


def network_encoding(public_key):
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    body = base64.b64encode(spki).decode()
    lines = "".join(body[i : i + 64] + "\n" for i in range(0, len(body), 64))
    pem = "-----BEGIN RSA PUBLIC KEY-----\n" + lines + "-----END RSA PUBLIC KEY-----\n"
    return base64.b64encode(pem.encode()).decode()


def keygen(n):
    out = []
    for _ in range(n):
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        out.append(
            {
                "public_key": network_encoding(k.public_key()),
                "private_key_pem": k.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                ).decode(),
            }
        )
    return out


def fail(msg):
    sys.stderr.write("FAIL: " + msg + "\n")
    sys.exit(1)


def decrypt(spec):
    from py_ecc.bls import G2ProofOfPossession as bls  # the Ethereum ciphersuite

    keys = {
        o["id"]: serialization.load_pem_private_key(o["private_key_pem"].encode(), None)
        for o in spec["operators"]
    }
    out = []
    for s in spec["shares"]:
        op = s["id"]
        ct = bytes.fromhex(s["ciphertext"])
        if len(ct) != 256:
            fail(f"operator {op}: ciphertext is {len(ct)} bytes")
        plaintext = keys[op].decrypt(ct, padding.PKCS1v15())
        text = plaintext.decode("ascii")
        if not text.startswith("0x"):
            fail(f"operator {op}: plaintext has no 0x prefix")
        if len(text) != 66 or text != text.lower():
            fail(f"operator {op}: plaintext is not 0x + 64 lower-case hex digits")
        secret = bytes.fromhex(text[2:])  # like Go's hex.DecodeString after TrimPrefix("0x")
        value = int.from_bytes(secret, "big")
        if not 0 < value < CURVE_ORDER:
            fail(f"operator {op}: share is not a valid secret key")
        pk = bls.SkToPk(value)
        if pk.hex() != s["share_public_key"].removeprefix("0x"):
            fail(f"operator {op}: share private key does not match public key")
        out.append({"id": op, "secret": secret.hex()})
    return {"shares": out}


if __name__ == "__main__":
    if sys.argv[1] == "keygen":
        json.dump(keygen(int(sys.argv[2])), sys.stdout)
    elif sys.argv[1] == "decrypt":
        with open(sys.argv[2]) as f:
            json.dump(decrypt(json.load(f)), sys.stdout)
    else:
        fail("usage: node_emulation.py keygen N | decrypt FILE")
