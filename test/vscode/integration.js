#!/usr/bin/env node
'use strict';
// The integration suite (out/test/integration) inside a real VS Code 1.96.4, against the packaged
// .vsix: `npm run test:integration` (the .vsix and the compiled tests must exist; `npm test` makes them).
// With --lane=1.106: the chat suite alone, inside VS Code 1.106.3 (`npm run test:chat`).
const path = require('path');
const { runTests } = require('./runTests');

const root = path.resolve(__dirname, '../..');

async function main() {
  const started = Date.now();
  const laneArg = process.argv.find((a) => a.startsWith('--lane='));
  const lane = laneArg ? laneArg.slice('--lane='.length) : undefined;
  const code = await runTests({
    lane,
    vsix: path.join(root, '.vscode-test', 'kimi-budget.vsix'),
    extensionTestsPath: path.join(root, 'out', 'test', 'integration', 'index.js'),
    // The suite starts its own Moonshot-like server inside the extension host, accepting this key.
    env: {
      MOONSHOT_API_KEY: 'sk-integration-test-key',
      KIMI_INTEGRATION_GREP: process.env.KIMI_INTEGRATION_GREP || '',
      KIMI_INTEGRATION_SUITE: lane === '1.106' ? 'chat' : '',
      KIMI_SCREENSHOTS_DIR: path.join(root, 'artifacts'),
    },
    screenshotsDir: path.join(root, 'artifacts'),
    timeoutMs: 8 * 60 * 1000,
  });
  console.log(`[integration${lane ? ` ${lane}` : ''}] exit code ${code} after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(code);
}

main().catch((error) => {
  console.error(`[integration] ${error && error.stack ? error.stack : error}`);
  process.exit(2);
});
