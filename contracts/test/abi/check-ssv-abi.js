#!/usr/bin/env node
// Checks that every function and event of the devnet SSV network stand-in (and every function of
// the ISSVNetwork interface the PoolManager calls) has the selector / topic — and the indexed
// flags and return types — of the same item in the mainnet SSV network ABI that @ssv-labs/ssv-sdk
// ships (setter = SSVNetwork, getter = SSVNetworkViews). Selectors and topics are computed with
// the SDK's own viem and cross-checked with forge's methodIdentifiers.
// Usage (after `forge build`): node test/abi/check-ssv-abi.js   (run by scripts/test-contracts.sh)
'use strict';
const fs = require('fs');
const path = require('path');
const { loadAbi, signature, sdkDir } = require('./mainnet-abi-signatures.js');

const viem = require(require.resolve('viem', { paths: [sdkDir()] }));
const out = path.join(__dirname, '../../out');
// Devnet-only additions, documented in SSVNetworkDevnet.sol; not on mainnet.
const DEVNET_ONLY = new Set(['getOwnerNonce(address)']);

const mainnet = [...loadAbi('MainnetV4SetterABI'), ...loadAbi('MainnetV4GetterABI')];
const canon = (p) => (p.type.startsWith('tuple') ? `(${p.components.map(canon).join(',')})${p.type.slice(5)}` : p.type);
const byKey = new Map();
for (const it of mainnet) {
  if (it.type !== 'function' && it.type !== 'event') continue;
  const sig = signature(it);
  const id = it.type === 'function' ? viem.toFunctionSelector(sig) : viem.toEventSelector(sig);
  byKey.set(`${it.type}:${id}`, it);
}

function artifact(file, name) {
  const p = path.join(out, file, `${name}.json`);
  if (!fs.existsSync(p)) throw new Error(`${p} missing: run forge build first`);
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

let failures = 0, checked = 0;
function check(label, art, kinds) {
  const ids = art.methodIdentifiers || {};
  for (const it of art.abi) {
    if (!kinds.includes(it.type)) continue;
    const sig = signature(it);
    if (it.type === 'function' && DEVNET_ONLY.has(sig)) continue;
    const id = it.type === 'function' ? viem.toFunctionSelector(sig) : viem.toEventSelector(sig);
    if (it.type === 'function' && ids[sig] !== undefined && `0x${ids[sig]}` !== id) {
      console.error(`FAIL ${label} ${sig}: forge selector 0x${ids[sig]} != viem ${id}`); failures++; continue;
    }
    const m = byKey.get(`${it.type}:${id}`);
    checked++;
    if (!m) { console.error(`FAIL ${label} ${it.type} ${sig} (${id}) is not in the mainnet ABI`); failures++; continue; }
    if (it.type === 'event') {
      const a = it.inputs.map((x) => !!x.indexed).join(), b = m.inputs.map((x) => !!x.indexed).join();
      if (a !== b) { console.error(`FAIL ${label} event ${sig}: indexed ${a} != mainnet ${b}`); failures++; continue; }
    } else {
      const a = (it.outputs || []).map(canon).join(), b = (m.outputs || []).map(canon).join();
      if (a !== b) { console.error(`FAIL ${label} ${sig}: returns (${a}) != mainnet (${b})`); failures++; continue; }
    }
    console.log(`ok   ${label} ${it.type} ${sig} ${id}`);
  }
}

check('SSVNetworkDevnet', artifact('SSVNetworkDevnet.sol', 'SSVNetworkDevnet'), ['function', 'event']);
check('ISSVNetwork', artifact('ISSVNetwork.sol', 'ISSVNetwork'), ['function']);
if (failures) { console.error(`ssv abi: ${failures} mismatch(es)`); process.exit(1); }
console.log(`ssv abi: ${checked} functions/events match the mainnet ABI of @ssv-labs/ssv-sdk`);
