// Prints the canonical signatures of the SSV network mainnet ABI shipped in @ssv-labs/ssv-sdk.
// Used by check-ssv-abi.js; run alone to list them: node test/abi/mainnet-abi-signatures.js
'use strict';
const fs = require('fs');
const path = require('path');

function sdkDir() {
  const root = process.env.KC_SSV_SDK_DIR || path.join(__dirname, '../../../tools/ssv-sdk');
  return path.join(root, 'node_modules/@ssv-labs/ssv-sdk');
}

// The ABIs are module-private constants in dist/main.js: cut each array literal out and evaluate it.
function loadAbi(name) {
  const src = fs.readFileSync(path.join(sdkDir(), 'dist/main.js'), 'utf8');
  const start = src.indexOf(`const ${name} = [`);
  if (start < 0) throw new Error(`${name} not found in ssv-sdk dist/main.js`);
  let i = src.indexOf('[', start), depth = 0, end = -1;
  for (let j = i; j < src.length; j++) {
    const c = src[j];
    if (c === '"' || c === "'") { const q = c; j++; while (src[j] !== q) { if (src[j] === '\\') j++; j++; } continue; }
    if (c === '[') depth++;
    else if (c === ']') { depth--; if (depth === 0) { end = j + 1; break; } }
  }
  return Function(`"use strict"; return (${src.slice(i, end)});`)();
}

function canonicalType(p) {
  if (p.type.startsWith('tuple')) return `(${p.components.map(canonicalType).join(',')})${p.type.slice(5)}`;
  return p.type;
}
function signature(item) { return `${item.name}(${item.inputs.map(canonicalType).join(',')})`; }

module.exports = { loadAbi, signature, sdkDir };

if (require.main === module) {
  for (const name of process.argv.slice(2).length ? process.argv.slice(2) : ['MainnetV4SetterABI', 'MainnetV4GetterABI']) {
    for (const it of loadAbi(name)) if (it.type === 'function' || it.type === 'event')
      console.log(name, it.type, signature(it), it.type === 'event' ? it.inputs.map(x => x.indexed ? 'i' : '-').join('') : (it.outputs || []).map(canonicalType).join(','));
  }
}
