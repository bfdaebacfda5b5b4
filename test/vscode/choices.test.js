'use strict';
// Browser end-to-end: the choices a send can put to the user, read and answered in what VS Code
// shows (notifications, the modal dialog, the quick input, the answer's editor) — an answer cut at
// max_tokens, a model the server does not know, a follow-up too long for the context window, the
// Cancel of a progress notification, and the prompts a closed window left unanswered.
// Run by `npm run test:e2e` (node's test runner).
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { after, afterEach, before, describe, it } = require('node:test');
const { openSession } = require('./session');
const actions = require('./workbenchActions');
const { until } = actions;
const budget = () => actions.budget(page);
/** @param {string} title */
const runCommand = (title) => actions.runCommand(page, title);
/** @param {string} name */
const openFile = (name) => actions.openFile(page, name);

/** Whether `locator` shows within five seconds. @param {import('./playwright').Locator} locator */
const shows = (locator) =>
  locator.waitFor({ state: 'visible', timeout: 5_000 }).then(
    () => true,
    () => false,
  );

/** @param {number} line */
const selectLine = (line) => actions.selectLine(page, line);

const root = path.resolve(__dirname, '../..');
const { FakeMoonshot } = require('../../out/test/support/fakeMoonshot');
const MODEL = 'moonshot-v1-8k'; // 8,192 tokens of context: a long conversation overflows it soon
const MAX_OUTPUT = 1_000;
const PROMPTS = [
  'What is a token bucket?',
  'This answer stalls.',
  'This one waits behind it.',
  'Name one rate limit.',
  'Left over one: what is TPM?',
  'Left over two: what is RPM?',
  'Left over three: what is TPD?',
  'Cut off: what is a stream?',
];
// The counts below are o200k's; the extension scales them by what answers taught it (up to about 1.5
// here, where short prompts carry the server's per-message overhead). Either way the long prompt
// fits with its max output (≤ 1.6 × 3,892 + 1,000 < 8,192), and the follow-up after it does not
// (≥ 3,892 + 3,743 + 1,000 > 8,192) unless the long prompt's exchange is let go of or summarised.
/** 3,892 tokens. */
const LONG = Array.from({ length: 278 }, (_, i) => `Fact ${i}: the engine charges prompt plus max tokens at admission.`).join(' ');
/** 3,743 tokens. */
const FOLLOW_UP = `And then? ${Array.from({ length: 340 }, (_, i) => `Detail ${i}: how long does a window last?`).join(' ')}`;
/** A letter-only word for `n`, a different one for each n. @param {number} n */
function word(n) {
  let w = 'z';
  do {
    w += String.fromCharCode(97 + (n % 26));
    n = Math.floor(n / 26);
  } while (n > 0);
  return w;
}
/**
 * 2.4 MB of 400,000 words, all different: no piece of it is counted before (the counter remembers at
 * most 100,000), so each count of it takes seconds, well past the moment the notification shows.
 */
const HUGE = Array.from({ length: 20_000 }, (_, line) => Array.from({ length: 20 }, (_, i) => word(line * 20 + i)).join(' ')).join('\n');

/** 4.7 MB of a log's few phrases again and again: once the selection item has counted it, counting it again is quick. */
const LOG = Array.from(
  { length: 12_000 },
  (_, i) => `${i}: ${'a very long log is counted before it is sent anywhere at all; '.repeat(6)}`,
).join('\n');

/** @type {import('../support/fakeMoonshot').FakeMoonshot} */
let fake;
/** @type {import('./session').Session} */
let session;
/** @type {import('./playwright').Page} */
let page;
/** @type {string} */
let userSettings;

/**
 * Keeps the text of every notification toast the page shows, however briefly, in `globalThis.kimiToasts`;
 * with `globalThis.kimiCancelCounting` set, clicks the Cancel of the next count's notification.
 * Runs inside the page (no DOM types here).
 */
function recordToasts() {
  /** @type {any} */
  const page = globalThis;
  if (page.kimiToasts) return;
  page.kimiToasts = [];
  const look = () => {
    for (const toast of page.document.querySelectorAll('.notification-toast')) {
      const text = toast.textContent ?? '';
      if (!page.kimiToasts.includes(text)) page.kimiToasts.push(text);
      // A user quick on the button: Cancel the instant a count's notification shows.
      if (page.kimiCancelCounting && text.includes('counting tokens')) {
        const cancel = [...toast.querySelectorAll('.monaco-button')].find((b) => b.textContent === 'Cancel');
        if (cancel) {
          page.kimiCancelCounting = false;
          cancel.click();
        }
      }
    }
  };
  new page.MutationObserver(look).observe(page.document, { subtree: true, childList: true, characterData: true });
}

/** Empties the record of toasts shown (runs inside the page). */
function forgetToasts() {
  /** @type {any} */
  const page = globalThis;
  page.kimiToasts.length = 0;
}

/** Has the page Cancel the next count's notification as soon as it shows (runs inside the page). */
function cancelNextCount() {
  /** @type {any} */
  const page = globalThis;
  page.kimiCancelCounting = true;
}

/** @returns {Promise<string[]>} every toast shown since the page loaded */
const toastsSeen = () => page.evaluate(() => /** @type {any} */ (globalThis).kimiToasts ?? []);

/** @param {string | RegExp} text */
const toast = (text) => page.locator('.notification-toast', { hasText: text }).first();

/** @param {string | RegExp} text a line of an editor on screen */
const shown = (text) => page.locator('.view-lines', { hasText: text });

/** A value of the user settings file as VS Code wrote it (undefined while a write is under way). @param {string} key */
function userSetting(key) {
  try {
    return JSON.parse(fs.readFileSync(userSettings, 'utf8'))[key];
  } catch {
    return undefined;
  }
}

/** Waits until the extension's count of the selection names `tokens` of max output: it has read the setting. @param {number} tokens */
async function untilMaxOutput(tokens) {
  const expected = `(with ${tokens.toLocaleString('en-US')} max output)`;
  await openFile('prompts.md');
  await until(`the extension to read a max output of ${tokens}`, async () => {
    await runCommand('Notifications: Clear All Notifications');
    await runCommand('Kimi: Count Tokens in Selection');
    const said = await toast('max output)')
      .innerText({ timeout: 5_000 })
      .catch(() => '');
    return said.includes(expected);
  });
  await runCommand('Notifications: Clear All Notifications');
}

/** Puts the focus in the editor of the active group (a file just opened; not the answer beside it). */
const focusEditor = () => page.locator('.editor-group-container.active .monaco-editor .view-lines').first().click();

/** Selects line `line` of prompts.md, and waits until the status bar says a selection is made. @param {number} line */
async function selectPromptLine(line) {
  await openFile('prompts.md');
  await focusEditor();
  await selectLine(line);
  await page.locator('.statusbar-item', { hasText: 'selected)' }).first().waitFor({ timeout: 10_000 });
}

/** Clears the active editor's selection, so that "Kimi: Send Prompt" asks for a prompt. */
async function clearSelection() {
  await openFile('prompts.md');
  await focusEditor();
  await page.keyboard.press('Control+Home');
  await until('no selection', async () => (await page.locator('.statusbar-item', { hasText: 'selected)' }).count()) === 0);
}

/** The quick input's text once it shows `title`. @param {string} title */
async function quickInput(title) {
  await page.locator('.quick-input-widget', { hasText: title }).waitFor({ timeout: 10_000 });
  return page.locator('.quick-input-widget input.input');
}

/** What the server answered since `from`, done. @param {number} from */
const completedSince = (from) => fake.stats.completed - from;

describe('kimi-budget in Chromium: the choices a send puts to the user', { timeout: 600_000 }, () => {
  before(async () => {
    fake = new FakeMoonshot({ chunkDelayMs: 10, answerChunks: 4 });
    const baseUrl = await fake.start();
    session = await openSession({
      name: 'choices',
      files: {
        'prompts.md': `${PROMPTS.join('\n\n')}\n`,
        'long.md': `${LONG}\n`,
        'huge.md': `${HUGE}\n`,
        'big.log': `${LOG}\n`,
      },
      env: { MOONSHOT_API_KEY: fake.apiKey },
      settings: {
        'editor.wordWrap': 'off',
        '[markdown]': { 'editor.wordWrap': 'off' },
        'editor.minimap.enabled': false,
        'kimiBudget.baseUrl': baseUrl,
        'kimiBudget.model': 'kimi-k1-retired', // a model the server no longer has
        'kimiBudget.maxOutputTokens': 12, // the fake's answers are longer: each is cut at max_tokens
        'kimiBudget.limits.concurrency': 1,
        'kimiBudget.limits.tokensPerMinute': 1_000_000,
      },
    });
    page = session.page;
    userSettings = session.userSettings;
    await page.addInitScript(recordToasts);
    await page.evaluate(recordToasts);
    await budget();
  });

  let shots = 0;
  afterEach(async () => {
    fs.mkdirSync(path.join(root, 'artifacts'), { recursive: true });
    await page?.screenshot({ path: path.join(root, 'artifacts', `choices-${++shots}.png`) });
  });

  after(async () => {
    await session?.close();
    await fake?.stop();
  });

  it('a model the server does not know: the answer\'s editor says "Not answered", Pick a Model lists the server\'s models and sets the one picked, and Send Prompt offers the prompt again', async () => {
    await selectPromptLine(7);
    await runCommand('Kimi: Send Prompt');
    const error = toast('does not know the model');
    await error.waitFor({ timeout: 30_000 });
    assert.match(await error.innerText(), /the server does not know the model "kimi-k1-retired" \(kimiBudget\.model\)/);
    await until("the answer's editor to say why", async () => (await shown('Not answered:').count()) > 0);
    await error.getByRole('button', { name: 'Pick a Model' }).click();
    const pick = await quickInput('models the server offers');
    for (const model of ['kimi-k2.6', 'kimi-k2-0711-preview', MODEL]) {
      assert.equal(await page.locator('.quick-input-list .monaco-list-row', { hasText: model }).count(), 1, `${model} is offered`);
    }
    await pick.fill(MODEL);
    await page.locator('.quick-input-list .monaco-list-row', { hasText: MODEL }).first().waitFor();
    await page.keyboard.press('Enter');
    await until('the picked model in the user settings file', async () => userSetting('kimiBudget.model') === MODEL);

    await clearSelection();
    const done = fake.stats.completed;
    await runCommand('Kimi: Send Prompt');
    const input = await quickInput('Kimi: Send Prompt');
    assert.equal(await input.inputValue(), PROMPTS[3], 'the prompt that was not answered is offered again');
    await page.keyboard.press('Enter');
    await until('its answer', async () => completedSince(done) === 1);
    assert.equal(fake.received.at(-1)?.model, MODEL);
    assert.equal(fake.received.at(-1)?.messages.at(-1)?.content, PROMPTS[3]);
  });

  it("an answer cut at max_tokens says so; its Open Settings shows kimiBudget.maxOutputTokens, and a value typed there is the next send's; a small count shows no counting notification", async () => {
    await runCommand('Notifications: Clear All Notifications');
    // From here on the counter is loaded (the first send loaded it): a count of one line takes no time to tell of.
    await page.evaluate(forgetToasts);
    await selectPromptLine(1);
    await runCommand('Kimi: Send Prompt');
    const warning = toast('stopped at max_tokens');
    await warning.waitFor({ timeout: 30_000 });
    assert.match(await warning.innerText(), /the answer stopped at max_tokens \(12\)\. Raise kimiBudget\.maxOutputTokens/);
    assert.equal(fake.received.at(-1)?.maxTokens, 12);
    const seen = await toastsSeen();
    assert.ok(!seen.some((t) => t.includes('counting tokens')), `a one-line prompt is counted without a notification: ${seen.join(' | ')}`);

    await warning.getByRole('button', { name: 'Open Settings' }).click();
    const setting = page.locator('.settings-editor .setting-item-contents', { hasText: 'Max Output Tokens' }).first();
    await setting.waitFor({ timeout: 15_000 });
    await setting.locator('input').first().fill(String(MAX_OUTPUT));
    await page.keyboard.press('Enter');
    await until('the settings file to hold it', async () => userSetting('kimiBudget.maxOutputTokens') === MAX_OUTPUT);
    await page.locator('.tabs-container .tab', { hasText: 'prompts.md' }).first().click();
    await untilMaxOutput(MAX_OUTPUT);
    const done = fake.stats.completed;
    await selectPromptLine(1);
    await runCommand('Kimi: Send Prompt');
    await until('its answer', async () => completedSince(done) === 1);
    assert.equal(fake.received.at(-1)?.maxTokens, MAX_OUTPUT);
  });

  /** Sends LONG as a new conversation, then FOLLOW_UP from its answer's editor: the follow-up would overflow. */
  async function overflowingFollowUp() {
    await runCommand('Notifications: Clear All Notifications');
    await openFile('long.md');
    await focusEditor();
    await page.keyboard.press('Control+A');
    await page
      .locator('.statusbar-item', { hasText: `(${LONG.length + 1} selected)` })
      .first()
      .waitFor({ timeout: 10_000 });
    const done = fake.stats.completed;
    await runCommand('Kimi: Send Prompt');
    await until('the long prompt to be answered', async () => completedSince(done) === 1 && fake.stats.inFlight === 0);
    await until('its answer in the editor', async () => (await shown('finished:').count()) > 0);
    await until('the long prompt clipped in its editor', async () => (await shown(/…\s\([\d,]+\smore\scharacters\)/).count()) > 0);
    await page.locator('.tabs-container .tab.active', { hasText: 'Kimi — Fact 0' }).waitFor({ timeout: 10_000 });
    const received = fake.received.length;
    await runCommand('Kimi: Send Follow-up');
    const input = await quickInput('Follow-up to');
    await input.fill(FOLLOW_UP);
    await page.keyboard.press('Enter');
    const dialog = page.locator('.monaco-dialog-box', { hasText: 'context window of 8,192' });
    await dialog.waitFor({ timeout: 30_000 });
    assert.match(await dialog.innerText(), /Letting go of the oldest 1 exchange frees ≈[\d,]+ tokens/);
    assert.equal(fake.received.length, received, 'nothing is sent while the dialog asks');
    return { dialog, received };
  }

  const followUps = () => fake.received.filter((r) => r.messages.at(-1)?.content === FOLLOW_UP);

  it('a follow-up that would overflow the context window asks first: dismissed, nothing is sent and the editor says why', async () => {
    const { dialog, received } = await overflowingFollowUp();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await until('the editor to say why', async () => (await shown(`Not sent: it would overflow ${MODEL}'s context window`).count()) > 0);
    assert.equal(fake.received.length, received, 'nothing was sent');
  });

  it('"Let go of the oldest exchange": the follow-up goes without it, and is answered below', async () => {
    const before = followUps().length;
    const { dialog } = await overflowingFollowUp();
    await dialog.getByRole('button', { name: 'Let go of the oldest 1 exchange' }).click();
    await until('the follow-up to be answered', async () => followUps().length === before + 1 && fake.stats.inFlight === 0);
    const sent = followUps().at(-1);
    assert.ok(sent && !sent.messages.some((m) => m.content.includes('Fact 0:')), 'the oldest exchange was let go of');
    await until('its answer in the editor', async () => (await shown('About "And then? Detail 0').count()) > 0);
  });

  it('"Summarise the oldest exchange first": one budgeted summary, then the follow-up with the summary in place of the exchange', async () => {
    const before = followUps().length;
    const { dialog, received } = await overflowingFollowUp();
    await dialog.getByRole('button', { name: 'Summarise the oldest 1 exchange first' }).click();
    await until('the follow-up to be answered', async () => followUps().length === before + 1 && fake.stats.inFlight === 0);
    const [summary, followUp] = fake.received.slice(received);
    assert.match(summary.messages.at(-1)?.content ?? '', /^User: Fact 0:/, 'the summary request carries the oldest exchange');
    assert.equal(followUp.messages.at(-1)?.content, FOLLOW_UP);
    const summaryMessage = followUp.messages.find((m) => m.content.startsWith('Summary of the earlier part of this conversation:'));
    assert.ok(summaryMessage, 'the follow-up carries the summary');
    assert.ok(!followUp.messages.some((m) => m.content.startsWith('Fact 0:')), 'and not the exchange it replaced');
  });

  it('a summary that fails: the follow-up is not sent, the editor and a notification say why, and the follow-up is offered again', async () => {
    fake.failNext({
      prompt: '\n\nAssistant: ',
      status: 400,
      type: 'invalid_request_error',
      message: 'Invalid request: the summary was refused',
    });
    const before = followUps().length;
    const { dialog, received } = await overflowingFollowUp();
    await dialog.getByRole('button', { name: 'Summarise the oldest 1 exchange first' }).click();
    await toast('the summary was refused').waitFor({ timeout: 30_000 });
    await until(
      'the editor to say why',
      async () => (await shown('Not sent: the summary of the oldest 1 exchange did not come back').count()) > 0,
    );
    assert.equal(fake.received.length, received + 1, 'only the summary reached the server');
    assert.equal(followUps().length, before, 'the follow-up was not sent');
    await runCommand('Kimi: Send Follow-up');
    const input = await quickInput('Follow-up to');
    assert.equal(await input.inputValue(), FOLLOW_UP, 'the follow-up is offered again');
    await page.keyboard.press('Escape');
  });

  it('an answer cut off mid-stream: its editor keeps what arrived and says so below it; nothing is offered to send again', async () => {
    await runCommand('Notifications: Clear All Notifications');
    const prompt = PROMPTS[7];
    fake.faultNextStream({ prompt, kind: 'reset', afterChunks: 2 });
    await selectPromptLine(15);
    await runCommand('Kimi: Send Prompt');
    await until('its editor to say what arrived', async () => (await shown('what arrived is shown below').count()) > 0);
    assert.ok((await shown(`About "${prompt}":`).count()) > 0, 'the part that arrived is shown');
    const error = toast('Kimi:');
    await error.waitFor({ timeout: 10_000 });
    assert.equal(await error.getByRole('button', { name: 'Send Again' }).count(), 0, 'an answer partly given is not sent again unasked');
    assert.equal(fake.received.filter((r) => r.messages.at(-1)?.content === prompt).length, 1, 'sent once');
  });

  it("Cancel in a send's progress notification: a waiting send leaves the line unsent, a running one stops (its budget stays spent)", async () => {
    await runCommand('Notifications: Clear All Notifications');
    fake.faultNextStream({ prompt: PROMPTS[1], kind: 'stall', afterChunks: 1 });
    await selectPromptLine(3);
    await runCommand('Kimi: Send Prompt');
    await until('the stalling answer to be under way', async () => fake.stats.inFlight === 1);
    await selectPromptLine(5);
    await runCommand('Kimi: Send Prompt');
    await until('the second send to wait behind it (one at a time)', async () => (await budget()).q === 1);
    const received = fake.received.length;

    const waiting = toast(/Kimi: .*queued/);
    await waiting.waitFor({ timeout: 15_000 });
    await waiting.getByRole('button', { name: 'Cancel' }).click();
    await until('the line to be empty', async () => (await budget()).q === 0);
    await until(
      'its editor to say it was not sent',
      async () => (await shown('Not sent: The send was cancelled before it went out').count()) > 0,
    );

    // VS Code may have moved its notification to the status bar: from there, a click shows it again.
    const running = page.locator('.notification-list-item', { hasText: 'sending — the answer streams' }).first();
    if (!(await shows(running))) await page.locator('.statusbar-item', { hasText: 'sending — the answer streams' }).first().click();
    await running.waitFor({ timeout: 15_000 });
    await running.getByRole('button', { name: 'Cancel' }).click();
    await until('the server to see the stalled answer closed', async () => fake.stats.inFlight === 0);
    await page
      .locator('.tabs-container .tab', { hasText: `Kimi — ${PROMPTS[1].replace('.', '\u2024')}` })
      .first()
      .click();
    await until(
      'its editor to say so',
      async () => (await shown('Not answered: The send was cancelled while the answer was arriving').count()) > 0,
    );
    assert.equal(fake.received.length, received, 'the cancelled waiting send never reached the server');
    assert.ok(!fake.received.some((r) => r.messages.at(-1)?.content === PROMPTS[2]));
  });

  it('a count that takes long shows a notification whose Cancel stops the send quietly: nothing sent, no error, the editor says why', async () => {
    // A window just loaded has not started its tokenizer: the first count of a long text takes a while.
    await page.reload();
    await budget();
    await openFile('huge.md');
    await focusEditor();
    await page.keyboard.press('Control+A');
    const received = fake.received.length;
    await page.evaluate(cancelNextCount);
    await runCommand('Kimi: Send Prompt');
    await until(
      'the editor to say why',
      async () => (await shown('Not sent: the count of its tokens was cancelled or failed.').count()) > 0,
    );
    const seen = await toastsSeen();
    assert.ok(
      seen.some((t) => /Kimi: (starting the token counter, then )?counting tokens in [\d,]+ characters/.test(t)),
      `the count's notification was shown: ${seen.join(' | ')}`,
    );
    assert.equal(fake.received.length, received, 'nothing was sent');
    assert.ok(!seen.some((t) => /could not count|never be sent|error/i.test(t)), `no error was shown: ${seen.join(' | ')}`);
  });

  it('a selection far too large for the context window: refused at once with the numbers, and its editor (still opening) says so', async () => {
    await runCommand('Notifications: Clear All Notifications');
    await openFile('big.log');
    // The selection item counts the whole file as it opens: the send's count of it is then quick,
    // and the refusal comes while the answer's editor is still opening.
    await page
      .locator('.statusbar-item', { hasText: /≈[\d,]+ tok in file/ })
      .first()
      .waitFor({ timeout: 30_000 });
    await focusEditor();
    await page.keyboard.press('Control+A');
    const received = fake.received.length;
    await runCommand('Kimi: Send Prompt');
    const refusal = toast('This prompt can never be sent');
    await refusal.waitFor({ timeout: 60_000 });
    assert.match(
      await refusal.innerText(),
      /it needs \d+ prompt tokens \+ 1000 max output tokens = \d+, above the model's context window of 8192/,
    );
    await until('its editor to say why', async () => (await shown('Not sent: This prompt can never be sent').count()) > 0);
    assert.equal(fake.received.length, received, 'nothing was sent');
  });

  /** Sends line `line` of prompts.md with an answer that stalls, and reloads the window while it is under way. */
  async function leaveUnanswered(/** @type {number} */ line) {
    const prompt = PROMPTS[(line - 1) / 2];
    fake.faultNextStream({ prompt, kind: 'stall', afterChunks: 1 });
    const received = fake.received.length;
    await selectPromptLine(line);
    await runCommand('Kimi: Send Prompt');
    await until('its answer to be under way', async () => fake.received.length === received + 1 && fake.stats.inFlight > 0);
    // Reloaded the moment the request reached the server: the send was on disk before it left.
    await page.reload(); // resolves once the new page has loaded
    const offer = toast('when the window closed');
    await offer.waitFor({ timeout: 30_000 });
    return offer;
  }

  it('the prompts a closed window left unanswered: dismissed, offered again; Show Them opens them; Discard lets them go; neither offers them again', async () => {
    const [, , , , one, two, three] = PROMPTS;
    let offer = await leaveUnanswered(9);
    assert.ok((await offer.innerText()).includes(`1 prompt was waiting or being answered when the window closed: "${one}"`));
    await runCommand('Notifications: Clear All Notifications');
    await page.reload();
    offer = toast('when the window closed');
    await offer.waitFor({ timeout: 30_000 });
    assert.ok((await offer.innerText()).includes(`"${one}"`), 'dismissed, it is offered again after the next reload');

    await offer.getByRole('button', { name: 'Show Them' }).click();
    await until('an editor showing the prompt', async () => (await shown(`# ${one}`).count()) > 0);

    offer = await leaveUnanswered(11);
    const offered = await offer.innerText();
    assert.ok(offered.includes(`"${two}"`), offered);
    assert.ok(!offered.includes(one), `shown, the first is not offered again: ${offered}`);
    await offer.getByRole('button', { name: 'Discard' }).click();

    offer = await leaveUnanswered(13);
    const offeredLast = await offer.innerText();
    assert.ok(offeredLast.includes(`"${three}"`), offeredLast);
    assert.ok(!offeredLast.includes(two), `discarded, the second is not offered again: ${offeredLast}`);
    const done = fake.stats.completed;
    await offer.getByRole('button', { name: 'Send Again' }).click();
    await until(
      'the prompt sent again to be answered',
      async () => completedSince(done) >= 1 && fake.received.at(-1)?.messages.at(-1)?.content === three,
      90_000,
    );
  });
});
