'use strict';
// What the multi-window end-to-end tests do in a workbench, as a user does it (the command palette,
// Quick Open, the keyboard), and what they read of it (the budget status bar).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { statusBarLabels, waitForStatusBarLabel } = require('./browser');

/** @typedef {import('./playwright').Page} Page */
/** @typedef {{ label: string, r: number, R: number, t: number, T: number, q: number }} Budget */

/**
 * The prompts of the two-window and two-machine tests: different ones (and lengths) per window, so
 * that each window's own spend shows in its tokens; short, so that no line wraps in an editor
 * narrowed by the answer beside it (End would stop at the wrap).
 */
const PROMPTS_BY_WINDOW = {
  A: ['Why is max_tokens charged up front?', 'Name two rate-limit windows.', 'Say hello in Japanese.', 'What is a token bucket?'],
  B: ['Describe a sliding log limiter.', 'Why do servers answer 429?', 'Count to five in French.', 'What does RPM stand for?'],
};

const BUDGET = /^Kimi budget: (\d+) of (\d+) requests, (\d+) of (\d+) tokens left; (\d+) queued$/;

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string} label @returns {Budget | undefined} */
function parseBudget(label) {
  const match = BUDGET.exec(label);
  if (!match) return undefined;
  const [r, R, t, T, q] = match.slice(1).map(Number);
  return { label, r, R, t, T, q };
}

/** The window's budget as its status bar shows it now, undefined while it shows none. @param {Page} page */
async function readBudget(page) {
  const labels = await statusBarLabels(page).catch(() => /** @type {string[]} */ ([]));
  for (const label of labels) {
    const b = parseBudget(label);
    if (b) return b;
  }
  return undefined;
}

/** @param {Page} page */
async function budget(page) {
  const b = parseBudget(await waitForStatusBarLabel(page, BUDGET, 30_000));
  assert.ok(b);
  return b;
}

/** What the two windows must agree on: the minute's requests and tokens (each window has its own queue). @param {Budget | undefined} b */
const spent = (b) => b && `${b.r}/${b.R}/${b.t}/${b.T}`;

/**
 * Polls `probe` until it gives something other than false, and returns that.
 * @template T
 * @param {string} what
 * @param {() => Promise<T | false>} probe
 * @param {number} [ms]
 * @returns {Promise<T>}
 */
async function until(what, probe, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

/**
 * Runs a command from the command palette, as a user types it.
 * @param {Page} page
 * @param {string} title
 */
async function runCommand(page, title) {
  await page.keyboard.press('Control+Shift+P');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor({ state: 'visible' });
  await input.fill(`>${title}`);
  // The row in focus, not any row: until the list is filtered, the focus is on the command run last.
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

/**
 * Opens a workspace file with Quick Open, as a user would.
 * @param {Page} page
 * @param {string} name
 */
async function openFile(page, name) {
  await page.keyboard.press('Control+P');
  await page.locator('.quick-input-widget input.input').fill(name);
  await page.locator('.quick-input-list .monaco-list-row.focused', { hasText: name }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator('.tabs-container .tab.active', { hasText: name }).first().waitFor();
}

/**
 * Selects line `line` (1-based) of the active editor with the keyboard.
 * @param {Page} page
 * @param {number} line
 */
async function selectLine(page, line) {
  await page.keyboard.press('Control+G');
  await page.keyboard.type(String(line));
  await page.keyboard.press('Enter');
  await page.keyboard.press('Home');
  await page.keyboard.press('Shift+End');
}

/** @param {Page} page */
function answerTabs(page) {
  return page.locator('.tabs-container .tab', { hasText: 'Kimi — ' }).count();
}

/**
 * The most of `times` that fall in one `windowMs` span [t, t + windowMs), and the first such span's start.
 * @param {number[]} times
 * @param {number} [windowMs]
 */
function busiestMinute(times, windowMs = 60_000) {
  const sorted = [...times].sort((x, y) => x - y);
  let most = 0;
  let from = sorted[0] ?? 0;
  for (const [i, t] of sorted.entries()) {
    const n = sorted.filter((u, j) => j >= i && u < t + windowMs).length;
    if (n > most) [most, from] = [n, t];
  }
  return { most, from };
}

/**
 * Several pages' status bars, one above the other, in one picture (written to `file`).
 * @param {import('./playwright').BrowserContext} context a browser context to draw the picture in
 * @param {{ caption: string, page: Page }[]} bars
 * @param {string} file
 */
async function statusBarsPicture(context, bars, file) {
  const parts = [];
  for (const { caption, page } of bars) {
    const png = await page.locator('.part.statusbar').screenshot();
    parts.push(`<p>${caption}</p><img src="data:image/png;base64,${png.toString('base64')}">`);
  }
  const html = `<body style="margin:0;font:13px sans-serif"><div id="bars" style="display:inline-block;padding:4px">${parts.join('')}</div></body>`;
  const page = await context.newPage();
  try {
    await page.goto(`data:text/html;base64,${Buffer.from(html).toString('base64')}`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await page.locator('#bars').screenshot({ path: file });
  } finally {
    await page.close();
  }
}

/**
 * "A3" for the third of window A's prompts, from the last message of a request the server received.
 * @param {Record<string, string[]>} prompts by window
 * @param {import('../support/fakeMoonshot').ReceivedRequest} request
 */
function promptId(prompts, request) {
  const text = request.messages.at(-1)?.content ?? '';
  for (const [name, list] of Object.entries(prompts)) {
    const i = list.indexOf(text);
    if (i >= 0) return `${name}${i + 1}`;
  }
  return `? (${JSON.stringify(text.slice(0, 30))})`;
}

module.exports = {
  PROMPTS_BY_WINDOW,
  statusBarsPicture,
  promptId,
  BUDGET,
  sleep,
  parseBudget,
  readBudget,
  budget,
  spent,
  until,
  runCommand,
  openFile,
  selectLine,
  answerTabs,
  busiestMinute,
};
