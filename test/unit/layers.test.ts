import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.resolve(__dirname, '../../..');

/** Every relative or bare module a TypeScript file imports or requires. */
function importsOf(file: string): string[] {
  const source = fs.readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const m of source.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|(?:require|import)\(\s*['"]([^'"]+)['"]\s*\)/g,
  )) {
    found.push(m[1] ?? m[2]);
  }
  return found;
}

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(root, dir, f));
}

/** Which layers a layer may import: imports only point downwards. */
const allowed: Record<string, string[]> = {
  core: ['core'],
  tokens: ['tokens', 'core'],
  kimi: ['kimi', 'core'],
  send: ['send', 'kimi', 'tokens', 'core'],
  ui: ['ui', 'send', 'kimi', 'tokens', 'core'],
};

describe('layering', () => {
  it('finds the source files it checks', () => {
    for (const layer of Object.keys(allowed)) assert.ok(filesUnder(`src/${layer}`).length > 0, layer);
  });

  it('src/core, src/tokens and src/send never import vscode', () => {
    for (const file of [...filesUnder('src/core'), ...filesUnder('src/tokens'), ...filesUnder('src/send')]) {
      assert.ok(!importsOf(file).includes('vscode'), `${path.relative(root, file)} imports vscode`);
    }
  });

  it('src/kimi imports neither vscode nor src/ui, and every layer imports only downwards', () => {
    for (const [layer, may] of Object.entries(allowed)) {
      for (const file of filesUnder(`src/${layer}`)) {
        for (const spec of importsOf(file)) {
          if (spec === 'vscode') {
            assert.equal(layer, 'ui', `${path.relative(root, file)} imports vscode`);
            continue;
          }
          if (!spec.startsWith('.')) continue;
          const target = path.relative(path.join(root, 'src'), path.resolve(path.dirname(file), spec)).split(path.sep)[0];
          assert.ok(may.includes(target), `${path.relative(root, file)} (${layer}) imports ${spec} (${target})`);
        }
      }
    }
  });

  it('the import scanner sees both import forms', () => {
    const probe = path.join(root, 'out', 'layers-probe.ts');
    fs.mkdirSync(path.dirname(probe), { recursive: true });
    fs.writeFileSync(probe, "import * as vscode from 'vscode';\nconst x = require('vscode');\nexport { y } from '../ui/z';\n");
    try {
      assert.deepEqual(importsOf(probe), ['vscode', 'vscode', '../ui/z']);
    } finally {
      fs.rmSync(probe);
    }
  });
});
