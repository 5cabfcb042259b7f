// Reads a keyshares.json written by kc-ssv with the SSV SDK and checks that the SDK accepts
// every entry: KeyShares.fromJson (records per-item errors), class-validator's full async
// validation of each item, KeySharesItem.validateSingleShares (the ownership signature), and the
// SDK's validateKeysharesJSON (what its register flow runs: no errors, unique validators, operator
// keys as published, signatures, consistent operator ids).
// Also a negative control: the SDK must reject an entry whose nonce was changed.
//
// usage: node validate_keyshares.js SDK_DIR KEYSHARES_JSON EXPECT_JSON
//   EXPECT_JSON: {"count": N, "owner": "0x…", "operators": [{"id": 17, "publicKey": "…"}]}
'use strict';
const fs = require('fs');
const { loadSdk, fail } = require('./sdk.js');

(async () => {
  const [sdkDir, file, expectFile] = process.argv.slice(2);
  const { keys, bls, classValidator, main, version } = loadSdk(sdkDir);
  // The SDK only initialises its bls-eth-wasm instance when it signs: do it ourselves.
  await bls.init(bls.BLS12_381);
  const text = fs.readFileSync(file, 'utf8');
  const expect = JSON.parse(fs.readFileSync(expectFile, 'utf8'));

  const ks = await keys.KeyShares.fromJson(text);
  const items = ks.list();
  if (items.length !== expect.count) fail(`expected ${expect.count} items, SDK read ${items.length}`);
  for (const [i, item] of items.entries()) {
    if (item.error) fail(`item ${i}: fromJson recorded an error: ${item.error.message}`);
    const errors = await classValidator.validate(item);
    if (errors.length) fail(`item ${i}: class-validator: ${JSON.stringify(errors)}`);
    if (typeof item.data.ownerNonce !== 'number') fail(`item ${i}: ownerNonce is not a number`);
    if (!item.payload.operatorIds.every(Number.isInteger)) fail(`item ${i}: operatorIds not integers`);
    await item.validateSingleShares(item.payload.sharesData, {
      ownerAddress: item.data.ownerAddress,
      ownerNonce: item.data.ownerNonce,
      publicKey: item.data.publicKey,
    });
  }

  const utils = main.createUtils({});
  const validated = await utils.validateKeysharesJSON({
    account: expect.owner,
    operators: expect.operators.map((o) => ({ id: String(o.id), publicKey: o.publicKey })),
    keyshares: text,
  });
  if (validated.length !== expect.count) fail(`validateKeysharesJSON returned ${validated.length}`);

  // Negative control: a wrong nonce must be rejected by the same SDK call.
  const first = items[0];
  let rejected = false;
  try {
    await first.validateSingleShares(first.payload.sharesData, {
      ownerAddress: first.data.ownerAddress,
      ownerNonce: first.data.ownerNonce + 1,
      publicKey: first.data.publicKey,
    });
  } catch (e) {
    rejected = true;
  }
  if (!rejected) fail('negative control: SDK accepted a signature for the wrong nonce');

  process.stdout.write(JSON.stringify({ ok: true, sdkVersion: version, items: items.length }) + '\n');
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
