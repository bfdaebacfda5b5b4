// The account's truth in a real VS Code: with nothing set, a server at Tier0's limits teaches the
// budget its limits in one refusal each; a spent balance stops the line, saying so, and sends nothing more.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { KimiBudgetApi } from '../../src/ui/api';
import { FakeMoonshot } from '../support/fakeMoonshot';
import { TIERS } from '../../src/core/limits';
import { sleep, until as waitUntil } from '../support/wait';

const EXTENSION_ID = 'kimi-budget.kimi-budget';
const config = () => vscode.workspace.getConfiguration('kimiBudget');
const LIMIT_KEYS = ['limits.requestsPerMinute', 'limits.tokensPerMinute', 'limits.concurrency', 'limits.tokensPerDay', 'limits.tier'];

let api: KimiBudgetApi;
const fakes: FakeMoonshot[] = [];
const set = (key: string, value: unknown) => config().update(key, value, vscode.ConfigurationTarget.Global);

/** A Moonshot of its own: a new base URL is a new account, with a budget of its own. */
async function account(options: ConstructorParameters<typeof FakeMoonshot>[0]): Promise<FakeMoonshot> {
  const fake = new FakeMoonshot({ chunkDelayMs: 20, apiKey: process.env.MOONSHOT_API_KEY, ...options });
  fakes.push(fake);
  await set('baseUrl', await fake.start());
  return fake;
}

function label(): { r: number; R: number; q: number } {
  const m = /^Kimi budget: (\d+) of (\d+) requests, \d+ of \d+ tokens left; (\d+) queued$/.exec(api.statusLabels().budget);
  assert.ok(m, api.statusLabels().budget);
  return { r: Number(m[1]), R: Number(m[2]), q: Number(m[3]) };
}

/** Sends each line of one editor from the command palette, a few ms apart. */
async function sendLines(prompts: string[]): Promise<void> {
  const document = await vscode.workspace.openTextDocument({ content: prompts.join('\n'), language: 'markdown' });
  const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
  for (const [line, prompt] of prompts.entries()) {
    editor.selection = new vscode.Selection(line, 0, line, prompt.length);
    void vscode.commands.executeCommand('kimiBudget.sendPrompt');
    await sleep(30);
  }
}

describe("the account's truth in a real VS Code", function () {
  this.timeout(300_000);

  before(async () => {
    const extension = vscode.extensions.getExtension<KimiBudgetApi>(EXTENSION_ID);
    assert.ok(extension);
    api = await extension.activate();
    for (const key of LIMIT_KEYS) await set(key, undefined);
    await set('maxOutputTokens', 1000);
  });

  after(async () => {
    for (const key of ['baseUrl', 'maxOutputTokens', ...LIMIT_KEYS]) await set(key, undefined);
    for (const fake of fakes) await fake.stop();
  });

  it("no limits set, the server at Tier0's: a burst of six is answered with at most one refusal per limit, and the status bar shows the learned limit", async () => {
    const { requestsPerMinute: rpm, concurrency, tokensPerMinute: tpm, tokensPerDay: tpd } = TIERS.tier0;
    const fake = await account({ rpm, concurrency, tpm, tpd, chargeRefused: true });
    await waitUntil('the new account in the status bar', () => label().R === 120 && label().r === 120, { timeoutMs: 20_000 });
    const prompts = ['Tier0 one?', 'Tier0 two?', 'Tier0 three?', 'Tier0 four?', 'Tier0 five?', 'Tier0 six?'];
    await sendLines(prompts);
    await waitUntil('all six answered', () => fake.stats.completed === 6, {
      timeoutMs: 280_000,
      pollMs: 200,
      describeState: () => ({ stats: fake.stats, label: api.statusLabels().budget, messages: api.messages().slice(-5) }),
    });
    const refusals = fake.received.filter((r) => r.status === 429);
    const byLimit = (words: RegExp) => refusals.filter((r) => words.test(r.errorMessage ?? '')).length;
    console.log(`      ${refusals.length} refusals: ${refusals.map((r) => r.errorMessage).join(' | ')}`);
    assert.ok(byLimit(/concurrency/) <= 1, 'at most one concurrency refusal');
    assert.ok(byLimit(/RPM/) <= 1, 'at most one refusal for requests per minute');
    assert.equal(refusals.length, byLimit(/concurrency|RPM/), 'no refusal for another limit');
    for (const prompt of prompts)
      assert.equal(fake.received.filter((r) => r.status === 200 && r.messages.at(-1)?.content === prompt).length, 1);
    // The learned limit is the account's now: the status bar counts against 3.
    if (byLimit(/RPM/)) assert.equal(label().R, rpm);
    const tooltip = api.budgetTooltip();
    assert.match(tooltip, /Limits Moonshot stated in its refusals/);
    assert.match(tooltip, /requests in flight: 1, learned/);
  });

  for (const status of [429, 403] as const)
    it(`the balance gone (${status}): the send fails saying so, what waits is not sent, nothing is retried`, async () => {
      const fake = await account({});
      fake.setQuotaExhausted(status);
      await waitUntil('the new account in the status bar', () => label().R === 120 && label().r === 120, { timeoutMs: 20_000 });
      const seen = api.messages().length;
      await sendLines([`Quota ${status} one?`, `Quota ${status} two?`, `Quota ${status} three?`]);
      await waitUntil(
        'three failures said',
        () =>
          api
            .messages()
            .slice(seen)
            .filter((m) => m.severity === 'error').length >= 3,
        {
          timeoutMs: 30_000,
          describeState: () => ({ messages: api.messages().slice(seen), stats: fake.stats }),
        },
      );
      await sleep(3_000); // what a retry after the stated pause would have sent
      assert.equal(fake.stats.requests, 1, 'one request reached the server; nothing was retried, nothing waiting sent');
      const said = api
        .messages()
        .slice(seen)
        .filter((m) => m.severity === 'error')
        .map((m) => m.text);
      assert.ok(
        said.some((t) => /balance or its plan's quota is spent/.test(t) && /Top up/.test(t)),
        `the refusal is said, with what to do: ${said.join('\n')}`,
      );
      // The two others: failed while they waited, or refused at once if made after the stop.
      assert.equal(said.filter((t) => /^Kimi: Not sent: /.test(t)).length, 2, said.join('\n'));
      assert.equal(label().q, 0, 'nothing waits');
    });
});
