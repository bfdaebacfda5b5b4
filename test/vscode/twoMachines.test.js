'use strict';
// Two machines of a team spend one Moonshot account through one Redis. Two code-server processes,
// each with its own user-data and extensions folders (two "machines", two profiles, two extension
// hosts), both set to one Redis (Debian's redis-server on a free loopback port, started here). Each
// sends four prompts from the command palette, the two taking turns, against a fake server that
// allows 4 requests a minute. Once the first four have gone, Redis is killed, left dead for five
// seconds and started again with no data: both windows must say "team budget offline", keep
// waiting, declare what they hold when it is back, and send the rest in the second minute. The
// server must refuse none, no minute may hold more than 4, all eight are answered, and both status
// bars must agree. Screenshots: artifacts/two-machines-*.png.
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

const root = path.resolve(__dirname, '../..');
const { FakeMoonshot } = require('../../out/test/support/fakeMoonshot');
const { RedisServer } = require('../../out/test/support/redisServer');
const artifacts = path.join(root, 'artifacts');
const RPM = 4;
const TPM = 1_000_000;
const ANSWERS_MS = 150_000;
const OUTAGE_MS = 5_000;
const KEY = `sk-e2e-${require('node:crypto').randomBytes(12).toString('hex')}`;

/** @typedef {import('./playwright').Page} Page */
/** @typedef {{ name: 'A' | 'B', folder: string, page: Page, server: import('./codeServer').CodeServer }} Machine */

/** @type {import('../support/fakeMoonshot').FakeMoonshot} */
let fake;
/** @type {import('../support/redisServer').RedisServer} */
let redis;
/** @type {import('./browser').Workbench} */
let workbench;
/** @type {string} */
let tmp;
/** @type {Machine[]} */
const machines = [];
let ranAt = 0;
/** What each status bar said while Redis was down, and at the end. */
const seen = {
  offline: { A: false, B: false },
  endLabels: /** @type {(string | undefined)[]} */ ([]),
  endTexts: /** @type {string[]} */ ([]),
};

/** @param {import('../support/fakeMoonshot').ReceivedRequest} r */
const promptId = (r) => promptIdOf(PROMPTS, r);
const serverLog = () => fake.received.map((r) => `  ${new Date(r.at).toISOString()} ${promptId(r)} ${r.status}`).join('\n');
/** @param {Page} page */
const statusText = (page) => page.locator('.part.statusbar').innerText();

/** Both status bars in one picture: artifacts/two-machines-<name>.png. @param {string} name */
const shot = (name) =>
  statusBarsPicture(
    workbench.context,
    machines.map((m) => ({ caption: `Machine ${m.name}`, page: m.page })),
    path.join(artifacts, `two-machines-${name}.png`),
  );

describe('two machines of a team share one Kimi budget through Redis', { timeout: 360_000 }, () => {
  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-budget-two-machines-'));
    fake = new FakeMoonshot({ rpm: RPM, tpm: TPM, windowMs: 60_000, chunkDelayMs: 30, answerChunks: 8, apiKey: KEY });
    const baseUrl = await fake.start();
    redis = await RedisServer.start();
    for (const name of /** @type {const} */ (['A', 'B'])) {
      const dir = path.join(tmp, `machine-${name.toLowerCase()}`);
      const folder = path.join(dir, 'project');
      fs.mkdirSync(folder, { recursive: true });
      fs.writeFileSync(path.join(folder, 'prompts.md'), `${PROMPTS[name].join('\n\n')}\n`);
      const env = { MOONSHOT_API_KEY: fake.apiKey };
      const dirs = { userDataDir: path.join(dir, 'user-data'), extensionsDir: path.join(dir, 'extensions'), workspace: folder };
      await installVsix(path.join(root, '.vscode-test', 'kimi-budget.vsix'), { ...dirs, env });
      const settings = {
        ...QUIET_SETTINGS,
        'kimiBudget.baseUrl': baseUrl,
        'kimiBudget.allowInsecureHttp': true,
        'kimiBudget.limits.requestsPerMinute': RPM,
        'kimiBudget.limits.tokensPerMinute': TPM,
        'kimiBudget.maxOutputTokens': 500,
        'kimiBudget.team.redisUrl': redis.url,
      };
      const server = await startCodeServer({ ...dirs, env, settings });
      let page;
      if (!workbench) {
        workbench = await openWorkbench(server.url, { folder });
        page = workbench.page;
      } else {
        page = await workbench.context.newPage();
        await page.goto(server.workbenchUrl({ folder, payload: [] }), { waitUntil: 'domcontentloaded', timeout: 60_000 });
        await page.waitForSelector('.monaco-workbench', { timeout: 60_000 });
      }
      machines.push({ name, folder, page, server });
    }
  });

  after(async () => {
    await workbench?.close();
    for (const m of machines) await m.server.stop();
    await fake?.stop();
    await redis?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('both machines show the full budget, connected to the team', async () => {
    for (const m of machines) {
      const b = await budget(m.page);
      assert.equal(b.label, `Kimi budget: ${RPM} of ${RPM} requests, ${TPM} of ${TPM} tokens left; 0 queued`, `machine ${m.name}`);
      assert.doesNotMatch(await statusText(m.page), /team budget offline/);
    }
  });

  it('each sends four prompts, taking turns; Redis dies for five seconds after the first minute is spent', async () => {
    for (const m of machines) {
      await openFile(m.page, 'prompts.md');
      await m.page.locator('.monaco-editor .view-lines').first().click();
    }
    const firstSendAt = Date.now();
    for (let i = 0; i < 4; i++) {
      for (const m of machines) {
        await openFile(m.page, 'prompts.md');
        await selectLine(m.page, 2 * i + 1);
        await runCommand(m.page, 'Kimi: Send Prompt');
        await until(`machine ${m.name}'s editor for send ${i + 1}`, async () => (await answerTabs(m.page)) === i + 1);
      }
    }
    await until('the first minute spent (4 admitted)', async () => fake.received.filter((r) => r.status === 200).length >= RPM, 30_000);
    // Both status bars count the whole team's minute.
    await until(
      'both status bars at 0 requests left',
      async () => (await Promise.all(machines.map((m) => readBudget(m.page)))).every((b) => b?.r === 0),
      10_000,
    );
    await shot('sent');
    await redis.kill();
    const outageEnd = Date.now() + OUTAGE_MS;
    while (Date.now() < outageEnd) {
      for (const m of machines) if (/team budget offline/.test(await statusText(m.page))) seen.offline[m.name] = true;
      if (seen.offline.A && seen.offline.B) await shot('offline');
      await sleep(250);
    }
    await redis.restart();
    const answered = () => new Set(fake.received.filter((r) => r.status === 200 && r.finishedAt).map(promptId)).size === 8;
    while (!answered() && Date.now() < firstSendAt + ANSWERS_MS) await sleep(250);
    await until('both windows idle', async () => fake.stats.inFlight === 0, 15_000);
    const endBy = Date.now() + 10_000;
    for (;;) {
      seen.endLabels = await Promise.all(machines.map(async (m) => (await readBudget(m.page))?.label));
      seen.endTexts = await Promise.all(machines.map((m) => statusText(m.page)));
      const back = seen.endTexts.every((t) => !/team budget offline/.test(t));
      if ((back && seen.endLabels[0] && seen.endLabels[0] === seen.endLabels[1]) || Date.now() > endBy) break;
      await sleep(250);
    }
    await shot('end');
    ranAt = Date.now();
  });

  it('the server refused none (no 429), and no minute held more than 4', () => {
    assert.ok(ranAt, 'the scenario ran');
    assert.deepEqual(fake.stats.rejected, {}, serverLog());
    const { most } = busiestMinute(fake.received.filter((r) => r.status === 200).map((r) => r.at));
    assert.ok(most <= RPM, `${most} requests admitted within 60 s:\n${serverLog()}`);
  });

  it('all eight prompts were answered, four per machine', () => {
    assert.ok(ranAt, 'the scenario ran');
    assert.equal(new Set(fake.received.filter((r) => r.status === 200 && r.finishedAt).map(promptId)).size, 8, serverLog());
    assert.equal(fake.stats.completed, 8, serverLog());
  });

  it('both status bars said "team budget offline" while Redis was down, and neither does once it is back', () => {
    assert.ok(ranAt, 'the scenario ran');
    assert.deepEqual(seen.offline, { A: true, B: true });
    for (const text of seen.endTexts) assert.doesNotMatch(text, /team budget offline/);
  });

  it('at the end both status bars show the same label', () => {
    assert.ok(ranAt, 'the scenario ran');
    assert.ok(seen.endLabels[0], 'machine A shows its budget');
    assert.equal(seen.endLabels[0], seen.endLabels[1]);
  });
});
