#!/usr/bin/env node
'use strict';
// `npm start`: builds and packages the extension, installs it into a cached VS Code 1.96.4
// (code-server, served to the browser on loopback) and prints the address to open.
// Without MOONSHOT_API_KEY it also starts a local Moonshot-like server and points
// kimiBudget.baseUrl at it, so the budget and the queue can be tried with no account.
const { execSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const home = path.join(root, '.vscode-test', 'start');
// Small limits for the local server, so that the queue shows itself after a few sends.
const DEMO_LIMITS = { rpm: 5, tpm: 60_000 };

/**
 * @param {string} title
 * @param {string} command
 */
function step(title, command) {
  console.log(`\n> ${title}`);
  execSync(command, { cwd: root, stdio: 'inherit' });
}

async function main() {
  step('Compiling and packaging the extension', 'npm run --silent compile-tests && npm run --silent vsix');
  const { ensureInstalled } = require('../test/vscode/install');
  ensureInstalled();
  const { startCodeServer, installVsix, QUIET_SETTINGS } = require('../test/vscode/codeServer');

  const userDataDir = path.join(home, 'user-data');
  const extensionsDir = path.join(home, 'extensions');
  const workspace = path.join(home, 'workspace');
  fs.mkdirSync(workspace, { recursive: true });
  const sample = path.join(workspace, 'prompts.md');
  if (!fs.existsSync(sample)) fs.copyFileSync(path.join(root, 'scripts', 'demo-prompts.md'), sample);

  const settings = { ...QUIET_SETTINGS, 'workbench.startupEditor': 'none' };
  /** @type {NodeJS.ProcessEnv} */
  const env = {};
  /** @type {import('../test/support/fakeMoonshot').FakeMoonshot | undefined} */
  let fake;
  if (process.env.MOONSHOT_API_KEY) {
    console.log('\nMOONSHOT_API_KEY is set: the extension talks to Moonshot (kimiBudget.baseUrl as configured).');
  } else {
    const { FakeMoonshot } = require('../out/test/support/fakeMoonshot');
    fake = new FakeMoonshot({ ...DEMO_LIMITS, chunkDelayMs: 40, answerChunks: 12 });
    const baseUrl = await fake.start();
    Object.assign(settings, {
      'kimiBudget.baseUrl': baseUrl,
      'kimiBudget.limits.requestsPerMinute': DEMO_LIMITS.rpm,
      'kimiBudget.limits.tokensPerMinute': DEMO_LIMITS.tpm,
    });
    env.MOONSHOT_API_KEY = fake.apiKey;
    console.log(
      `\nNo MOONSHOT_API_KEY: using a local Moonshot-like server at ${baseUrl} (${DEMO_LIMITS.rpm} requests and ${DEMO_LIMITS.tpm} tokens per minute).`,
    );
  }

  const out = await installVsix(path.join(root, '.vscode-test', 'kimi-budget.vsix'), { userDataDir, extensionsDir, env });
  console.log(out.trim().split('\n').pop());
  const server = await startCodeServer({ workspace, userDataDir, extensionsDir, settings, env });
  const url = server.workbenchUrl({ folder: workspace });
  console.log(`\nVS Code ${'1.96.4'} with kimi-budget is running. Open:\n\n  ${url}\n`);
  console.log('Select a prompt in prompts.md, then run "Kimi: Send Prompt" from the command palette (Ctrl+Shift+P).');
  console.log('Press Ctrl+C to stop.');

  const stop = async () => {
    await server.stop();
    await fake?.stop();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error) => {
  console.error(`npm start failed: ${error && error.message ? error.message : error}`);
  process.exit(1);
});
