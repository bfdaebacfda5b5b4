#!/usr/bin/env node
'use strict';
// Proves the real-VS Code harness end to end:
//  1. install (cached) code-server 4.96.4 + playwright-core;
//  2. run A: a small extension made here, placed unpacked in the extensions dir, must show its status
//     bar item "Harness probe: <vscode.version>" in the workbench opened by Chromium; screenshot to
//     artifacts/harness-smoke.png;
//  3. run B: the payload route: the same extension as extensionDevelopmentPath plus a tests module as
//     extensionTestsPath; its run() must log "HARNESS-TESTS-RAN <vscode.version>" inside the extension host,
//     and the workbench must report the run's exit code 0;
//  4. run C: the probe packed as a .vsix, installed with code-server's --install-extension, must show
//     "Harness probe vsix: <vscode.version>".
// Exits 0 on success, 1 with the reason otherwise. Everything it starts is stopped.
//
//   node test/vscode/smoke.js
//   HARNESS_KEEP_TMP=1 node test/vscode/smoke.js   # keep the temp dirs (code-server logs) for a look

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ensureInstalled, paths } = require('./install');
const { startCodeServer, installVsix, QUIET_SETTINGS } = require('./codeServer');
const { writeVsix } = require('./vsix');
const { openWorkbench, waitForStatusBarLabel } = require('./browser');
const processes = require('./processes');

const EXPECTED_VSCODE = '1.96.4';
const ARTIFACTS = path.join(paths.repoRoot, 'artifacts');
const timings = [];

function log(msg) {
  process.stdout.write(`[vscode-smoke] ${msg}\n`);
}

async function stage(name, fn) {
  const t = Date.now();
  log(`${name} ...`);
  try {
    const r = await fn();
    const ms = Date.now() - t;
    timings.push([name, ms]);
    log(`${name}: ok in ${(ms / 1000).toFixed(1)} s`);
    return r;
  } catch (e) {
    log(`${name}: FAILED after ${((Date.now() - t) / 1000).toFixed(1)} s`);
    throw e;
  }
}

/** Writes the probe extension (unpacked) into `dir`; its status bar item's label is `${prefix}: <vscode.version>`. */
function writeProbeExtension(dir, prefix = 'Harness probe') {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({
    name: 'harness-probe',
    displayName: 'Harness probe',
    publisher: 'probe',
    version: '0.0.1',
    main: './extension.js',
    engines: { vscode: '^1.96.0' },
    activationEvents: ['onStartupFinished'],
  }, null, 2));
  fs.writeFileSync(path.join(dir, 'extension.js'), `'use strict';
const vscode = require('vscode');
function activate(context) {
  const item = vscode.window.createStatusBarItem('probe.harness', vscode.StatusBarAlignment.Left, 1000);
  item.text = '$(beaker) probe ' + vscode.version;
  item.accessibilityInformation = { label: ${JSON.stringify(prefix + ': ')} + vscode.version };
  item.tooltip = 'Harness probe, node ' + process.version;
  item.show();
  context.subscriptions.push(item);
}
function deactivate() {}
module.exports = { activate, deactivate };
`);
}

/** A tests module like a mocha suite's index.js: run() resolves when the tests pass. */
function writeTestsModule(file) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `'use strict';
const vscode = require('vscode');
exports.run = async function run() {
  const ext = vscode.extensions.getExtension('probe.harness-probe');
  if (!ext) throw new Error('development extension probe.harness-probe not found');
  await ext.activate();
  console.log('HARNESS-TESTS-RAN ' + vscode.version + ' node ' + process.version + ' dev-ext-active ' + ext.isActive);
};
`);
}

async function main() {
  const t0 = Date.now();
  await stage('install (cached)', () => ensureInstalled());

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vscode-harness-smoke-'));
  if (!process.env.HARNESS_KEEP_TMP) processes.removeOnExit(tmp); // also on SIGINT/SIGTERM
  const cleanups = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch (e) {
        log(`cleanup: ${e.message}`);
      }
    }
    cleanups.length = 0;
  };
  try {
    // ---- run A: unpacked extension in the extensions dir, status bar, screenshot
    const a = path.join(tmp, 'a');
    const workspaceA = path.join(a, 'workspace');
    const extensionsDirA = path.join(a, 'extensions');
    writeProbeExtension(path.join(extensionsDirA, 'probe.harness-probe-0.0.1'));
    const csA = await stage('A: start code-server', () => startCodeServer({
      workspace: workspaceA, userDataDir: path.join(a, 'user-data'), extensionsDir: extensionsDirA,
      settings: { ...QUIET_SETTINGS }, env: {},
    }));
    cleanups.push(() => csA.stop());
    log(`A: code-server at ${csA.url} (pid ${csA.pid}, log ${csA.logFile})`);
    const wbA = await stage('A: open workbench in Chromium', () => openWorkbench(csA.url, { folder: workspaceA, screenshotsDir: ARTIFACTS }));
    cleanups.push(() => wbA.close());
    const label = await stage('A: wait for the probe\'s status bar item', () =>
      waitForStatusBarLabel(wbA.page, /^Harness probe: /, 60000));
    log(`A: status bar label: "${label}"`);
    if (label !== `Harness probe: ${EXPECTED_VSCODE}`) throw new Error(`expected "Harness probe: ${EXPECTED_VSCODE}", got "${label}"`);
    await new Promise((r) => setTimeout(r, 1500)); // let the workbench settle for the picture
    const shot = await stage('A: screenshot', () => wbA.screenshot('harness-smoke', path.join(ARTIFACTS, 'harness-smoke.png')));
    log(`A: screenshot ${shot}`);
    await stage('A: stop browser and code-server', cleanup);

    // ---- run B: payload route (extensionDevelopmentPath + extensionTestsPath)
    const b = path.join(tmp, 'b');
    const workspaceB = path.join(b, 'workspace');
    const devExt = path.join(b, 'dev-extension');
    const testsIndex = path.join(b, 'dev-extension', 'tests', 'index.js');
    writeProbeExtension(devExt);
    writeTestsModule(testsIndex);
    const csB = await stage('B: start code-server', () => startCodeServer({
      workspace: workspaceB, userDataDir: path.join(b, 'user-data'), extensionsDir: path.join(b, 'extensions'),
      settings: { ...QUIET_SETTINGS }, extensionDevelopmentPath: devExt, extensionTestsPath: testsIndex,
    }));
    cleanups.push(() => csB.stop());
    log(`B: payload ${JSON.stringify(csB.payload)}`);
    const wbB = await stage('B: open workbench with payload', () =>
      openWorkbench(csB.url, { folder: workspaceB, payload: csB.payload, screenshotsDir: ARTIFACTS }));
    cleanups.push(() => wbB.close());
    const line = await stage('B: wait for HARNESS-TESTS-RAN from the extension host', () =>
      wbB.waitForConsoleLine(/HARNESS-TESTS-RAN/, 90000).catch(async (e) => {
        await wbB.screenshot('harness-smoke-payload-failed').catch(() => {});
        throw e;
      }));
    log(`B: console line: ${line}`);
    if (!line.includes(`HARNESS-TESTS-RAN ${EXPECTED_VSCODE}`)) throw new Error(`expected VS Code ${EXPECTED_VSCODE} in: ${line}`);
    const code = await stage('B: wait for the tests run\'s exit code (window.codeAutomationExit)', () => wbB.waitForTestsExit(30000));
    log(`B: extension tests exit code ${code}`);
    if (code !== 0) throw new Error(`extension tests exited with code ${code}`);
    await stage('B: stop browser and code-server', cleanup);

    // ---- run C: a packaged .vsix through installVsix (code-server --install-extension)
    const c = path.join(tmp, 'c');
    writeProbeExtension(path.join(c, 'probe-src'), 'Harness probe vsix');
    const vsix = writeVsix(path.join(c, 'probe-src'), path.join(c, 'harness-probe-0.0.1.vsix'));
    const dirsC = { userDataDir: path.join(c, 'user-data'), extensionsDir: path.join(c, 'extensions') };
    const out = await stage('C: installVsix', () => installVsix(vsix, dirsC));
    log(`C: ${out.trim().split('\n').filter((l) => /install/i.test(l)).join(' | ')}`);
    const csC = await stage('C: start code-server', () => startCodeServer({
      workspace: path.join(c, 'workspace'), ...dirsC, settings: { ...QUIET_SETTINGS },
    }));
    cleanups.push(() => csC.stop());
    const wbC = await stage('C: open workbench', () => openWorkbench(csC.url, { folder: path.join(c, 'workspace'), screenshotsDir: ARTIFACTS }));
    cleanups.push(() => wbC.close());
    const labelC = await stage('C: wait for the installed .vsix\'s status bar item', () =>
      waitForStatusBarLabel(wbC.page, /^Harness probe vsix: /, 60000));
    log(`C: status bar label: "${labelC}"`);
    if (labelC !== `Harness probe vsix: ${EXPECTED_VSCODE}`) throw new Error(`expected "Harness probe vsix: ${EXPECTED_VSCODE}", got "${labelC}"`);
    await stage('C: stop browser and code-server', cleanup);
  } finally {
    await cleanup();
    if (process.env.HARNESS_KEEP_TMP) log(`kept ${tmp} (HARNESS_KEEP_TMP): code-server logs are in */user-data/code-server.log`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }

  log('timings:');
  for (const [name, ms] of timings) log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${name}`);
  log(`  ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  total`);
  log('PASS: real VS Code 1.96.4 harness works (unpacked extension, payload tests route, .vsix install)');
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`[vscode-smoke] FAIL: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
