#!/usr/bin/env node
// Checks the devnet SSV network stand-in and the pool's ISSVNetwork interface against the real
// SSV network's interfaces:
// - v2.0.0 (today's network): every function, event and error of SSVNetworkDevnet and of its
//   views module SSVNetworkDevnetViews, and every function of ISSVNetwork, must be the same item
//   of ssv-network-v2.0.0.txt (transcribed from the v2.0.0 interfaces): same selector / topic,
//   state mutability (payable or not, view), return types, indexed flags;
// - v1 (legacy mode): every function of the legacy module SSVNetworkDevnetLegacy must be in the
//   mainnet v1 ABI that @ssv-labs/ssv-sdk ships (setter = SSVNetwork, getter = SSVNetworkViews).
// Selectors and topics are computed with the SDK's own viem and cross-checked with forge's
// methodIdentifiers, and the v2 selectors measured on the real contracts are asserted.
// Usage (after `forge build`): node test/abi/check-ssv-abi.js   (run by scripts/test-contracts.sh)
'use strict';
const fs = require('fs');
const path = require('path');
const { loadAbi, signature, sdkDir } = require('./mainnet-abi-signatures.js');

const viem = require(require.resolve('viem', { paths: [sdkDir()] }));
const out = path.join(__dirname, '../../out');
// Devnet-only additions, documented in SSVNetworkDevnet.sol; not on mainnet.
const DEVNET_ONLY = new Set(['getOwnerNonce(address)', 'upgradeToV2()']);
// Measured on the real v2 contracts (FACTS.md) and in the v2 node binding.
const MEASURED_V2 = {
  'registerValidator(bytes,uint64[],bytes,(uint32,uint64,uint64,bool,uint256))': '0xb84319fd',
  'deposit(address,uint64[],(uint32,uint64,uint64,bool,uint256))': '0x45f47188',
  'reactivate(uint64[],(uint32,uint64,uint64,bool,uint256))': '0xea7844ff',
  'migrateClusterToETH(uint64[],(uint32,uint64,uint64,bool,uint256))': '0x36e87b12',
};
// The v1 selectors the pool called before v2; they must not exist on the v2 side.
const GONE_IN_V2 = ['0x06e8fb9c', '0x22f18bf5', '0xbc26e7e5', '0x5fec6dd0'];

const canon = (p) => (p.type.startsWith('tuple') ? `(${p.components.map(canon).join(',')})${p.type.slice(5)}` : p.type);
let failures = 0, checked = 0;
const fail = (m) => { console.error(`FAIL ${m}`); failures++; };

function artifact(file, name) {
  const p = path.join(out, file, `${name}.json`);
  if (!fs.existsSync(p)) throw new Error(`${p} missing: run forge build first`);
  return JSON.parse(fs.readFileSync(p, 'utf8'));
}

// ---- the v2.0.0 reference
function parseTypes(s) { // split a top-level comma list, keeping nested tuples
  const outT = []; let depth = 0, cur = '';
  for (const c of s) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) { outT.push(cur); cur = ''; } else cur += c;
  }
  if (cur) outT.push(cur);
  return outT;
}
const v2 = new Map(); // key kind:selector → {sig, mutability, outputs, indexed}
for (const raw of fs.readFileSync(path.join(__dirname, 'ssv-network-v2.0.0.txt'), 'utf8').split('\n')) {
  const line = raw.trim();
  if (!line || line.startsWith('#')) continue;
  let m;
  if ((m = line.match(/^function (\S+\)) (nonpayable|payable|view|pure) returns \((.*)\)$/))) {
    v2.set(`function:${viem.toFunctionSelector(m[1])}`, { sig: m[1], mutability: m[2], outputs: m[3] });
  } else if ((m = line.match(/^event (\w+)\((.*)\)$/))) {
    const params = parseTypes(m[2]);
    const types = params.map((p) => p.replace(/ indexed$/, ''));
    const sig = `${m[1]}(${types.join(',')})`;
    v2.set(`event:${viem.toEventSelector(sig)}`, { sig, indexed: params.map((p) => p.endsWith(' indexed')).join() });
  } else if ((m = line.match(/^error (\S+\))$/))) {
    v2.set(`error:${viem.toFunctionSelector(m[1])}`, { sig: m[1] });
  } else {
    throw new Error(`ssv-network-v2.0.0.txt: cannot parse ${JSON.stringify(line)}`);
  }
}
for (const [sig, sel] of Object.entries(MEASURED_V2)) {
  if (viem.toFunctionSelector(sig) !== sel) fail(`measured selector of ${sig} is ${sel}, viem computes ${viem.toFunctionSelector(sig)}`);
  if (!v2.has(`function:${sel}`)) fail(`the v2 reference lacks ${sig} (${sel})`);
}
for (const sel of GONE_IN_V2) if (v2.has(`function:${sel}`)) fail(`the v2 reference lists the v1 selector ${sel}`);

// A single static tuple output encodes like its fields one by one.
const outputsOf = (it) => {
  const o = (it.outputs || []).map(canon).join(',');
  return o;
};
const sameOutputs = (a, b) => a === b || `(${a})` === b || a === `(${b})`;

function checkV2(label, art, kinds) {
  const ids = art.methodIdentifiers || {};
  for (const it of art.abi) {
    if (!kinds.includes(it.type)) continue;
    const sig = signature(it);
    if (it.type === 'function' && DEVNET_ONLY.has(sig)) continue;
    const id = it.type === 'event' ? viem.toEventSelector(sig) : viem.toFunctionSelector(sig);
    if (it.type === 'function' && ids[sig] !== undefined && `0x${ids[sig]}` !== id) {
      fail(`${label} ${sig}: forge selector 0x${ids[sig]} != viem ${id}`); continue;
    }
    checked++;
    if (it.type === 'function' && GONE_IN_V2.includes(id)) { fail(`${label} ${sig} (${id}) is a v1 selector gone in v2`); continue; }
    const m = v2.get(`${it.type}:${id}`);
    if (!m) { fail(`${label} ${it.type} ${sig} (${id}) is not in the v2.0.0 interfaces`); continue; }
    if (it.type === 'event') {
      const a = it.inputs.map((x) => !!x.indexed).join();
      if (a !== m.indexed) { fail(`${label} event ${sig}: indexed ${a} != v2.0.0 ${m.indexed}`); continue; }
    } else if (it.type === 'function') {
      const mut = it.stateMutability;
      const okMut = mut === m.mutability || (['view', 'pure'].includes(mut) && ['view', 'pure'].includes(m.mutability));
      if (!okMut) { fail(`${label} ${sig}: ${mut} != v2.0.0 ${m.mutability}`); continue; }
      if (!sameOutputs(outputsOf(it), m.outputs)) { fail(`${label} ${sig}: returns (${outputsOf(it)}) != v2.0.0 (${m.outputs})`); continue; }
    }
    console.log(`ok   v2 ${label} ${it.type} ${sig} ${id}`);
  }
}

// ---- v1 (legacy module) against the SDK's mainnet ABI
const mainnet = [...loadAbi('MainnetV4SetterABI'), ...loadAbi('MainnetV4GetterABI')];
const v1 = new Map();
for (const it of mainnet) {
  if (it.type !== 'function') continue;
  v1.set(viem.toFunctionSelector(signature(it)), it);
}
function checkV1(label, art) {
  for (const it of art.abi) {
    if (it.type !== 'function') continue;
    const sig = signature(it);
    const id = viem.toFunctionSelector(sig);
    checked++;
    const m = v1.get(id);
    if (!m) { fail(`${label} ${sig} (${id}) is not in the v1 mainnet ABI`); continue; }
    const a = outputsOf(it), b = (m.outputs || []).map(canon).join(',');
    if (a !== b) { fail(`${label} ${sig}: returns (${a}) != v1 mainnet (${b})`); continue; }
    console.log(`ok   v1 ${label} function ${sig} ${id}`);
  }
}

const entry = artifact('SSVNetworkDevnet.sol', 'SSVNetworkDevnet');
checkV2('SSVNetworkDevnet', entry, ['function', 'event', 'error']);
checkV2('SSVNetworkDevnetViews', artifact('SSVNetworkDevnetViews.sol', 'SSVNetworkDevnetViews'), ['function']);
const pool = artifact('ISSVNetwork.sol', 'ISSVNetwork');
checkV2('ISSVNetwork', pool, ['function']);
checkV1('SSVNetworkDevnetLegacy', artifact('SSVNetworkDevnetLegacy.sol', 'SSVNetworkDevnetLegacy'));
// What the pool relies on must be there (a check that cannot pass on an empty interface).
for (const sig of Object.keys(MEASURED_V2)) {
  if (!pool.abi.some((it) => it.type === 'function' && signature(it) === sig)) fail(`ISSVNetwork lacks ${sig}`);
  if (!entry.abi.some((it) => it.type === 'function' && signature(it) === sig)) fail(`SSVNetworkDevnet lacks ${sig}`);
}
if (failures) { console.error(`ssv abi: ${failures} mismatch(es)`); process.exit(1); }
console.log(`ssv abi: ${checked} functions/events/errors match the SSV network v2.0.0 interfaces (entry, views, ISSVNetwork) and the v1 mainnet ABI of @ssv-labs/ssv-sdk (legacy module)`);
