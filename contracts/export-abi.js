#!/usr/bin/env node
// Writes the ABI of each deployable contract from forge's out/ to abi/<Name>.json (committed, so
// the Rust side can use them — e.g. alloy's `sol!` with a JSON ABI — without running forge).
//   node export-abi.js          write abi/*.json
//   node export-abi.js --check  fail if abi/*.json differs from the build (run by test-contracts.sh)
'use strict';
const fs = require('fs');
const path = require('path');
const NAMES = {
  PoolManager: 'PoolManager.sol', PoolETH: 'PoolETH.sol', Oracle: 'Oracle.sol',
  DepositContract: 'DepositContract.sol', SSVNetworkDevnet: 'SSVNetworkDevnet.sol', SSVToken: 'SSVToken.sol',
  SSVNetworkDevnetViews: 'SSVNetworkDevnetViews.sol', SSVNetworkDevnetLegacy: 'SSVNetworkDevnetLegacy.sol',
};
const check = process.argv.includes('--check');
let stale = 0;
fs.mkdirSync(path.join(__dirname, 'abi'), { recursive: true });
for (const [name, file] of Object.entries(NAMES)) {
  const art = JSON.parse(fs.readFileSync(path.join(__dirname, 'out', file, `${name}.json`), 'utf8'));
  const text = JSON.stringify(art.abi, null, 2) + '\n';
  const dest = path.join(__dirname, 'abi', `${name}.json`);
  if (check) {
    if (!fs.existsSync(dest) || fs.readFileSync(dest, 'utf8') !== text) { console.error(`abi/${name}.json is stale: run node export-abi.js`); stale++; }
  } else fs.writeFileSync(dest, text);
}
if (stale) process.exit(1);
console.log(check ? 'abi/*.json up to date' : 'abi/*.json written');
