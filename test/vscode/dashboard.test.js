'use strict';
// Browser end-to-end of the budget dashboard: the packaged extension in a real VS Code 1.96.4 in
// Chromium, a few sends (one refused by the server with 429, then retried) and one that waits in the
// queue; then "Kimi: Show Budget Dashboard". The tables are read from inside the webview's frame and
// compared with the status bar and with what the server counted; screenshots in dark, light and high
// contrast themes go to artifacts/ (dashboard-dark.png is the README's picture).
// Run by `npm run test:e2e`, or after `npm run vsix`: `node --test test/vscode/dashboard.test.js`.
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe, it } = require('node:test');
const { openSession } = require('./session');
const { budget: budgetOf, until: waitUntil, runCommand, openFile, selectLine } = require('./workbenchActions');

const root = path.resolve(__dirname, '../..');
const { FakeMoonshot } = require('../../out/test/support/fakeMoonshot');
const artifacts = path.join(root, 'artifacts');
const PROMPTS = ['Name two kinds of rate-limit windows.', 'Say hello in Japanese.', 'What is a token bucket?'];

/** @type {import('../support/fakeMoonshot').FakeMoonshot} */
let fake;
/** @type {import('./session').Session} */
let session;
/** @type {import('./playwright').Page} */
let page;

/**
 * Waits as workbenchActions' `until` does; a timeout leaves a screenshot of what the page showed.
 * @template T
 * @param {string} what
 * @param {() => Promise<T | false>} probe
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
async function until(what, probe, ms = 30_000) {
  try {
    return await waitUntil(what, probe, ms);
  } catch (error) {
    await shot(`dashboard-failed-${what.replace(/\W+/g, '-')}`).catch(() => {});
    throw error;
  }
}

/** @param {number} line */
async function sendLine(line) {
  await openFile(page, 'prompts.md');
  await page.locator('.monaco-editor .view-lines').first().click();
  await selectLine(page, line);
  await runCommand(page, 'Kimi: Send Prompt');
}

/** @param {string} name */
async function shot(name) {
  fs.mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/**
 * The webview's inner frame that holds the dashboard (webviews are an `iframe.webview` whose document
 * holds `iframe#active-frame`): the frame in which the page drew its budget table.
 * @returns {Promise<import('./playwright').Frame>}
 */
function dashboardFrame() {
  return until('the dashboard inside its webview', async () => {
    for (const frame of page.frames()) {
      const rows = await frame.$$eval('#now tbody tr', (trs) => trs.length).catch(() => 0);
      if (rows > 0) return frame;
    }
    return false;
  });
}

/**
 * A table of the dashboard as text: its caption, header cells and rows of cells.
 * @param {import('./playwright').Frame} frame
 * @param {string} id
 */
function readTable(frame, id) {
  return frame.$eval(`#${id}`, (table) => ({
    /** @type {string} */
    caption: table.querySelector('caption')?.textContent ?? '',
    /** @type {string[]} */
    head: [...table.querySelectorAll('thead th')].map((/** @type {any} */ th) => `${th.textContent}|${th.getAttribute('scope')}`),
    /** @type {string[][]} */
    rows: [...table.querySelectorAll('tbody tr')].map((/** @type {any} */ tr) =>
      [...tr.children].map((/** @type {any} */ cell) => cell.textContent ?? ''),
    ),
  }));
}

/** @param {string} text */
const number = (text) => Number(text.replace(/,/g, ''));

/**
 * Switches the color theme from the command palette, as a user does, and waits for the workbench to show it.
 * @param {string} theme
 * @param {string} workbenchClass
 */
async function useTheme(theme, workbenchClass) {
  await page.keyboard.press('Escape');
  // "Color Theme" also matches "Browse Color Themes in Marketplace": pick the row itself.
  await page.keyboard.press('Control+Shift+P');
  await page.locator('.quick-input-widget input.input').fill('>Preferences: Color Theme');
  await page
    .locator('.quick-input-list .monaco-list-row', { hasText: /Preferences: Color Theme(?!s)/ })
    .first()
    .click();
  // The theme picker replaces the command palette: wait for its list (the current theme is in view) before filtering it.
  await page
    .locator('.quick-input-list .monaco-list-row', { hasText: 'Modern' })
    .first()
    .waitFor()
    .catch(async (/** @type {unknown} */ error) => {
      await shot('dashboard-failed-theme-picker');
      throw error;
    });
  await page.locator('.quick-input-widget input.input').fill(theme);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: theme }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator(`.monaco-workbench.${workbenchClass}`).waitFor({ timeout: 30_000 });
  // The webview's body takes the theme's class, and the page redraws its charts as it changes.
  const bodyClass = { vs: 'vscode-light', 'vs-dark': 'vscode-dark', 'hc-black': 'vscode-high-contrast' }[workbenchClass];
  const frame = await dashboardFrame();
  await until(`the dashboard in ${theme}`, () =>
    frame.$eval(
      'body',
      (body, name) =>
        /** @type {Promise<boolean>} */ (
          new Promise((resolve) => body.ownerDocument.defaultView.requestAnimationFrame(() => resolve(body.classList.contains(name))))
        ),
      bodyClass,
    ),
  );
}

describe('the budget dashboard in Chromium', { timeout: 300_000 }, () => {
  before(async () => {
    fake = new FakeMoonshot({ chunkDelayMs: 20, answerChunks: 6 });
    const baseUrl = await fake.start();
    session = await openSession({
      name: 'dashboard',
      files: { 'prompts.md': `${PROMPTS.join('\n\n')}\n` },
      env: { MOONSHOT_API_KEY: fake.apiKey },
      settings: {
        'workbench.colorTheme': 'Default Dark Modern',
        'kimiBudget.baseUrl': baseUrl,
        'kimiBudget.limits.requestsPerMinute': 3,
        'kimiBudget.limits.tokensPerDay': 1_000_000,
        'kimiBudget.maxOutputTokens': 500,
      },
    });
    page = session.page;
  });

  after(async () => {
    await session?.close();
    await fake?.stop();
  });

  it('after sends, a refusal and a queue, the tables inside the webview agree with the status bar and the server', async () => {
    await budgetOf(page);
    await sendLine(1);
    await until('the first answer', async () => fake.stats.completed === 1 && fake.stats.inFlight === 0, 60_000);
    // The server refuses the next one once, for rate, and names a short wait: the queue pauses, then
    // retries. (A limit it states no lower than the budget's: someone else took the room, so nothing
    // is learned but a smaller share of the tokens, which these small sends still fit in.)
    fake.failNext({
      status: 429,
      type: 'rate_limit_reached_error',
      message:
        'Your account org-fake<ak-fake> request reached organization TPM rate limit, current: 150600, limit: 150000, please try again after 2 seconds',
    });
    await sendLine(3);
    await until('the refused send, retried and answered', async () => fake.stats.completed === 2 && fake.stats.inFlight === 0, 60_000);
    // Three requests reached the server this minute, the most the limit allows: the next one waits.
    await sendLine(5);
    const queued = await until('a send to wait', async () => {
      const b = await budgetOf(page);
      return b.q === 1 && b;
    });
    assert.equal(queued.r, 0);

    // The dashboard alone in the window, for the pictures: no other editor, no side bar, no notification over it.
    await runCommand(page, 'View: Close All Editors');
    await runCommand(page, 'View: Toggle Primary Side Bar Visibility');
    await runCommand(page, 'Notifications: Toggle Do Not Disturb Mode');
    await runCommand(page, 'Kimi: Show Budget Dashboard');
    const frame = await dashboardFrame();
    // Read the status bar and the page within one second's update of each other, until they agree.
    const { status, now } = await until('the dashboard to show the status bar numbers', async () => {
      const status = await budgetOf(page);
      const now = await readTable(frame, 'now');
      const [requests, tokens] = now.rows;
      const agree = number(requests[2]) === status.r && number(tokens[2]) === status.t && number(now.rows[3][1]) === status.q;
      return agree && { status, now };
    });
    assert.deepEqual(now.head, ['|col', 'used|col', 'left|col', 'limit|col'], 'the table names its columns, each a header with a scope');
    assert.match(now.caption, /The budget now/);
    assert.equal(number(now.rows[0][3]), status.R);
    assert.equal(number(now.rows[1][3]), status.T);

    await frame.click('#usage-numbers summary'); // the charts' numbers, as a reader opens them
    const usage = await until('the numbers of the charts', async () => {
      const table = await readTable(frame, 'usage');
      return table.rows.length > 0 && table;
    });
    const column = (/** @type {number} */ i) => usage.rows.reduce((sum, row) => sum + number(row[i]), 0);
    assert.equal(column(1), fake.stats.requests, 'requests per minute, summed: what reached the server (the refused one too)');
    assert.equal(column(3), fake.stats.rejected.rate_limit_reached_error, "the server's refusals");
    assert.ok(column(4) >= 1, 'the pause the server asked for is marked');
    assert.equal(column(2), status.T - status.t, "tokens per minute, summed: what the status bar says this minute's sends took");
    const accepted = fake.received.filter((r) => r.status === 200);

    const line = await readTable(frame, 'line');
    const waiting = line.rows.filter((row) => /^\d+:\d\d$/.test(row[2]));
    assert.equal(waiting.length, 1, JSON.stringify(line.rows));
    assert.deepEqual(waiting[0].slice(3), ['requests per minute', 'this window']);
    assert.equal(waiting[0][0], PROMPTS[2].slice(0, waiting[0][0].length));

    const accuracy = await readTable(frame, 'accuracy');
    assert.equal(accuracy.rows.length, 1);
    assert.equal(accuracy.rows[0][0], 'kimi-k2.6');
    assert.equal(number(accuracy.rows[0][1]), 2, 'two answers reported their count');
    assert.equal(number(accuracy.rows[0][5]), accepted.at(-1)?.promptTokens, "the last server's count is the server's");
    const models = await readTable(frame, 'models');
    assert.equal(models.rows[0][0], 'kimi-k2.6');
    assert.equal(number(models.rows[0][2]), 2);

    const charts = await frame.$$eval('.uplot canvas', (canvases) => canvases.length);
    assert.equal(charts, 4, 'four charts: requests, tokens, the line, cost per day');
    const dark = await shot('dashboard-dark');
    console.log(`# ${dark}`);
    await frame.$eval('#chart-costs', (chart) => chart.scrollIntoView());
    console.log(`# ${await shot('dashboard-dark-costs')}`);
    await frame.$eval('h1', (title) => title.scrollIntoView());
  });

  it('draws a day at minute resolution when asked, and follows the theme', async () => {
    const frame = await dashboardFrame();
    await frame.click('#range-day');
    await until('the day view', async () => (await frame.$eval('body', (b) => b.dataset.drawPoints ?? '')) === '1440');
    console.log(`# a day drawn in ${await frame.$eval('body', (b) => b.dataset.drawMs)} ms (in the test's browser)`);
    await frame.click('#range-hour');
    await until('the hour view', async () => (await frame.$eval('body', (b) => b.dataset.drawPoints ?? '')) === '60');
    const colour = () => frame.$eval('body', (b) => b.ownerDocument.defaultView.getComputedStyle(b).backgroundColor);
    const darkBackground = await colour();
    await useTheme('Light Modern', 'vs');
    await until('the webview in light colours', async () => (await colour()) !== darkBackground);
    console.log(`# ${await shot('dashboard-light')}`);
    await useTheme('Dark High Contrast', 'hc-black');
    console.log(`# ${await shot('dashboard-high-contrast')}`);
    const policy = session.workbench.consoleLines.filter((l) => /Content Security Policy|Refused to (load|apply|execute)/.test(l));
    assert.deepEqual(policy, [], 'nothing on the page was refused by its content security policy');
  });
});
