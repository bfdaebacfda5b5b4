'use strict';
// Browser end-to-end, as a user works: the packaged extension in a real VS Code 1.96.4 in Chromium,
// a prompt selected in a file, "Kimi: Send Prompt" run from the command palette, the answer tab,
// the status bar's aria-labels before and after, and a send that waits in the queue.
// Run by `npm run test:e2e` (node's test runner); screenshots go to artifacts/.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { waitForStatusBarLabel } = require('./browser');
const { openSession } = require('./session');
const actions = require('./workbenchActions');
const { until } = actions;
/** The same actions, on this file's one page. */
const budget = () => actions.budget(page);
/** @param {string} title */
const runCommand = (title) => actions.runCommand(page, title);
/** @param {string} name */
const openFile = (name) => actions.openFile(page, name);
/** @param {number} line */
const selectLine = (line) => actions.selectLine(page, line);
const answerTabs = () => actions.answerTabs(page);

const root = path.resolve(__dirname, '../..');
const { FakeMoonshot } = require('../../out/test/support/fakeMoonshot');
const artifacts = path.join(root, 'artifacts');
const PROMPTS = [
  'Explain in one sentence why max_tokens is charged up front.',
  'Name two kinds of rate-limit windows.',
  'Say hello in Japanese.',
  'What is a token bucket?',
];

/** @type {import('../support/fakeMoonshot').FakeMoonshot} */
let fake;
/** @type {import('./session').Session} */
let session;
/** @type {import('./playwright').Page} */
let page;
/** @type {{ userDataDir: string, extensionsDir: string, workspace: string }} */
let dirs;
const KEY = `sk-e2e-${require('node:crypto').randomBytes(12).toString('hex')}`;

/**
 * Every file below `roots` whose bytes contain `needle`, and how many files were read.
 * @param {string[]} roots
 * @param {string} needle
 */
function filesContaining(roots, needle) {
  /** @type {string[]} */
  const hits = [];
  /** @type {string[]} */
  const read = [];
  /** @param {string} dir */
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else if (entry.isFile()) {
        read.push(file);
        if (fs.readFileSync(file).includes(needle)) hits.push(file);
      }
    }
  };
  for (const root of roots) walk(root);
  return { hits, read };
}

/** @param {string} name */
async function shot(name) {
  fs.mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `${name}.png`) });
}

describe('kimi-budget in Chromium, as a user uses it', { timeout: 420_000 }, () => {
  before(async () => {
    fake = new FakeMoonshot({ rpm: 2, chunkDelayMs: 30, answerChunks: 8, apiKey: KEY });
    const baseUrl = await fake.start();
    session = await openSession({
      name: 'e2e',
      files: { 'prompts.md': `${PROMPTS.join('\n\n')}\n` },
      env: { MOONSHOT_API_KEY: fake.apiKey },
      settings: {
        'kimiBudget.baseUrl': baseUrl,
        'kimiBudget.limits.requestsPerMinute': 2,
        'kimiBudget.maxOutputTokens': 500,
      },
    });
    page = session.page;
    dirs = session.dirs;
  });

  after(async () => {
    await session?.close();
    await fake?.stop();
  });

  it('shows the full budget in the status bar once VS Code is up', async () => {
    const b = await budget();
    assert.equal(b.label, 'Kimi budget: 2 of 2 requests, 150000 of 150000 tokens left; 0 queued');
    await shot('status-normal');
  });

  it('counts the selected prompt in the selection item', async () => {
    await openFile('prompts.md');
    await page.locator('.monaco-editor .view-lines').first().click();
    await selectLine(1);
    // The item counts the selection a moment after it changes: until then it shows the count of the
    // selection before (the click's). Read until it shows the line's.
    let tokens = 0;
    await until('the count of the one-sentence prompt', async () => {
      const label = await waitForStatusBarLabel(page, /^Kimi tokens in selection: \d+$/, 30_000);
      tokens = Number(label.split(': ')[1]);
      return tokens >= 8 && tokens <= 20;
    }).catch(() => assert.fail(`a one-sentence prompt has ${tokens} tokens`));
  });

  it('sends the selection from the command palette; the answer opens beside it and the budget drops', async () => {
    const before = await budget();
    await runCommand('Kimi: Send Prompt');
    await until('an answer tab', async () => (await answerTabs()) === 1);
    await until('the answer to finish', async () => (await page.locator('.view-lines', { hasText: 'finished:' }).count()) > 0);
    const after = await until('the budget to settle', async () => {
      const b = await budget();
      return b.r === before.r - 1 && b.t < before.t && b;
    });
    const sent = fake.received.at(-1);
    assert.ok(sent, 'the server received the send');
    assert.equal(after.t, before.t - sent.charged, 'tokens drop by what the server charged: prompt + max_tokens');
    assert.equal(sent.maxTokens, 500);
    await shot('answer-shown');
  });

  it('a send over the limit waits in the queue with its ETA, then goes by itself', async () => {
    await openFile('prompts.md');
    await selectLine(3);
    await runCommand('Kimi: Send Prompt');
    // Its editor opens at once: wait for the answer itself, so that the count below starts from it.
    await until('the second answer', async () => (await answerTabs()) === 2 && fake.stats.completed === 2 && fake.stats.inFlight === 0);
    await openFile('prompts.md');
    await selectLine(5);
    const completed = fake.stats.completed;
    await runCommand('Kimi: Send Prompt');
    const queued = await until('the third send to queue', async () => {
      const b = await budget();
      return b.q === 1 && b;
    });
    assert.equal(queued.r, 0);
    const text = await page.locator('.statusbar-item', { hasText: 'queued' }).first().innerText();
    assert.match(text, /1 queued, next \d+:\d\d/);
    assert.equal(fake.stats.requests, 2, 'nothing is sent while the minute is spent');
    await until(
      'the queue notification',
      async () => (await page.locator('.notification-toast', { hasText: 'goes out in' }).count()) > 0,
      10_000,
    );
    // Its editor is open already, and says why nothing has arrived yet.
    await until(
      "the waiting send's editor",
      async () => (await answerTabs()) === 3 && (await page.locator('.view-lines', { hasText: 'waiting for budget' }).count()) > 0,
    );
    await shot('queued');
    await until('the third answer, sent by itself when a unit came back', async () => fake.stats.completed === completed + 1, 75_000);
    await until(
      'the third answer in its editor',
      async () =>
        (await page.locator('.view-lines', { hasText: 'About "Say hello in Japanese' }).count()) > 0 &&
        (await page.locator('.view-lines', { hasText: 'finished:' }).count()) > 0,
    );
    assert.equal((await budget()).q, 0);
    assert.deepEqual(fake.stats.rejected, {}, 'the server refused nothing');
    // The whole wait, not only the instant it queued: it reached the server once the first send's minute was over.
    const [first, , third] = fake.received;
    assert.equal(fake.received.length, 3);
    assert.ok(
      third.at - first.at >= 60_000,
      `the third send reached the server ${third.at - first.at} ms after the first, inside its minute`,
    );
  });

  it('a send still waiting when the window reloads is offered again after the reload, and goes out', async () => {
    // Send until one waits long enough for the reload to happen meanwhile. The minute holds two
    // requests; a send queued a moment before a unit comes back goes out at once: then the next is sent.
    for (let sent = 0; ; sent++) {
      assert.ok(sent < 5, 'a send waits for the minute within five sends');
      await until('nothing running or waiting', async () => fake.stats.inFlight === 0 && (await budget()).q === 0);
      await openFile('prompts.md');
      await selectLine(7);
      const requests = fake.received.length;
      await runCommand('Kimi: Send Prompt');
      await until('the send to go out or wait', async () => fake.received.length > requests || (await budget()).q > 0);
      if ((await budget()).q === 0) continue;
      const status = await page.locator('.statusbar-item', { hasText: 'queued' }).first().innerText();
      const next = /next (\d+):(\d\d)/.exec(status);
      if (!next || Number(next[1]) * 60 + Number(next[2]) >= 20) break;
    }
    await until('nothing running', async () => fake.stats.inFlight === 0);
    const answered = fake.stats.completed;
    const leftBefore = (await budget()).r;
    await page.reload();
    // The budget item of the new window appears once its account's budget is known (never before):
    // the first numbers it shows are the ones asserted, whenever the extension gets there.
    const reloaded = await until("the reloaded window's budget", () => actions.readBudget(page), 60_000);
    assert.ok(reloaded);
    assert.equal(reloaded.r, leftBefore, 'the reloaded window remembers what this minute already spent');
    const offer = page.locator('.notification-toast', { hasText: 'was waiting or being answered when the window closed' });
    await offer.waitFor({ timeout: 30_000 });
    assert.match(await offer.innerText(), /What is a token bucket\?/);
    await shot('resume-offer');
    await offer.getByRole('button', { name: 'Send Again' }).click();
    await until('the resent prompt to be answered', async () => fake.stats.completed === answered + 1, 90_000);
    assert.equal(fake.received.at(-1)?.messages.at(-1)?.content, 'What is a token bucket?');
    await until(
      'its answer tab',
      async () => (await page.locator('.tabs-container .tab', { hasText: 'What is a token bucket' }).count()) > 0,
    );
  });

  it("a command link in a server's error is shown as text in the notification, not as a link", async () => {
    const link = '[Verify key](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22echo%20pwned%22%7D)';
    fake.failNext({ status: 400, type: 'invalid_request_error', message: `Invalid request: ${link}` });
    await openFile('prompts.md');
    await selectLine(1);
    await runCommand('Kimi: Send Prompt'); // may wait for the minute's budget first
    const toast = page.locator('.notification-toast', { hasText: 'Verify key' }).first();
    await toast.waitFor({ timeout: 90_000 });
    await shot('link-refused');
    assert.match(await toast.innerText(), /\[Verify key\]/, 'the words are shown');
    assert.equal(await toast.locator('a', { hasText: 'Verify key' }).count(), 0, 'but no link is made of them');
  });

  it('never writes the key: after "Kimi: Set API Key", no file of the profile (history, state, logs), the extensions or the workspace holds it', async () => {
    await runCommand('Kimi: Set API Key');
    const input = page.locator('.quick-input-widget input.input');
    await page.locator('.quick-input-widget', { hasText: 'Set API Key' }).waitFor({ timeout: 10_000 });
    await input.fill(KEY);
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: 'API key saved in secret storage' }).waitFor({ timeout: 10_000 });
    await page.keyboard.press('Control+Shift+P'); // a change of focus: VS Code writes pending state
    await page.keyboard.press('Escape');
    // The scan starts once the saving has reached the disk: its own line is in the extension's log.
    await until('the log to record the saved key', async () =>
      filesContaining([dirs.userDataDir], 'API key saved in secret storage').hits.some((f) => /Kimi Budget\.log$/.test(f)),
    );
    const { hits, read } = filesContaining([dirs.userDataDir, dirs.extensionsDir, dirs.workspace], KEY);
    assert.deepEqual(hits, []);
    assert.ok(
      read.some((f) => f.endsWith(path.join('kimi-budget.kimi-budget', 'history.json'))),
      'the scan read the answer history the extension wrote',
    );
    assert.ok(
      read.some((f) => /Kimi Budget\.log$/.test(f)),
      `the scan read the extension's log (${read.length} files)`,
    );
  });
});
