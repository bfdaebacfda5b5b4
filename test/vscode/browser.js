'use strict';
// Opens code-server's web workbench in Debian's Chromium (/usr/bin/chromium) through playwright-core
// (installed by ./install.js into .vscode-test/code-server; never `npx playwright install`).
//
//   const wb = await openWorkbench(cs.url, { folder, payload: cs.payload, screenshotsDir });
//   const label = await waitForStatusBarLabel(wb.page, /^Kimi/, 30000);
//   await wb.waitForConsoleLine(/MOCHA-DONE/, 120000);
//   await wb.screenshot('name');   // -> <screenshotsDir>/name.png
//   await wb.close();

const fs = require('fs');
const os = require('os');
const path = require('path');
const { requirePlaywright, paths } = require('./install');
const { buildWorkbenchUrl } = require('./codeServer');
const processes = require('./processes');

/** @typedef {import('./playwright').Page} Page */
/** What the workbench reports when an extensionTestsPath run ends. @typedef {{ code: number, logs: unknown }} AutomationExit */

const CHROMIUM_FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches Chromium with a fresh temp profile and opens the workbench at `url` on `folder`, with the
 * optional `payload` (array of [key, value] pairs, e.g. extensionDevelopmentPath/extensionTestsPath as
 * vscode-remote:// URIs). Waits until the workbench's DOM is there.
 * Options: folder, payload, screenshotsDir, timeoutMs (60 s), viewport ({1400x900}), headless (true),
 * echoConsole (false: true prints each console line as it comes, or a function(line) to receive them).
 * Returns { page, browser, context, url, consoleLines, waitForConsoleLine(re, ms), waitForTestsExit(ms),
 * testsExit(), screenshot(name, file?), close() }.
 * `browser` is the persistent BrowserContext (Playwright gives no Browser object for a persistent profile).
 * @param {string} url
 * @param {{ folder?: string, payload?: [string, string][], screenshotsDir?: string, timeoutMs?: number,
 *   viewport?: { width: number, height: number }, headless?: boolean,
 *   echoConsole?: boolean | ((line: string) => void) }} [opts]
 */
async function openWorkbench(url, opts = {}) {
  const {
    folder,
    payload,
    screenshotsDir,
    timeoutMs = 60000,
    viewport = { width: 1400, height: 900 },
    headless = true,
    echoConsole = false,
  } = opts;
  if (!fs.existsSync(paths.chromium)) {
    throw new Error(`${paths.chromium} not found: apt-get update && apt-get install -y chromium`);
  }
  const { chromium } = requirePlaywright();
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vscode-harness-chromium-'));
  processes.removeOnExit(profileDir);
  const workbenchUrl = buildWorkbenchUrl(url, { folder, payload });
  /** @type {string[]} */
  const consoleLines = [];
  /** @type {Set<(line: string) => void>} */
  const waiters = new Set();
  /** @param {string} raw */
  const pushLine = (raw) => {
    // Lines forwarded from the extension host come as "%c INFO color: #33f text": keep "INFO text".
    const line = raw.replace(/^(\[\w+\] )%c\s*(\S+)\s+color:\s*#[0-9a-fA-F]{3,8}\s?/, '$1$2 ');
    consoleLines.push(line);
    if (echoConsole === true) process.stdout.write(`[page] ${line}\n`);
    else if (typeof echoConsole === 'function') echoConsole(line);
    for (const w of [...waiters]) w(line);
  };

  let context;
  /** @type {number[]} */
  let chromiumPids = [];
  let singletonDir = null;
  const killLeftovers = () => {
    for (const pid of new Set([...chromiumPids, ...processes.pidsWithCmdline(profileDir)])) {
      processes.killTreeSync(pid, 500);
      processes.untrack(pid);
    }
  };
  try {
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: paths.chromium,
      headless,
      args: CHROMIUM_FLAGS,
      viewport,
      timeout: timeoutMs,
      // Chromium's crash database and caches would go to ~/.config/chromium and ~/.cache/chromium
      // whatever the profile: keep them in the temp profile dir too.
      env: { ...process.env, XDG_CONFIG_HOME: path.join(profileDir, 'xdg-config'), XDG_CACHE_HOME: path.join(profileDir, 'xdg-cache') },
      // Our own handlers (./processes.js) end Chromium and code-server together on a signal.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    // The Chromium main process is the one whose command line names our profile and has no --type=.
    chromiumPids = processes.pidsWithCmdline(profileDir).filter((pid) => {
      try {
        return !fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=');
      } catch {
        return false;
      }
    });
    for (const pid of chromiumPids) processes.track(pid, 'chromium');
    // Chromium keeps its singleton socket in /tmp/org.chromium.Chromium.XXXXXX (linked from the profile);
    // it is left behind when Chromium is killed rather than closed, so remove it with the profile.
    try {
      const socketDir = path.dirname(fs.readlinkSync(path.join(profileDir, 'SingletonSocket')));
      if (socketDir.startsWith(os.tmpdir()) && /org\.chromium\./.test(socketDir)) {
        singletonDir = socketDir;
        processes.removeOnExit(socketDir);
      }
    } catch {
      /* no singleton link */
    }
  } catch (e) {
    killLeftovers();
    fs.rmSync(profileDir, { recursive: true, force: true });
    throw new Error(`could not launch ${paths.chromium}: ${/** @type {Error} */ (e).message}`, { cause: e });
  }

  const page = context.pages()[0] || (await context.newPage());
  // The web workbench calls window.codeAutomationExit(code, logs) when an extensionTestsPath run ends
  // (run() resolved: 0, rejected: 1), as @vscode/test-web relies on. Record it.
  /** @type {AutomationExit | null} */
  let automationExit = null;
  /** @type {Set<(exit: AutomationExit) => void>} */
  const exitWaiters = new Set();
  await page.exposeFunction(
    'codeAutomationExit',
    /** @param {number} code @param {unknown} logs */ (code, logs) => {
      automationExit = { code, logs };
      pushLine(`[codeAutomationExit] ${code}`);
      for (const w of [...exitWaiters]) w(automationExit);
    },
  );
  page.on('console', (msg) => pushLine(`[${msg.type()}] ${msg.text()}`));
  page.on('pageerror', (err) => pushLine(`[pageerror] ${err.message}`));
  page.on('crash', () => pushLine('[crash] page crashed'));

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    try {
      await Promise.race([context.close(), new Promise((r) => setTimeout(r, 10000))]);
    } catch {
      /* killed below */
    }
    killLeftovers();
    for (const dir of [profileDir, singletonDir]) {
      if (!dir) continue;
      fs.rmSync(dir, { recursive: true, force: true });
      processes.forgetTempDir(dir);
    }
  };

  /** @param {RegExp} re @param {number} [ms] @returns {Promise<string>} */
  const waitForConsoleLine = (re, ms = 60000) =>
    new Promise((resolve, reject) => {
      const found = consoleLines.find((l) => re.test(l));
      if (found) return resolve(found);
      /** @type {NodeJS.Timeout | undefined} */
      let timer;
      /** @param {string} line */
      const w = (line) => {
        if (re.test(line)) {
          clearTimeout(timer);
          waiters.delete(w);
          resolve(line);
        }
      };
      timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no console line matching ${re} within ${ms} ms; last lines:\n${consoleLines.slice(-30).join('\n')}`));
      }, ms);
      waiters.add(w);
    });

  /**
   * Resolves with the exit code of the extension-tests run (0 when run() resolved) once the workbench reports it.
   * @param {number} [ms]
   * @returns {Promise<number>}
   */
  const waitForTestsExit = (ms = 600000) =>
    new Promise((resolve, reject) => {
      if (automationExit) return resolve(automationExit.code);
      const timer = setTimeout(() => {
        exitWaiters.delete(w);
        reject(new Error(`the extension tests did not finish within ${ms} ms; last console lines:\n${consoleLines.slice(-30).join('\n')}`));
      }, ms);
      /** @param {AutomationExit} r */
      const w = (r) => {
        clearTimeout(timer);
        exitWaiters.delete(w);
        resolve(r.code);
      };
      exitWaiters.add(w);
    });

  /** @param {string} name @param {string} [file] */
  const screenshot = async (name, file) => {
    const target = file || path.join(screenshotsDir || os.tmpdir(), `${name}.png`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await page.screenshot({ path: target });
    return target;
  };

  try {
    await page.goto(workbenchUrl, { waitUntil: 'domcontentloaded', timeout: timeoutMs });
    await page.waitForSelector('.monaco-workbench', { timeout: timeoutMs });
  } catch (e) {
    if (screenshotsDir) await screenshot('workbench-load-failed').catch(() => {});
    await close();
    throw new Error(
      `workbench did not load from ${workbenchUrl}: ${/** @type {Error} */ (e).message}\nconsole:\n${consoleLines.slice(-30).join('\n')}`,
      { cause: e },
    );
  }
  return {
    page,
    browser: context,
    context,
    url: workbenchUrl,
    consoleLines,
    waitForConsoleLine,
    waitForTestsExit,
    testsExit: () => automationExit,
    screenshot,
    close,
  };
}

/** @typedef {Awaited<ReturnType<typeof openWorkbench>>} Workbench */

/**
 * aria-labels of the status bar's items, in DOM order.
 * @param {Page} page
 */
function statusBarLabels(page) {
  return page.$$eval('.statusbar-item', (els) =>
    els.map((el) => el.getAttribute('aria-label') || el.querySelector('[aria-label]')?.getAttribute('aria-label') || ''),
  );
}

/**
 * Waits for a `.statusbar-item` whose aria-label matches `regex`; returns that label.
 * @param {Page} page
 * @param {RegExp} regex
 * @param {number} [timeoutMs]
 */
async function waitForStatusBarLabel(page, regex, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  /** @type {string[]} */
  let labels = [];
  for (;;) {
    try {
      labels = await statusBarLabels(page);
    } catch {
      /* page navigating */
    }
    const hit = labels.find((l) => regex.test(l));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) {
      throw new Error(`no status bar item with an aria-label matching ${regex} within ${timeoutMs} ms; labels: ${JSON.stringify(labels)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

module.exports = { openWorkbench, waitForStatusBarLabel, statusBarLabels, CHROMIUM_FLAGS };
