'use strict';
// Two VS Code windows on one machine spend one Moonshot account, so they must share one budget.
// One code-server (one profile: the same user settings, extension and key) serves two browser pages
// of one Chromium on two folders: two windows, two extension hosts. Each window sends four prompts
// from the command palette, the two windows' sends interleaved, against a fake server that allows
// 4 requests a minute. The server must refuse none, no minute may hold more than 4 of them, all
// eight are answered (the second four in the second minute, so the run waits about a minute), and
// both windows' budget status bars must say the same thing.
// Run: npm run compile-tests && npm run vsix && node test/vscode/install.js && node --test test/vscode/twoWindows.test.js
// Screenshots of both status bars go to artifacts/two-windows-*.png.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { startCodeServer, installVsix, QUIET_SETTINGS } = require('./codeServer');
const { openWorkbench } = require('./browser');
const {
  sleep,
  readBudget,
  budget,
  spent,
  until,
  runCommand,
  openFile,
  selectLine,
  answerTabs,
  busiestMinute,
  statusBarsPicture,
  promptId: promptIdOf,
  PROMPTS_BY_WINDOW: PROMPTS,
} = require('./workbenchActions');
const processes = require('./processes');

const root = path.resolve(__dirname, '../..');
const { FakeMoonshot } = require('../../out/test/support/fakeMoonshot');
const artifacts = path.join(root, 'artifacts');
const RPM = 4;
const TPM = 1_000_000;
const WINDOW_MS = 60_000;
/** How long the two status bars may disagree. */
const AGREE_MS = 1_000;
/** From the first send, how long all eight may take: the second four go when the first minute ends. */
const ANSWERS_MS = 150_000;
const KEY = `sk-e2e-${require('node:crypto').randomBytes(12).toString('hex')}`;

/** @typedef {import('./playwright').Page} Page */
/** @typedef {import('./workbenchActions').Budget} Budget */
/** @typedef {{ name: 'A' | 'B', folder: string, page: Page, consoleLines: string[] }} Win */
/** One reading of both status bars, `at` when both were read. @typedef {{ at: number, a?: Budget, b?: Budget }} Sample */

/** @type {import('../support/fakeMoonshot').FakeMoonshot} */
let fake;
/** @type {import('./codeServer').CodeServer} */
let server;
/** @type {import('./browser').Workbench} */
let workbench;
/** @type {string} */
let tmp;
/** @type {Win[]} */
let windows = [];
/** Every reading of both status bars from the first send to the end. @type {Sample[]} */
let samples = [];
/** When the first send was made. */
let firstSendAt = 0;
/** Set when the scenario ran to its end (its checks below are meaningless otherwise). */
let ranAt = 0;
/** The two full labels at the end, once nothing was queued or running. @type {{ a?: Budget, b?: Budget, agreed: boolean }} */
let ending = { agreed: false };

/** Both windows' status bars, one above the other, in one picture: artifacts/two-windows-<name>.png. @param {string} name */
const shotStatusBars = (name) =>
  statusBarsPicture(
    workbench.context,
    windows.map((w) => ({ caption: `Window ${w.name}: ${path.basename(w.folder)}`, page: w.page })),
    path.join(artifacts, `two-windows-${name}.png`),
  );

/** The extension host processes of code-server (one per connected window). */
function extensionHosts() {
  return processes.descendants(server.pid).filter((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=extensionHost');
    } catch {
      return false;
    }
  });
}

/** @param {import('../support/fakeMoonshot').ReceivedRequest} r */
const promptId = (r) => promptIdOf(PROMPTS, r);

/** @param {number} at */
const since = (at) => `+${((at - firstSendAt) / 1000).toFixed(1)} s`;

/** Every chat request the server saw, one a line: when (since the first send), whose, its status. */
function serverLog() {
  return fake.received
    .map((r) => `  ${since(r.at)} ${promptId(r)} ${r.status}${r.errorType ? ` ${r.errorType}` : ''}${r.finishedAt ? '' : ' (unfinished)'}`)
    .join('\n');
}

/** The server's admission times (its own clock: it runs in this process). */
const admissions = () =>
  fake.received
    .filter((r) => r.status === 200)
    .map((r) => r.at)
    .sort((x, y) => x - y);

/** @param {Sample} s */
const both = (s) => `window A "${s.a?.label ?? '(no budget item)'}", window B "${s.b?.label ?? '(no budget item)'}"`;

function requireScenario() {
  if (!ranAt) assert.fail('the two windows did not both send their four prompts: see the failure of the sending test above');
}

/**
 * Reads both status bars over and over until stopped.
 * @returns {() => Promise<void>} stops it
 */
function startSampling() {
  let running = true;
  const loop = (async () => {
    while (running) {
      const [a, b] = await Promise.all(windows.map((w) => readBudget(w.page)));
      samples.push({ at: Date.now(), a, b });
      await sleep(100);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

describe('two windows on one machine share one Kimi budget', { timeout: 300_000 }, () => {
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-budget-two-windows-'));
    /** @type {Record<'A' | 'B', string>} */
    const folders = { A: path.join(tmp, 'window-a'), B: path.join(tmp, 'window-b') };
    for (const [name, folder] of Object.entries(folders)) {
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'prompts.md'), `${PROMPTS[/** @type {'A' | 'B'} */ (name)].join('\n\n')}\n`);
    }
    fake = new FakeMoonshot({ rpm: RPM, tpm: TPM, windowMs: WINDOW_MS, chunkDelayMs: 30, answerChunks: 8, apiKey: KEY });
    const baseUrl = await fake.start();
    // One key for the whole machine: both extension hosts are children of this code-server.
    const env = { MOONSHOT_API_KEY: fake.apiKey };
    const dirs = { userDataDir: path.join(tmp, 'user-data'), extensionsDir: path.join(tmp, 'extensions'), workspace: folders.A };
    await installVsix(path.join(root, '.vscode-test', 'kimi-budget.vsix'), { ...dirs, env });
    const settings = {
      ...QUIET_SETTINGS,
      'kimiBudget.baseUrl': baseUrl,
      'kimiBudget.allowInsecureHttp': true,
      'kimiBudget.limits.requestsPerMinute': RPM,
      'kimiBudget.limits.tokensPerMinute': TPM,
      'kimiBudget.maxOutputTokens': 500,
    };
    // The limits and the base URL are machine-scoped. In code-server, the first window drops the
    // machine-scoped values of the user settings when a second window connects (it falls back to the
    // defaults, 120 RPM and 150000 TPM); the remote machine's settings (<user-data>/Machine) hold.
    // So they go there as well: one machine, the same settings for both windows.
    const machine = Object.fromEntries(Object.entries(settings).filter(([key]) => key.startsWith('kimiBudget.')));
    fs.mkdirSync(path.join(dirs.userDataDir, 'Machine'), { recursive: true });
    fs.writeFileSync(path.join(dirs.userDataDir, 'Machine', 'settings.json'), `${JSON.stringify(machine, null, 2)}\n`);
    server = await startCodeServer({ ...dirs, env, settings });
    workbench = await openWorkbench(server.url, { folder: folders.A });
    windows.push({ name: 'A', folder: folders.A, page: workbench.page, consoleLines: workbench.consoleLines });
    // The second window: another page of the same Chromium, on the other folder.
    const page = await workbench.context.newPage();
    /** @type {string[]} */
    const consoleLines = [];
    page.on('console', (msg) => consoleLines.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => consoleLines.push(`[pageerror] ${err.message}`));
    await page.goto(server.workbenchUrl({ folder: folders.B, payload: [] }), { waitUntil: 'domcontentloaded', timeout: 60_000 });
    await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
    windows.push({ name: 'B', folder: folders.B, page, consoleLines });
  });

  after(async () => {
    await workbench?.close();
    await server?.stop();
    await fake?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('opens two windows on two folders, each with its own extension host, both showing the full budget', async () => {
    for (const w of windows) {
      const b = await budget(w.page).catch((e) => {
        throw new Error(`window ${w.name} (${w.folder}) never showed its budget: ${e.message}\n${w.consoleLines.slice(-20).join('\n')}`);
      });
      assert.equal(b.label, `Kimi budget: ${RPM} of ${RPM} requests, ${TPM} of ${TPM} tokens left; 0 queued`, `window ${w.name}`);
    }
    const hosts = await until('an extension host per window', async () => extensionHosts().length >= 2 && extensionHosts());
    assert.equal(hosts.length, 2, `code-server runs ${hosts.length} extension hosts`);
    await shotStatusBars('start');
  });

  it('sends four prompts from each window, the two windows taking turns', async () => {
    for (const w of windows) {
      await openFile(w.page, 'prompts.md');
      await w.page.locator('.monaco-editor .view-lines').first().click();
    }
    const stopSampling = startSampling();
    try {
      firstSendAt = Date.now();
      for (let i = 0; i < 4; i++) {
        for (const w of windows) {
          const prompt = PROMPTS[w.name][i];
          await openFile(w.page, 'prompts.md');
          await selectLine(w.page, 2 * i + 1);
          await runCommand(w.page, 'Kimi: Send Prompt');
          // Its editor opens at once, whether it goes now or waits for budget.
          await until(
            `window ${w.name} to open the editor of its send ${i + 1} ("${prompt}")`,
            async () => (await answerTabs(w.page)) === i + 1,
          );
        }
      }
      await shotStatusBars('sent');
      // The second minute: a unit comes back 60 s after each of the first four went.
      const answered = () => {
        const done = new Set(fake.received.filter((r) => r.status === 200 && r.finishedAt).map(promptId));
        return Object.entries(PROMPTS).every(([name, prompts]) => prompts.every((_, i) => done.has(`${name}${i + 1}`)));
      };
      const deadline = firstSendAt + ANSWERS_MS;
      while (!answered() && Date.now() < deadline) await sleep(250);
      // Let both windows settle: nothing running at the server, nothing queued in either window.
      const settleBy = Date.now() + 15_000;
      while (Date.now() < settleBy) {
        const last = samples.at(-1);
        if (fake.stats.inFlight === 0 && last?.a?.q === 0 && last?.b?.q === 0) break;
        await sleep(250);
      }
      // Then both must show the same label: give them a few seconds to get there.
      const agreeBy = Date.now() + 5_000;
      for (;;) {
        const [a, b] = await Promise.all(windows.map((w) => readBudget(w.page)));
        ending = { a, b, agreed: !!a && a.label === b?.label };
        if (ending.agreed || Date.now() > agreeBy) break;
        await sleep(200);
      }
      await shotStatusBars('end');
    } finally {
      await stopSampling();
    }
    for (const w of windows) assert.equal(await answerTabs(w.page), 4, `window ${w.name} shows an editor for each of its four sends`);
    ranAt = Date.now();
  });

  it('the server refused none of the eight (no 429)', () => {
    requireScenario();
    const refused = fake.received.filter((r) => r.status !== 200);
    const tooMany = refused.filter((r) => r.status === 429);
    const sent = busiestMinute(fake.received.map((r) => r.at));
    assert.equal(
      tooMany.length,
      0,
      `the server refused ${tooMany.length} request(s) with 429: the windows overspent the account's ${RPM} RPM ` +
        `(${sent.most} requests reached the server within 60 s from ${since(sent.from)}). Requests at the server:\n${serverLog()}`,
    );
    assert.deepEqual(fake.stats.rejected, {}, `the server refused ${refused.length} request(s):\n${serverLog()}`);
  });

  it(`no 60 seconds at the server held more than ${RPM} admitted requests`, () => {
    requireScenario();
    const { most, from } = busiestMinute(admissions());
    assert.ok(
      most <= RPM,
      `the server admitted ${most} requests within 60 s from ${since(from)}, over the account's ${RPM} RPM:\n${serverLog()}`,
    );
  });

  it('all eight prompts were answered, four per window', () => {
    requireScenario();
    const done = new Set(fake.received.filter((r) => r.status === 200 && r.finishedAt).map(promptId));
    const missing = Object.entries(PROMPTS).flatMap(([name, prompts]) =>
      prompts.map((_, i) => `${name}${i + 1}`).filter((id) => !done.has(id)),
    );
    assert.deepEqual(
      missing,
      [],
      `${missing.length} of the 8 prompts had no answer ${ANSWERS_MS / 1000} s after the first send (${missing.join(', ')}):\n${serverLog()}`,
    );
    assert.equal(fake.stats.completed, 8, `the server finished ${fake.stats.completed} answers for 8 prompts:\n${serverLog()}`);
  });

  it('once the first four have gone, both status bars show 0 requests left and the same tokens, within a second of each other', () => {
    requireScenario();
    const admitted = admissions();
    assert.ok(admitted.length >= RPM, `the server admitted only ${admitted.length} requests:\n${serverLog()}`);
    const fourth = admitted[RPM - 1];
    // Until the first unit comes back (or a fifth request went), the minute is spent.
    const end = Math.min(admitted[0] + WINDOW_MS, admitted[RPM] ?? Infinity);
    const minute = samples.filter((s) => s.at >= fourth && s.at < end);
    assert.ok(minute.length > 0, `no reading of the status bars between ${since(fourth)} and ${since(end)}`);
    const firstZero = minute.find((s) => s.a?.r === 0 || s.b?.r === 0);
    const oneSecondOn = minute.find((s) => s.at >= (firstZero ?? minute[0]).at + AGREE_MS) ?? minute[minute.length - 1];
    assert.ok(
      firstZero,
      `after the server admitted the ${RPM}th request (${since(fourth)}), neither window's status bar showed 0 of ${RPM} requests left ` +
        `before ${since(end)}: the windows do not count each other's sends. ${AGREE_MS} ms after it: ${both(oneSecondOn)}`,
    );
    const agree = minute.find((s) => s.at >= firstZero.at && s.a?.r === 0 && spent(s.a) === spent(s.b));
    assert.ok(
      agree,
      `after the first ${RPM} requests went (${since(fourth)}), the two windows' status bars never agreed on 0 of ${RPM} requests left ` +
        `before ${since(end)}: first ${since(firstZero.at)} ${both(firstZero)}; ${AGREE_MS} ms later ${both(oneSecondOn)}`,
    );
    // The status bars disagreed at least until the reading before they agreed.
    const before = samples[samples.indexOf(agree) - 1];
    const lag = agree === firstZero ? 0 : before.at - firstZero.at;
    assert.ok(
      lag <= AGREE_MS,
      `the two windows' status bars took at least ${lag} ms (over ${AGREE_MS} ms) to agree on 0 of ${RPM} requests left: ` +
        `at ${since(firstZero.at)} ${both(firstZero)}`,
    );
  });

  it(`from then on, the two status bars never disagree for more than ${AGREE_MS} ms`, () => {
    requireScenario();
    const fourth = admissions()[RPM - 1] ?? firstSendAt;
    let worst = { ms: -1, from: /** @type {Sample | undefined} */ (undefined), to: /** @type {Sample | undefined} */ (undefined) };
    /** @type {Sample | undefined} */
    let from;
    for (const s of samples.filter((x) => x.at >= fourth && x.a && x.b)) {
      if (spent(s.a) === spent(s.b)) from = undefined;
      else {
        from ??= s;
        if (s.at - from.at > worst.ms) worst = { ms: s.at - from.at, from, to: s };
      }
    }
    assert.ok(
      worst.ms <= AGREE_MS,
      `the two windows' status bars disagreed for at least ${worst.ms} ms (over ${AGREE_MS} ms): ` +
        `from ${since(worst.from?.at ?? 0)} ${worst.from && both(worst.from)} to ${since(worst.to?.at ?? 0)} ${worst.to && both(worst.to)}`,
    );
  });

  it('at the end, with nothing queued or running, both status bars show the same label', () => {
    requireScenario();
    assert.ok(
      ending.agreed,
      `the two windows' status bars disagree at the end: window A "${ending.a?.label ?? '(no budget item)'}", ` +
        `window B "${ending.b?.label ?? '(no budget item)'}"`,
    );
  });
});
