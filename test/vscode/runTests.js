#!/usr/bin/env node
'use strict';
// Runs an extension-tests module (e.g. a mocha suite's index.js) inside the Node extension host of a
// real VS Code 1.96.4 (code-server; or 1.106.3 with --lane=1.106), the way @vscode/test-electron's runTests does on a desktop VS Code.
//
//   node test/vscode/runTests.js --extensionDevelopmentPath=. --extensionTestsPath=out/test/vscode/index.js
//        [--workspace=DIR] [--vsix=FILE.vsix ...] [--settings=FILE.json] [--timeout=SECONDS] [--screenshots=DIR] [--lane=1.106]
//
// or from Node:  const code = await require('./test/vscode/runTests').runTests({ ... });
//
// The tests module's `run()` runs in the extension host with the real `vscode` API; the run's result
// comes back through window.codeAutomationExit (0 when run() resolved, 1 when it rejected), and what the
// module logs with console.* is echoed here. Exit code: the run's. If the module logs a line with
// "N passed, N failed" (e.g. from mocha's run callback), it is repeated at the end alone on a line as
// "vscode: N passed, N failed".
//
// A packaged .vsix: pass --vsix (installed with code-server --install-extension into a fresh extensions
// dir). VS Code runs extensionTestsPath only together with an extensionDevelopmentPath; without one, a
// stub development extension (no code) is made so the installed .vsix is the code under test.

const fs = require('fs');
const os = require('os');
const path = require('path');
const { ensureInstalled } = require('./install');
const { startCodeServer, installVsix, QUIET_SETTINGS } = require('./codeServer');
const { openWorkbench } = require('./browser');
const processes = require('./processes');

const NOISE =
  /Resolving connection token|Resolved connection token|Creating a socket|Updating additional builtin extensions cache|\[Service Worker\]|same-origin iframe|allow-scripts and allow-same-origin|vsda|open-vsx|Failed to load resource|Long running operations during shutdown|\[codeAutomationExit\]/;

/**
 * Optional in the type: runTests itself says when extensionTestsPath is missing (from the command line, say).
 * @typedef {{ extensionTestsPath?: string, extensionDevelopmentPath?: string, workspace?: string, vsix?: string | string[],
 *   settings?: object, env?: NodeJS.ProcessEnv, timeoutMs?: number, screenshotsDir?: string, log?: (line: string) => void,
 *   lane?: string }} RunTestsOptions
 */

/**
 * Options: extensionTestsPath (required), extensionDevelopmentPath, workspace (default: an empty temp
 * folder), vsix (path or array), settings (object, merged over QUIET_SETTINGS), env, timeoutMs (10 min),
 * screenshotsDir (a screenshot is saved there when the run fails or times out), log (function(line);
 * default prints lines to stdout, minus workbench noise).
 * Resolves with the run's exit code (0 = passed).
 * @param {RunTestsOptions} opts
 */
async function runTests(opts) {
  const { extensionTestsPath, workspace, env, timeoutMs = 10 * 60 * 1000, screenshotsDir } = opts;
  const log =
    opts.log ||
    ((line) => {
      if (!NOISE.test(line)) process.stdout.write(`${line}\n`);
    });
  if (!extensionTestsPath) throw new Error('runTests: extensionTestsPath is required');
  ensureInstalled({ quiet: true, lane: opts.lane });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vscode-harness-run-'));
  processes.removeOnExit(tmp);
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = path.join(tmp, 'extensions');
  let cs;
  /** @type {Awaited<ReturnType<typeof openWorkbench>> | undefined} */
  let wb;
  try {
    for (const vsix of [opts.vsix || []].flat()) {
      const out = await installVsix(vsix, { userDataDir, extensionsDir, env, lane: opts.lane });
      log(`[harness] ${out.trim().split('\n').pop()}`);
    }
    let devPath = opts.extensionDevelopmentPath;
    if (!devPath) {
      devPath = path.join(tmp, 'tests-host');
      fs.mkdirSync(devPath);
      fs.writeFileSync(
        path.join(devPath, 'package.json'),
        JSON.stringify({
          name: 'tests-host',
          publisher: 'vscode-harness',
          version: '0.0.0',
          engines: { vscode: '^1.96.0' },
        }),
      );
    }
    const ws = workspace || path.join(tmp, 'workspace');
    cs = await startCodeServer({
      workspace: ws,
      userDataDir,
      extensionsDir,
      env,
      settings: { ...QUIET_SETTINGS, ...(opts.settings || {}) },
      extensionDevelopmentPath: path.resolve(devPath),
      extensionTestsPath: path.resolve(extensionTestsPath),
      lane: opts.lane,
    });
    let counts = null; // the last "N passed, N failed" line the tests module logged
    /** @param {string} line */
    const onLine = (line) => {
      const m = /\b(\d+) passed, (\d+) failed\b(, \d+ skipped\b)?/.exec(line);
      if (m) counts = m[0];
      // A test asks for a picture of what the page shows now: `[harness:screenshot] NAME` saves <screenshotsDir>/NAME.png.
      const shot = /\[harness:screenshot\] ([\w.-]+)/.exec(line);
      if (shot && screenshotsDir && wb) {
        wb.screenshot(shot[1]).then(
          (/** @type {string} */ file) => log(`[harness] screenshot: ${file}`),
          (/** @type {Error} */ e) => log(`[harness] screenshot ${shot[1]} failed: ${e.message}`),
        );
      }
      log(line);
    };
    wb = await openWorkbench(cs.url, { folder: ws, payload: cs.payload, screenshotsDir, echoConsole: onLine });
    let code;
    try {
      code = await wb.waitForTestsExit(timeoutMs);
    } catch (e) {
      log(`[harness] ${/** @type {Error} */ (e).message.split('\n')[0]}`);
      code = 2;
    }
    // Repeated alone on a line, so a CI log reader sees the counts (they arrive prefixed as "[log] INFO ...").
    if (counts) process.stdout.write(`vscode: ${counts}\n`);
    if (code !== 0 && screenshotsDir) {
      const shot = await wb.screenshot(`vscode-tests-exit-${code}`).catch(() => null);
      if (shot) log(`[harness] screenshot: ${shot}`);
    }
    return code;
  } finally {
    if (wb) await wb.close();
    if (cs) await cs.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
    processes.forgetTempDir(tmp);
  }
}

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {RunTestsOptions & { vsix: string[] }} */
  const o = { vsix: [] };
  for (const a of argv) {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m) throw new Error(`unexpected argument: ${a} (use --name=value)`);
    const [, k, v] = m;
    if (k === 'vsix') o.vsix.push(path.resolve(v));
    else if (k === 'extensionDevelopmentPath' || k === 'extensionTestsPath' || k === 'workspace') o[k] = path.resolve(v);
    else if (k === 'settings') o.settings = JSON.parse(fs.readFileSync(v, 'utf8'));
    else if (k === 'timeout') o.timeoutMs = Number(v) * 1000;
    else if (k === 'screenshots') o.screenshotsDir = path.resolve(v);
    else if (k === 'lane') o.lane = v;
    else throw new Error(`unknown option --${k}`);
  }
  return o;
}

module.exports = { runTests };

if (require.main === module) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`[vscode-runTests] ${/** @type {Error} */ (e).message}\n`);
    process.exit(2);
  }
  runTests(opts).then(
    (code) => {
      process.stdout.write(`[vscode-runTests] extension tests exit code ${code}\n`);
      process.exit(code);
    },
    (e) => {
      process.stderr.write(`[vscode-runTests] FAILED: ${e && e.stack ? e.stack : e}\n`);
      process.exit(2);
    },
  );
}
