// The layering of src/ is a lint rule (eslint.config.mjs, said once there). These tests show the
// rule bites: an import that points upwards, in any form, and `vscode` below the adapters.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { ESLint } from 'eslint';

const root = path.resolve(__dirname, '../../..');
/** The rule's own table: which layers each layer of src/ may import. */
const { LAYERS } = require(path.join(root, 'eslint.config.mjs')) as { LAYERS: Record<string, string[]> };

/** What the linter says of `source` as if it were a file of `layer` (a file that exists there, so that type information is at hand). */
async function restrictedImports(eslint: ESLint, layer: string, source: string): Promise<string[]> {
  const file = (
    {
      core: 'clock.ts',
      webview: 'protocol.ts',
      tokens: 'protocol.ts',
      kimi: 'json.ts',
      account: 'accountSwitch.ts',
      send: 'sessionCost.ts',
      ui: 'api.ts',
    } as Record<string, string>
  )[layer];
  const [result] = await eslint.lintText(source, { filePath: path.join(root, 'src', layer, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layering (the lint rule)', function () {
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: root });

  it('the table keeps core at the bottom and every layer below ui', () => {
    assert.deepEqual(LAYERS.core, []);
    for (const [layer, may] of Object.entries(LAYERS)) assert.ok(!may.includes('ui'), `${layer} may not import ui`);
  });

  for (const [layer, may] of Object.entries(LAYERS)) {
    const others = Object.keys(LAYERS).filter((other) => other !== layer && !may.includes(other));
    it(`src/${layer} may import ${[layer, ...may].join(', ')}${others.length ? `, not ${others.join(' or ')}` : ''}${layer === 'ui' ? '' : ', nor vscode'}`, async () => {
      const importsOf = (other: string) => [
        `import { a } from '../${other}/x';`,
        `import '../${other}/y';`,
        `export * from '../${other}';`,
      ];
      const allowed = [layer, ...may].flatMap(importsOf);
      const refused = others.flatMap(importsOf);
      assert.deepEqual(await restrictedImports(eslint, layer, allowed.join('\n')), [], 'imports downwards and within the layer pass');
      const said = await restrictedImports(eslint, layer, refused.join('\n'));
      assert.equal(
        said.length,
        refused.length,
        `every other import is refused, side-effect and re-export forms included: ${said.join(' / ')}`,
      );
      const vscode = await restrictedImports(eslint, layer, "import * as vscode from 'vscode';\nexport const v = vscode;");
      assert.equal(vscode.length, layer === 'ui' ? 0 : 1, vscode.join(' / '));
    });
  }
});
