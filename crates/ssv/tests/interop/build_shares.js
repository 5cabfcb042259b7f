// Builds keyshares with the SSV SDK itself, for kc-ssv to read and verify: fresh RSA-2048 operator
// keys (Node's crypto, SPKI body under the network's "RSA PUBLIC KEY" label, base64), then for each
// validator SSVKeys.buildShares + KeySharesItem.buildPayload with consecutive nonces, as the SDK's
// own generateKeyShares does.
//
// usage: node build_shares.js SDK_DIR SPEC_JSON OUT_DIR
//   SPEC_JSON: {"validators": ["0x<secret hex>", …], "operatorIds": [4242, 17, …],
//               "owner": "0x…", "nonce": 5}
//   writes OUT_DIR/keyshares.json and OUT_DIR/operators.json ([{id, operatorKey, privateKeyPem}])
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { loadSdk, fail } = require('./sdk.js');

(async () => {
  const [sdkDir, specFile, outDir] = process.argv.slice(2);
  const { keys } = loadSdk(sdkDir);
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'));

  const operators = spec.operatorIds.map((id) => {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const pem = publicKey.replace(/PUBLIC KEY-----/g, 'RSA PUBLIC KEY-----');
    return { id, operatorKey: Buffer.from(pem).toString('base64'), privateKeyPem: privateKey };
  });
  const sdkOperators = operators.map(({ id, operatorKey }) => ({ id, operatorKey }));

  const keyShares = new keys.KeyShares();
  for (const [i, privateKey] of spec.validators.entries()) {
    const ssvKeys = new keys.SSVKeys();
    const encryptedShares = await ssvKeys.buildShares(privateKey, sdkOperators);
    const threshold = ssvKeys.getThreshold();
    const item = new keys.KeySharesItem();
    const ownerNonce = spec.nonce + i;
    await item.buildPayload(
      { publicKey: threshold.publicKey, operators: sdkOperators, encryptedShares },
      { ownerAddress: spec.owner, ownerNonce, privateKey },
    );
    item.update({ ownerAddress: spec.owner, ownerNonce, operators: sdkOperators, publicKey: threshold.publicKey });
    keyShares.add(item);
  }
  fs.writeFileSync(path.join(outDir, 'keyshares.json'), keyShares.toJson());
  fs.writeFileSync(path.join(outDir, 'operators.json'), JSON.stringify(operators, null, 2));
  process.stdout.write(JSON.stringify({ ok: true, validators: spec.validators.length }) + '\n');
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
