// Loads the pinned SSV SDK (@ssv-labs/ssv-sdk) from the directory given as the first argument
// (KC_SSV_SDK_DIR, default tools/ssv-sdk), with the SDK's own bls-eth-wasm and class-validator.
'use strict';
const fs = require('fs');
const path = require('path');

function loadSdk(sdkDir) {
  const pkgDir = path.join(sdkDir, 'node_modules', '@ssv-labs', 'ssv-sdk');
  const dist = path.join(pkgDir, 'dist');
  if (!fs.existsSync(dist)) {
    throw new Error(`SSV SDK not found at ${pkgDir}: run \`make tools\``);
  }
  const ksFile = fs.readdirSync(dist).find((f) => /^KeyShares-.*\.js$/.test(f));
  if (!ksFile) throw new Error(`no dist/KeyShares-*.js in ${pkgDir}`);
  const keys = require(path.join(dist, ksFile));
  const bls = require(require.resolve('bls-eth-wasm', { paths: [pkgDir] }));
  const classValidator = require(require.resolve('class-validator', { paths: [pkgDir] }));
  const main = require(path.join(dist, 'main.js'));
  const version = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8')).version;
  return { keys, bls, classValidator, main, version };
}

function fail(msg) {
  process.stderr.write(`FAIL: ${msg}\n`);
  process.exit(1);
}

module.exports = { loadSdk, fail };
