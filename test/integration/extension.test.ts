// The extension, installed from its packaged .vsix, in a real VS Code: what a user does, checked
// through the public contract (commands, settings, status bar labels) and the answers it shows.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { DEFAULTS } from '../../src/core/config';
import { DEFAULT_LIMITS, LIMIT_NAMES } from '../../src/core/limits';
import { formatCount, LIMITS } from '../../src/ui/words';
import type { KimiBudgetApi } from '../../src/ui/api';
import { FakeMoonshot } from '../support/fakeMoonshot';
import { RedisServer } from '../support/redisServer';
import { moonshotSays, serverFault } from '../support/failures';
import { sleep, until as waitUntil } from '../support/wait';

const EXTENSION_ID = 'kimi-budget.kimi-budget';
/** Settings by their key below `kimiBudget.`, with the defaults the code uses. */
const CONTRACT_DEFAULTS: Record<string, unknown> = {
  baseUrl: DEFAULTS.baseUrl,
  model: DEFAULTS.model,
  ...Object.fromEntries(LIMIT_NAMES.map((limit) => [LIMITS[limit].setting.slice('kimiBudget.'.length), DEFAULT_LIMITS[limit]])),
};
const { requestsPerMinute: DEFAULT_RPM, tokensPerMinute: DEFAULT_TPM } = DEFAULT_LIMITS;
const COMMANDS = [
  'kimiBudget.sendPrompt',
  'kimiBudget.countTokens',
  'kimiBudget.showQueue',
  'kimiBudget.setApiKey',
  'kimiBudget.sendFollowUp',
  'kimiBudget.sendWithFile',
  'kimiBudget.showHistory',
  'kimiBudget.setTeamRedisPassword',
  'kimiBudget.showDashboard',
];

let api: KimiBudgetApi;
let fake: FakeMoonshot;
let fakeUrl: string;
const config = () => vscode.workspace.getConfiguration('kimiBudget');

/** What the extension and the server show, for a wait that timed out. */
const extensionState = () => ({ messages: api?.messages(), server: fake?.stats, queue: api?.queue(), label: api?.statusLabels() });
const until = <T>(what: string, probe: () => T | undefined | false, ms = 20_000): Promise<T> =>
  waitUntil(what, probe, { timeoutMs: ms, pollMs: 50, describeState: extensionState });

async function set(key: string, value: unknown): Promise<void> {
  await config().update(key, value, vscode.ConfigurationTarget.Global);
}

/** Opens a new file with `text`, selected, in the first column. */
async function selectPrompt(text: string): Promise<vscode.TextEditor> {
  const document = await vscode.workspace.openTextDocument({ content: text, language: 'markdown' });
  const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
  editor.selection = new vscode.Selection(0, 0, document.lineCount, 0);
  return editor;
}

/** What the selection item must show for `text`: o200k's count, times the calibration the answers so far taught. */
function expectedCount(text: string): number {
  const { Tiktoken } = require('js-tiktoken/lite') as typeof import('js-tiktoken/lite');
  const raw = new Tiktoken(require('js-tiktoken/ranks/o200k_base') as import('js-tiktoken/lite').TiktokenBPE).encode(text, [], []).length;
  const { ratio, samples } = api.calibration('kimi-k2.6');
  return samples > 0 ? Math.ceil(raw * ratio) : raw;
}

function answers(): vscode.TextDocument[] {
  return vscode.workspace.textDocuments.filter((d) => d.uri.scheme === 'kimi-answer');
}

/** Runs `action` (accept, close) on the quick input until the command that opened it has ended: no fixed wait for the input to show. */
async function untilQuickInputGone(run: Thenable<unknown>, action: string): Promise<void> {
  let ended = false;
  void Promise.resolve(run).then(
    () => (ended = true),
    () => (ended = true),
  );
  const deadline = Date.now() + 20_000;
  while (!ended) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for the input to be gone (${action})`);
    await vscode.commands.executeCommand(action);
    await sleep(50);
  }
}

/** An answer's document, looked up by its URI each time: it is opened again when it turns Markdown. */
class AnswerView {
  constructor(readonly uri: string) {}

  get document(): vscode.TextDocument | undefined {
    return answers().find((d) => d.uri.toString() === this.uri);
  }

  /**
   * What the view shows. VS Code may close the document of a tab that is not in front (its model is
   * let go); clicking the tab reads it from the extension again, and so does this.
   */
  text(): string {
    const document = this.document;
    if (!document) void vscode.workspace.openTextDocument(vscode.Uri.parse(this.uri)).then(undefined, () => undefined);
    return document?.getText() ?? '';
  }

  describe(): object {
    const d = this.document;
    return { view: this.uri.slice(-40), open: !!d, language: d?.languageId, end: d?.getText().slice(-80) };
  }
}

/**
 * Runs "Count Tokens in Selection" until its message names `tokens` of max output: the extension
 * has read that value of kimiBudget.maxOutputTokens (and every change before it).
 */
async function untilMaxOutputApplied(tokens: number): Promise<void> {
  await selectPrompt('How long is this?');
  const said = `(with ${formatCount(tokens)} max output)`;
  for (const deadline = Date.now() + 20_000; ; await sleep(50)) {
    const seen = api.messages().length;
    await vscode.commands.executeCommand('kimiBudget.countTokens');
    if (messagesSince(seen).some((m) => m.text.includes(said))) return;
    if (Date.now() > deadline) assert.fail(`the count never said "${said}": ${JSON.stringify(messagesSince(seen))}`);
  }
}

/** Sends the current selection and waits for its answer document to be complete. */
async function sendAndAwaitAnswer(): Promise<AnswerView> {
  const before = new Set(answers().map((d) => d.uri.toString()));
  void vscode.commands.executeCommand('kimiBudget.sendPrompt');
  const answer = new AnswerView(
    (await until('an answer editor', () => answers().find((d) => !before.has(d.uri.toString())))).uri.toString(),
  );
  await until('the answer to finish', () => answer.text().includes('finished: '));
  return answer;
}

function budgetLabel(): { r: number; R: number; t: number; T: number; q: number } {
  const label = api.statusLabels().budget;
  const m = /^Kimi budget: (\d+) of (\d+) requests, (\d+) of (\d+) tokens left; (\d+) queued$/.exec(label);
  assert.ok(m, `budget label does not follow the contract: "${label}"`);
  const [r, R, t, T, q] = m.slice(1).map(Number);
  return { r, R, t, T, q };
}

function messagesSince(count: number) {
  return api.messages().slice(count);
}

/**
 * Sends each prompt from the command palette, `gapMs` apart, each one its own line selected in one
 * editor; waits until every prompt has an answer document of its own, complete, showing its own
 * answer. Returns the documents in the prompts' order.
 */
async function burst(prompts: string[], gapMs = 30, ms = 30_000): Promise<AnswerView[]> {
  const editor = await selectPrompt(prompts.join('\n'));
  const before = new Set(answers().map((d) => d.uri.toString()));
  const seen = api.messages().length;
  for (const [line, prompt] of prompts.entries()) {
    editor.selection = new vscode.Selection(line, 0, line, prompt.length);
    void vscode.commands.executeCommand('kimiBudget.sendPrompt');
    await sleep(gapMs);
  }
  const ownDocument = (prompt: string) =>
    answers().find((d) => !before.has(d.uri.toString()) && d.getText().includes(`## You\n\n> ${prompt}\n`));
  const views = await until(
    'an answer document for every prompt',
    () => {
      const found = prompts.map(ownDocument);
      return found.every(Boolean) && found.map((d) => new AnswerView(d!.uri.toString()));
    },
    ms,
  );
  await waitUntil('every answer to finish', () => views.every((v) => v.text().includes('finished: ')), {
    timeoutMs: ms,
    pollMs: 50,
    describeState: () => ({ ...extensionState(), views: views.map((v) => v.describe()) }),
  });
  for (const [i, prompt] of prompts.entries()) {
    assert.ok(
      views[i].text().includes(`About "${prompt.slice(0, 40)}":`),
      `the view of "${prompt}" shows its own answer:\n${views[i].text()}`,
    );
  }
  assert.equal(new Set(views.map((v) => v.uri)).size, prompts.length, 'one view per send');
  await until('every answer to be shown as Markdown once it is in', () => views.every((v) => v.document?.languageId === 'markdown'), ms);
  assert.deepEqual(
    messagesSince(seen).filter((m) => m.severity === 'error'),
    [],
    'no send failed',
  );
  for (const prompt of prompts) {
    assert.equal(fake.received.filter((r) => r.messages.at(-1)?.content === prompt).length, 1, `"${prompt}" reached the server once`);
  }
  return views;
}

describe('kimi-budget in a real VS Code', () => {
  before(async () => {
    const extension = vscode.extensions.getExtension<KimiBudgetApi>(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is installed`);
    api = await extension.activate();
    fake = new FakeMoonshot({ chunkDelayMs: 5, apiKey: process.env.MOONSHOT_API_KEY });
    fakeUrl = await fake.start();
    await set('baseUrl', fakeUrl);
    await set('maxOutputTokens', 1000);
  });

  after(async () => {
    for (const key of ['baseUrl', 'maxOutputTokens', 'limits.requestsPerMinute', 'limits.tokensPerMinute']) await set(key, undefined);
    await fake?.stop();
  });

  it('activates without starting the tokenizer, and registers every contract command', async () => {
    console.log(`      activate() took ${api.activation.ms.toFixed(1)} ms`);
    assert.equal(api.activation.tokenizerStarted, false);
    const commands = await vscode.commands.getCommands(true);
    for (const id of COMMANDS) assert.ok(commands.includes(id), `${id} is registered`);
  });

  it('declares every contract setting with its default', () => {
    for (const [key, value] of Object.entries(CONTRACT_DEFAULTS)) {
      assert.deepEqual(config().inspect(key)?.defaultValue, value, `kimiBudget.${key}`);
    }
    assert.ok((config().inspect<number>('maxOutputTokens')?.defaultValue ?? 0) >= 1);
  });

  it('shows the budget in the status bar, and follows limits edited in settings', async () => {
    assert.equal(
      api.statusLabels().budget,
      `Kimi budget: ${DEFAULT_RPM} of ${DEFAULT_RPM} requests, ${DEFAULT_TPM} of ${DEFAULT_TPM} tokens left; 0 queued`,
    );
    await set('limits.requestsPerMinute', 7);
    await set('limits.tokensPerMinute', 90000);
    await until(
      'the label to follow the settings',
      () => api.statusLabels().budget === 'Kimi budget: 7 of 7 requests, 90000 of 90000 tokens left; 0 queued',
    );
  });

  it('six sends started together in a window whose counter has not loaded yet: all answered, each in its own view', async () => {
    assert.equal(api.tokenizerStarted(), false, 'the counter is not loaded yet');
    for (const key of ['limits.requestsPerMinute', 'limits.tokensPerMinute']) await set(key, undefined);
    const before = budgetLabel();
    await burst([
      'Cold one: what is a token?',
      'Cold two: what is a window?',
      'Cold three: what is a queue?',
      'Cold four: what is a lease?',
      'Cold five: what is a share?',
      'Cold six: what is a refusal?',
    ]);
    await until('the budget to hold the six sends', () => budgetLabel().r === before.r - 6);
  });

  it("counts the selection in the selection item: o200k's count, times the calibration answers taught", async () => {
    const text = 'Count me: one two three four five, and a few more words for the count.';
    await selectPrompt(text);
    const { ratio, samples } = api.calibration('kimi-k2.6');
    assert.ok(samples > 0 && ratio !== 1, `the sends before calibrated the count (× ${ratio} on ${samples})`);
    const expected = expectedCount(text);
    await until('the selection label', () => api.statusLabels().selection === `Kimi tokens in selection: ${expected}`);
  });

  it('six sends started together once the counter is loaded: all answered, each in its own view', async () => {
    assert.equal(api.tokenizerStarted(), true);
    await burst(
      [
        'Warm one: name a prime.',
        'Warm two: name a colour.',
        'Warm three: name a river.',
        'Warm four: name a tree.',
        'Warm five: name a bird.',
        'Warm six: name a star.',
      ],
      20,
    );
  });

  it('sends the selection and streams the answer beside it; the budget drops by one request and prompt + max_tokens', async () => {
    const before = budgetLabel();
    await selectPrompt('Explain, in two sentences, why a rate limiter should charge max_tokens up front.');
    const answer = await sendAndAwaitAnswer();
    const received = fake.received.at(-1)!;
    assert.equal(received.maxTokens, 1000);
    assert.match(answer.text(), /## You\n\n> Explain, in two sentences[^\n]*\n\n## Kimi · kimi-k2\.6\n/);
    assert.match(answer.text(), /\d+ prompt tokens \(server count\) · \d+ output tokens · cost \$[\d.]+ · finished: stop/);
    const after = await until('the budget to settle', () => {
      const now = budgetLabel();
      return now.t === before.t - received.charged && now;
    });
    assert.equal(after.r, before.r - 1);
    assert.equal(before.t - after.t, received.promptTokens + 1000, "tokens drop by the server's prompt count + max_tokens");
    await until('the answer to be visible', () => vscode.window.visibleTextEditors.some((e) => e.document.uri.toString() === answer.uri));
  });

  it('continues a conversation from its answer editor: the follow-up carries the history and appears below', async () => {
    await selectPrompt('What is a rolling window?');
    const answer = await sendAndAwaitAnswer();
    await vscode.window.showTextDocument(answer.document!, { preview: false });
    const before = budgetLabel();
    const requests = fake.received.length;
    // A keybinding's or link's text fills the input box; Enter sends it.
    const run = vscode.commands.executeCommand('kimiBudget.sendFollowUp', 'And a fixed window?');
    await untilQuickInputGone(run, 'workbench.action.acceptSelectedQuickOpenItem');
    assert.equal(fake.received.length, requests + 1);
    await until('the follow-up answer', () => answer.text().split('finished: ').length === 3);
    const received = fake.received.at(-1)!;
    assert.deepEqual(
      received.messages.map((m) => m.role),
      ['user', 'assistant', 'user'],
    );
    assert.equal(received.messages[0].content.trim(), 'What is a rolling window?');
    const earlierAnswer = received.messages[1].content.trim();
    assert.ok(
      earlierAnswer.length > 0 && answer.text().includes(earlierAnswer),
      'the earlier answer, as shown in the editor, goes with the follow-up',
    );
    assert.equal(received.messages[2].content, 'And a fixed window?');
    assert.match(answer.text(), /## You\n\n> And a fixed window\?/);
    assert.match(answer.text(), /Context: [\d,]+ tokens of kimi-k2\.6's 262,144-token context window/);
    await until('the budget to debit the whole follow-up', () => budgetLabel().t === before.t - received.charged);
  });

  it('a prompt whose title holds / # % ? gets an answer view that a follow-up continues (its name is a path, not a query)', async () => {
    const prompt = 'What is 50% of 10/2? #math & more';
    await selectPrompt(prompt);
    const answer = await sendAndAwaitAnswer();
    const uri = vscode.Uri.parse(answer.uri);
    assert.equal(uri.query, '', 'no part of the title became a query');
    assert.equal(uri.fragment, '', 'nor a fragment');
    assert.ok(uri.path.includes('Kimi — What is 50') && uri.path.endsWith('math & more') && !/[%?#]/.test(uri.path), uri.path);
    await vscode.window.showTextDocument(answer.document!, { preview: false });
    const run = vscode.commands.executeCommand('kimiBudget.sendFollowUp', 'Now 20%?');
    await untilQuickInputGone(run, 'workbench.action.acceptSelectedQuickOpenItem');
    await until('the follow-up in the same view', () => answer.text().split('finished: ').length === 3);
    assert.deepEqual(
      fake.received.at(-1)!.messages.map((m) => m.content.trim()),
      [prompt, fake.received.at(-1)!.messages[1].content.trim(), 'Now 20%?'],
      "the follow-up carries the conversation whose id the view's path holds",
    );
  });

  it('"Send Selection with File as Context": the whole file goes with the question, as the view shows; no selection, a warning and nothing sent', async () => {
    const file = 'export const answer = 42;\nexport const half = answer / 2;\n// What does half hold?\n';
    const document = await vscode.workspace.openTextDocument({ content: file, language: 'typescript' });
    const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
    editor.selection = new vscode.Selection(2, 0, 2, '// What does half hold?'.length);
    const before = new Set(answers().map((d) => d.uri.toString()));
    void vscode.commands.executeCommand('kimiBudget.sendWithFile');
    const view = new AnswerView(
      (await until('its answer view', () => answers().find((d) => !before.has(d.uri.toString())))).uri.toString(),
    );
    await until('the answer', () => view.text().includes('finished: '));
    const sent = fake.received.at(-1)!.messages.at(-1)!.content;
    assert.ok(sent.includes('```typescript\n' + file + '\n```'), `the whole file, fenced with its language:\n${sent}`);
    assert.ok(sent.trimEnd().endsWith('// What does half hold?'), 'then the question');
    assert.match(
      view.text(),
      /## You\n\n> Here is the file .*\n[\s\S]*> export const half = answer \/ 2;\n[\s\S]*> \/\/ What does half hold\?\n/,
      'the view shows what was sent',
    );
    const seen = api.messages().length;
    const requests = fake.stats.httpRequests;
    editor.selection = new vscode.Selection(0, 0, 0, 0);
    await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
    await vscode.commands.executeCommand('kimiBudget.sendWithFile');
    assert.match(messagesSince(seen).at(-1)?.text ?? '', /select the question in a file first/);
    assert.equal(fake.stats.httpRequests, requests, 'nothing sent');
  });

  it('a bad setting is warned about once, not again when another setting changes; again once it was fixed and broken anew', async () => {
    const seen = api.messages().length;
    const warnings = () => messagesSince(seen).filter((m) => m.text.includes('kimiBudget.queue.maxLength is 0'));
    await set('queue.maxLength', 0);
    await until('the warning', () => warnings().length === 1);
    await set('maxOutputTokens', 999);
    await set('maxOutputTokens', 1000);
    // Settings warn as they read a change: once the extension uses the last value, both changes were read.
    await untilMaxOutputApplied(1000);
    assert.equal(warnings().length, 1, 'not repeated while the problem stays');
    await set('queue.maxLength', 5);
    await set('queue.maxLength', 0);
    await until('warned again', () => warnings().length === 2);
    await set('queue.maxLength', undefined);
  });

  it('"Count Tokens in Selection", run: says the count and what the send would take of the minute', async () => {
    const text = 'How many tokens is this sentence, give or take?';
    await selectPrompt(text);
    const tokens = expectedCount(text);
    await until('the selection label', () => api.statusLabels().selection === `Kimi tokens in selection: ${tokens}`);
    const seen = api.messages().length;
    await vscode.commands.executeCommand('kimiBudget.countTokens');
    const said = api.messages().slice(seen);
    assert.equal(said.length, 1, JSON.stringify(said));
    assert.equal(said[0].severity, 'info');
    assert.ok(
      said[0].text.startsWith(
        `Kimi: ${formatCount(tokens)} tokens in the selection. Sent as a prompt it takes about ${formatCount(tokens + 1000)} of the minute's tokens (with 1,000 max output).`,
      ),
      said[0].text,
    );
  });

  it('"Show History", run: picking the most recent conversation reopens its answer', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    assert.equal(vscode.window.visibleTextEditors.filter((e) => e.document.uri.scheme === 'kimi-answer').length, 0);
    // Its last line: a prompt of many lines is quoted line by line in the view.
    const latest = fake.received.at(-1)!.messages.at(-1)!.content.trimEnd().split('\n').at(-1)!;
    const run = vscode.commands.executeCommand('kimiBudget.showHistory');
    await untilQuickInputGone(run, 'workbench.action.acceptSelectedQuickOpenItem');
    const reopened = await until('an answer editor', () =>
      vscode.window.visibleTextEditors.find((e) => e.document.uri.scheme === 'kimi-answer'),
    );
    assert.ok(reopened.document.getText().includes(latest), `the reopened answer holds the last prompt sent ("${latest}")`);
  });

  it('"Show Budget Dashboard", run: one webview panel, revealed again (not a second one) when run twice', async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    const dashboards = () =>
      vscode.window.tabGroups.all
        .flatMap((g) => g.tabs)
        .filter((t) => t.input instanceof vscode.TabInputWebview && t.input.viewType.endsWith('kimiBudget.dashboard'));
    await vscode.commands.executeCommand('kimiBudget.showDashboard');
    await until('the dashboard tab', () => dashboards().length === 1);
    await vscode.commands.executeCommand('kimiBudget.showDashboard');
    assert.equal(dashboards().length, 1);
    assert.equal(dashboards()[0].label, 'Kimi Budget');
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('a command link cannot send a follow-up: its text is offered in the input box, and nothing goes out unless the user sends it', async () => {
    const requests = fake.stats.httpRequests;
    const run = vscode.commands.executeCommand('kimiBudget.sendFollowUp', 'Injected by a link: resend everything.');
    await untilQuickInputGone(run, 'workbench.action.closeQuickOpen');
    assert.equal(fake.stats.httpRequests, requests, 'nothing was sent');
    assert.deepEqual(api.queue(), []);
  });

  it("a server cannot put a command link in a notification, nor a model in its answer's editor", async () => {
    const link = '[Verify key](command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22echo%20pwned%22%7D)';
    fake.failNext({ status: 400, type: 'invalid_request_error', message: `Invalid request: ${link}` });
    const seen = api.messages().length;
    await selectPrompt('Refused with a link.');
    void vscode.commands.executeCommand('kimiBudget.sendPrompt');
    const refusal = await until('the refusal', () => messagesSince(seen).find((m) => m.severity === 'error'));
    assert.ok(refusal.text.includes('[Verify key]'), refusal.text);
    assert.doesNotMatch(refusal.text, /\]\s*\(command:/, 'the link syntax is broken');

    // The fake model answers about the prompt it was given, so the prompt steers the answer.
    await selectPrompt('[Run me](command:kimiBudget.setApiKey) <command:kimiBudget.setApiKey>');
    const answer = await sendAndAwaitAnswer();
    assert.match(answer.text(), /About "\[Run me\]\(command\u200b:kimiBudget/);
    const links = await vscode.commands.executeCommand<vscode.DocumentLink[]>('vscode.executeLinkProvider', answer.document!.uri);
    assert.deepEqual(
      links.filter((l) => l.target?.scheme === 'command').map((l) => l.target!.toString()),
      [],
      'the Markdown editor offers no command to follow',
    );
  });

  it('a 429 from the server pauses, and the send still completes', async () => {
    // A concurrency refusal: with no concurrency limit set, the engine has no share of it to learn, so only the pause shows.
    fake.failNext(serverFault.rateLimited(moonshotSays.maxConcurrency(1, 1)));
    const refusedBefore = fake.stats.rejected.rate_limit_reached_error ?? 0;
    await selectPrompt('Say hello.');
    const answer = await sendAndAwaitAnswer();
    assert.equal(fake.stats.rejected.rate_limit_reached_error, refusedBefore + 1);
    assert.match(answer.text(), /answered on attempt 2/);
    const [refused, retried] = fake.received.slice(-2);
    assert.equal(refused.status, 429);
    assert.equal(retried.status, 200);
    // "please try again after 1 seconds": the retry waited that second (timers never fire early; clocks round by a millisecond or two).
    assert.ok(retried.at - refused.at >= 995, `the retry came ${retried.at - refused.at} ms after the refusal`);
  });

  it('bad settings give a warning naming the key, and the defaults', async () => {
    const seen = api.messages().length;
    await set('limits.requestsPerMinute', -5);
    await set('limits.tokensPerMinute', 'lots');
    await until('the warnings', () => messagesSince(seen).length >= 2);
    const texts = messagesSince(seen)
      .map((m) => `${m.severity}: ${m.text}`)
      .join('\n');
    assert.ok(
      texts.includes(`warning: Kimi: kimiBudget.limits.requestsPerMinute is -5, but it must be a whole number ≥ 1; using ${DEFAULT_RPM}`),
      texts,
    );
    assert.match(texts, /warning: Kimi: kimiBudget\.limits\.tokensPerMinute is "lots"/);
    await until('the defaults in the label', () => {
      const l = budgetLabel();
      return l.R === DEFAULT_RPM && l.T === DEFAULT_TPM;
    });
    await set('limits.tokensPerMinute', 90000);
    await set('limits.requestsPerMinute', 0);
    await until('a warning for zero', () => messagesSince(seen).some((m) => m.text.includes('requestsPerMinute is 0')));
  });

  it("a team budget: a password in the Redis URL is refused naming the command; with Redis, sends go through it; with Redis gone, they go on at the window's share", async () => {
    const seen = api.messages().length;
    await set('team.redisUrl', 'redis://kimi:hunter2@127.0.0.1:6379');
    const refused = await until('the warning about the password', () => messagesSince(seen).find((m) => m.text.includes('team.redisUrl')));
    assert.match(refused.text, /has a password in it.*"Kimi: Set Team Redis Password"/);
    assert.ok(!refused.text.includes('hunter2'), 'the password is not repeated');
    const redis = await RedisServer.start();
    try {
      await set('team.redisUrl', redis.url);
      await until('the team budget connected', () => /Team budget connected/.test(api.budgetTooltip()));
      await selectPrompt('Sent through the team budget.');
      const before = fake.stats.completed;
      await sendAndAwaitAnswer();
      assert.equal(fake.stats.completed, before + 1);
      await redis.kill();
      await until('the team budget offline warning', () => messagesSince(seen).find((m) => m.text.includes('team budget offline')), 10_000);
      assert.match(api.budgetTooltip(), /Team budget offline/);
      await selectPrompt('Sent while the team budget is offline.');
      await sendAndAwaitAnswer();
      assert.equal(fake.stats.completed, before + 2, 'the window goes on at its share');
    } finally {
      await set('team.redisUrl', undefined);
      await redis.stop();
    }
    await until("back to this machine's budget", () => !/Team budget/.test(api.budgetTooltip()));
  });

  it('a missing key gives a message offering "Set API Key", and sends nothing', async () => {
    const saved = process.env.MOONSHOT_API_KEY;
    delete process.env.MOONSHOT_API_KEY;
    try {
      const seen = api.messages().length;
      const requests = fake.stats.httpRequests;
      await selectPrompt('This must not be sent.');
      void vscode.commands.executeCommand('kimiBudget.sendPrompt');
      const message = await until('the missing-key message', () => messagesSince(seen).find((m) => m.severity === 'error'));
      assert.match(message.text, /No Moonshot API key is set/);
      assert.deepEqual(message.actions, ['Set API Key', 'Send Again'], 'the fix, and the prompt offered again');
      assert.equal(fake.stats.httpRequests, requests);
    } finally {
      process.env.MOONSHOT_API_KEY = saved;
    }
  });

  it("a folder's .vscode/settings.json cannot send prompts (and the key) elsewhere: where they go is read from user settings only", async () => {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'the window has a folder');
    const attacker = new FakeMoonshot({ apiKey: process.env.MOONSHOT_API_KEY });
    const attackerUrl = await attacker.start();
    const file = vscode.Uri.joinPath(folder.uri, '.vscode', 'settings.json');
    try {
      await vscode.workspace.fs.writeFile(
        file,
        Buffer.from(
          JSON.stringify({
            'kimiBudget.baseUrl': attackerUrl,
            'kimiBudget.allowInsecureHttp': true,
            'kimiBudget.limits.requestsPerMinute': 10_000,
            'kimiBudget.temperature': 1, // a setting a project may choose (the only one this model takes): shows the file was read
            'kimiBudget.systemPrompt': 'Answer as the project expects.',
          }),
        ),
      );
      const seen = api.messages().length;
      await until("VS Code to read the folder's settings", () => config().inspect('temperature')?.workspaceValue === 1);
      const notice = await until('a notice that the folder chooses the system prompt', () =>
        messagesSince(seen).find((m) => m.text.includes("this folder's settings choose kimiBudget.systemPrompt")),
      );
      assert.match(notice.text, /"Answer as the project expects\."/);
      assert.equal(config().inspect('baseUrl')?.workspaceValue, undefined);
      assert.equal(config().get('baseUrl'), fakeUrl, "the user's base URL is the one in force");
      assert.notEqual(budgetLabel().R, 10_000, "nor does the folder set the account's limits");
      await selectPrompt('Where does this go?');
      await sendAndAwaitAnswer();
      assert.equal(fake.received.at(-1)!.messages.at(-1)!.content, 'Where does this go?');
      assert.equal(fake.received.at(-1)!.temperature, 1, "the project's own choice is taken");
      assert.equal(attacker.stats.httpRequests, 0, "nothing reached the folder's server");
      assert.equal(fake.received.at(-1)!.messages[0].content, 'Answer as the project expects.', "a project's system prompt is a feature");
      assert.equal(messagesSince(seen).filter((m) => m.text.includes("this folder's settings choose")).length, 1, 'said once');
    } finally {
      await vscode.workspace.fs.delete(vscode.Uri.joinPath(folder.uri, '.vscode'), { recursive: true });
      await until("the folder's settings to be gone", () => config().inspect('temperature')?.workspaceValue === undefined);
      await attacker.stop();
    }
  });

  it('behind one large spend, a send waits and can be cancelled; four small ones, released in one instant when it returns, are all answered, each in its own view', async function () {
    this.timeout(180_000);
    const refusedBefore = { ...fake.stats.rejected };
    await set('limits.tokensPerMinute', 12_000);
    // Let every unit spent by the earlier tests come back first.
    await until('a fresh minute', () => budgetLabel().t === 12_000, 70_000);
    // One send takes all but a few hundred tokens of the minute: no small send (≈20 + 1,000) fits beside it.
    await set('maxOutputTokens', 11_400);
    await selectPrompt('Large: this one takes most of the minute.');
    await sendAndAwaitAnswer();
    const large = fake.received.at(-1)!;
    await set('maxOutputTokens', 1000);
    assert.ok(budgetLabel().t < 1_000, `${budgetLabel().t} tokens left`);

    // The queue's options apply as they are set: allowed 5 s of waiting, a send that would wait for
    // the large spend to come back is refused at once, naming the setting; back to the default, it waits.
    const beforeRefusal = api.messages().length;
    await set('queue.maxWaitSeconds', 5);
    await selectPrompt('Refused: it would wait too long.');
    void vscode.commands.executeCommand('kimiBudget.sendPrompt');
    await until('the refusal naming the setting', () =>
      messagesSince(beforeRefusal).some((m) =>
        /would wait about \d+ s for budget, longer than kimiBudget\.queue\.maxWaitSeconds \(5 s\)/.test(m.text),
      ),
    );
    assert.equal(budgetLabel().q, 0, 'nothing waits');
    assert.ok(!fake.received.some((r) => r.messages.at(-1)?.content.startsWith('Refused:')), 'nothing was sent');
    await set('queue.maxWaitSeconds', undefined);

    const seen = api.messages().length;
    await selectPrompt('Waits, then is cancelled.');
    void vscode.commands.executeCommand('kimiBudget.sendPrompt');
    await until('the send to queue', () => budgetLabel().q === 1);
    // Cancel it through "Show Send Queue": the only entry is the waiting send, accepted once the pick shows it.
    await untilQuickInputGone(vscode.commands.executeCommand('kimiBudget.showQueue'), 'workbench.action.acceptSelectedQuickOpenItem');
    await until('the queue to empty', () => budgetLabel().q === 0);
    await until('the cancellation message', () => messagesSince(seen).some((m) => /cancelled before it went out/.test(m.text)));

    const small = ['Small one: what is TPM?', 'Small two: what is RPM?', 'Small three: what is TPD?', 'Small four: what is a 429?'];
    const answered = burst(small, 30, 90_000);
    await until('the four to queue', () => budgetLabel().q === 4);
    await answered;
    const times = small.map((prompt) => fake.received.find((r) => r.messages.at(-1)?.content === prompt)!.at);
    assert.ok(
      Math.min(...times) >= large.at + 60_000,
      `nothing went out before the large spend came back (${Math.min(...times) - large.at} ms after it)`,
    );
    assert.ok(
      Math.max(...times) - Math.min(...times) < 1_000,
      `the four went out together (within ${Math.max(...times) - Math.min(...times)} ms)`,
    );
    assert.equal(budgetLabel().q, 0);
    assert.deepEqual(fake.stats.rejected, refusedBefore, 'the server refused nothing meanwhile');
  });
});
