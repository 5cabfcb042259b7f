// The SSV SDK's own rate at what the ceremony does per validator for SSV: Shamir split, encrypt
// each share to its operator, sign ownership (SSVKeys.buildShares + KeySharesItem.buildPayload,
// as the SDK's generateKeyShares does), on the operators file the ceremony bench uses. Node runs
// it on one thread; the bench script pins it to one core (taskset) for the single-core rate.
//
// usage: node scripts/bench-sdk.js SDK_DIR OPERATORS_JSON COUNT [WARMUP]
//   OPERATORS_JSON: [{"id": 11, "public_key": "<base64 PEM as on chain>"}, …] (the plan's file)
// prints one JSON line: {"validators", "seconds", "per_second", "ms_per_validator",
//   "cpu_ms_per_validator" (user + system time of the process), "operators"}
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { loadSdk, fail } = require(path.join(__dirname, '..', 'crates', 'ssv', 'tests', 'interop', 'sdk.js'));

// A random BLS secret key below the group order r (0x73ed…): a first byte below 0x73 suffices.
function secretKey() {
  const b = crypto.randomBytes(32);
  b[0] = (b[0] % 0x72) + 1;
  return '0x' + b.toString('hex');
}

(async () => {
  const [sdkDir, opsFile, countArg, warmupArg] = process.argv.slice(2);
  const count = Number(countArg);
  const warmup = Number(warmupArg || 20);
  if (!sdkDir || !opsFile || !(count > 0)) fail('usage: bench-sdk.js SDK_DIR OPERATORS_JSON COUNT [WARMUP]');
  const { keys } = loadSdk(sdkDir);
  let ops = JSON.parse(fs.readFileSync(opsFile, 'utf8'));
  if (!Array.isArray(ops)) ops = ops.operators;
  const operators = ops
    .map((o) => ({ id: o.id, operatorKey: o.public_key }))
    .sort((a, b) => a.id - b.id);
  const owner = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';

  async function one(nonce) {
    const privateKey = secretKey();
    const ssvKeys = new keys.SSVKeys();
    const encryptedShares = await ssvKeys.buildShares(privateKey, operators);
    const threshold = ssvKeys.getThreshold();
    const item = new keys.KeySharesItem();
    await item.buildPayload(
      { publicKey: threshold.publicKey, operators, encryptedShares },
      { ownerAddress: owner, ownerNonce: nonce, privateKey },
    );
    return item;
  }

  for (let i = 0; i < warmup; i++) await one(i);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await one(warmup + i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(
    JSON.stringify({
      validators: count,
      seconds,
      per_second: count / seconds,
      ms_per_validator: (seconds * 1000) / count,
      cpu_ms_per_validator: (cpuSeconds * 1000) / count,
      operators: operators.length,
    }) + '\n',
  );
})().catch((e) => fail(e && e.stack ? e.stack : String(e)));
