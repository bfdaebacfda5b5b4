// Runs the integration suite inside a real VS Code extension host: through the web workbench's
// `extensionTestsPath` here (test/vscode/runTests.js), or through @vscode/test-electron where VS Code
// can be downloaded (`npm run test:electron`).
import * as path from 'node:path';
import * as util from 'node:util';
import type MochaType from 'mocha';

export async function run(): Promise<void> {
  // mocha 12 is an ES module: require() gives its namespace.
  const loaded = require('mocha');
  const Mocha: typeof MochaType = loaded.default ?? loaded;
  // The host's console forwarding does not apply printf formats: format here.
  Mocha.reporters.Base.consoleLog = (...args: unknown[]) => console.log(util.format(...args));
  const mocha = new Mocha({ ui: 'bdd', timeout: 120_000, color: false, reporter: 'spec' });
  const grep = process.env.KIMI_INTEGRATION_GREP;
  if (grep) mocha.grep(grep);
  // KIMI_INTEGRATION_SUITE=chat: the chat suite alone (the VS Code 1.106 lane); otherwise both.
  const chatOnly = process.env.KIMI_INTEGRATION_SUITE === 'chat';
  if (!chatOnly) mocha.addFile(path.resolve(__dirname, 'extension.test.js'));
  if (!chatOnly) mocha.addFile(path.resolve(__dirname, 'accountTruth.test.js'));
  mocha.addFile(path.resolve(__dirname, 'chat.test.js'));
  await mocha.loadFilesAsync();
  await new Promise<void>((resolve, reject) => {
    const runner = mocha.run((failures) => {
      console.log(`${runner.stats?.passes ?? 0} passed, ${failures} failed`);
      if (failures > 0) reject(new Error(`${failures} integration tests failed`));
      // A run that tested nothing (a grep that matches no test, a file that failed to load its tests) is no pass.
      else if (!runner.stats?.passes)
        reject(new Error(`no integration test ran${grep ? ` (KIMI_INTEGRATION_GREP "${grep}" matches none)` : ''}`));
      else resolve();
    });
  });
}
