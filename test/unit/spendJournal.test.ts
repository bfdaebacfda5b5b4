// The account's write-ahead record: what the window that keeps the account admitted is in the file
// before anyone hears of it, and the next window counts it — once, however the two sides hold it.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { OpeningAccountStore } from '../../src/account/accountSwitch';
import { LocalAccountStore, UNANSWERED_MS } from '../../src/account/localAccount';
import { SpendJournal } from '../../src/account/spendJournal';
import { AccountOp, AccountState } from '../../src/core/account';
import { Budget, BudgetOptions } from '../../src/core/budget';
import { MemoryLedger, Spend } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { ManualClock } from '../support/manualClock';

const MINUTE = 60_000;
const limits: Limits = { requestsPerMinute: 100, tokensPerMinute: 1_000_000, concurrency: 0, tokensPerDay: 0 };
const options: BudgetOptions = { windowMs: MINUTE, dayMs: 86_400_000, marginMs: 500 };
const noRewrite = () => ({ kept: [], running: [] });

let folder: string;
beforeEach(() => (folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-journal-'))));
afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

const admit = (id: string, at: number, tokens = 100): AccountOp => ({ op: 'admit', ticket: id, spend: { id, at, requests: 1, tokens } });

describe('SpendJournal: the record of the account’s spends', () => {
  it('reads back what was written: admitted, settled, confirmed, refunded, ended', () => {
    const journal = new SpendJournal(path.join(folder, 'a.journal'));
    journal.write(admit('s1', 1_000), noRewrite);
    journal.write({ op: 'settle', id: 's1', tokens: 80 }, noRewrite);
    journal.write({ op: 'confirm', id: 's1', at: 1_400 }, noRewrite);
    journal.write({ op: 'release', id: 's1' }, noRewrite);
    journal.write(admit('s2', 2_000), noRewrite);
    journal.write({ op: 'refund', id: 's2' }, noRewrite);
    journal.write(admit('s3', 3_000, 50), noRewrite);
    journal.write({ op: 'release', id: 's3' }, noRewrite);
    journal.write({ op: 'join', ticket: { id: 't', holder: 'h', tokens: 1, order: 1 } }, noRewrite); // not a spend: not written
    const spends = new SpendJournal(path.join(folder, 'a.journal')).read(10_000, UNANSWERED_MS);
    assert.deepEqual(
      spends.sort((a, b) => a.at - b.at),
      [
        { id: 's1', at: 1_400, requests: 1, tokens: 80 },
        { id: 's3', at: 3_000, requests: 1, tokens: 50 },
      ],
    );
    assert.equal(fs.readFileSync(path.join(folder, 'a.journal'), 'utf8').trim().split('\n').length, 8);
  });

  it('is readable by its owner only', function () {
    if (process.platform === 'win32') this.skip();
    const file = path.join(folder, 'a.journal');
    new SpendJournal(file).write(admit('s1', 1), noRewrite);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('a send whose answer had not begun when its writer stopped counts from the moment it is read, at most a silent minute after it went', () => {
    const file = path.join(folder, 'a.journal');
    new SpendJournal(file).write(admit('s1', 10_000), noRewrite);
    // Read 2 s later (a reload): the server may have taken it until then.
    assert.equal(new SpendJournal(file).read(12_000, UNANSWERED_MS)[0].at, 12_000);
    // Read an hour later: no later than a silent minute after it went (the client gives up then).
    assert.equal(new SpendJournal(file).read(3_600_000, UNANSWERED_MS)[0].at, 10_000 + UNANSWERED_MS);
    // Answered (confirmed) or ended: its time is known.
    new SpendJournal(file).write({ op: 'confirm', id: 's1', at: 10_300 }, noRewrite);
    assert.equal(new SpendJournal(file).read(12_000, UNANSWERED_MS)[0].at, 10_300);
  });

  it('a line cut short by a kill, or garbage, is skipped; the rest is read', () => {
    const file = path.join(folder, 'a.journal');
    fs.writeFileSync(
      file,
      ['{"a":["s1",1000,1,100]}', '{"e":"s1"}', 'not json', '{"a":["s2",-5,1,100]}', '{"a":[1,2,3]}', '{"a":["s3",2000,1,1'].join('\n'),
    );
    assert.deepEqual(new SpendJournal(file).read(5_000, UNANSWERED_MS), [{ id: 's1', at: 1_000, requests: 1, tokens: 100 }]);
  });

  it('no file: nothing spent; an unwritable one: said once, and the send goes on', () => {
    const problems: string[] = [];
    const journal = new SpendJournal(path.join(folder, 'missing', 'a.journal'), (p) => problems.push(p));
    assert.deepEqual(journal.read(1, UNANSWERED_MS), []);
    journal.write(admit('s1', 1), noRewrite);
    journal.write(admit('s2', 2), noRewrite);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /cannot be written/);
  });

  it('grows to a bound, then is written whole from the state; what it holds is unchanged', async () => {
    const file = path.join(folder, 'a.journal');
    const journal = new SpendJournal(file, undefined, 64);
    const clock = new ManualClock(0);
    const state = new AccountState(clock, new Budget(limits, clock, new MemoryLedger(), options));
    const stateOf = () => ({ kept: state.image().spends, running: state.budget.runningSpends() });
    const apply = (op: AccountOp) => (journal.write(op, stateOf), state.apply(op));
    for (let i = 0; i < 200; i++) {
      await clock.advance(1_000);
      apply(admit(`s${i}`, clock.now()));
      apply({ op: 'confirm', id: `s${i}`, at: clock.now() });
      if (i < 199) apply({ op: 'release', id: `s${i}` });
    }
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').length;
    assert.ok(lines < 200, `${lines} lines for 200 sends of three changes each`);
    const back = new Budget(
      { ...limits, tokensPerDay: 1_000_000 },
      clock,
      new MemoryLedger(new SpendJournal(file).read(clock.now(), UNANSWERED_MS)),
      options,
    );
    assert.equal(back.snapshot().requestsUsed, state.budget.snapshot().requestsUsed);
    assert.equal(back.snapshot().tokensUsedToday, 20_000);
  });
});

describe('AccountState.merge: spends known elsewhere, each counted once', () => {
  it('a spend held one by one here and summed in its minute there counts once, for the minute and the day', async () => {
    const clock = new ManualClock(10 * MINUTE);
    const dayLimits = { ...limits, tokensPerDay: 1_000_000 };
    const here = new AccountState(clock, new Budget(dayLimits, clock, new MemoryLedger(), options));
    for (let i = 0; i < 5; i++) here.apply(admit(`s${i}`, clock.now() + i * 1_000));
    for (let i = 0; i < 5; i++) here.apply({ op: 'release', id: `s${i}` });
    await clock.advance(3 * MINUTE);
    // The other side kept the same spends, summed per minute, plus one spend it alone knows.
    const there = [...here.image().spends, { id: 'new', at: clock.now(), requests: 1, tokens: 7 }];
    assert.ok(
      there.some((s) => s.id.startsWith('minute-')),
      'the other side holds a per-minute sum',
    );
    here.merge(there);
    here.merge(there); // and again: nothing changes
    const snapshot = here.budget.snapshot();
    assert.equal(snapshot.tokensUsedToday, 507);
    assert.equal(snapshot.requestsUsed, 1);
  });

  it('a running send keeps its slot and is counted once', () => {
    const clock = new ManualClock(10 * MINUTE);
    const here = new AccountState(clock, new Budget(limits, clock, new MemoryLedger(), options));
    here.apply(admit('run', clock.now()));
    here.merge([
      { id: 'run', at: clock.now(), requests: 1, tokens: 100 } satisfies Spend,
      { id: 'b', at: clock.now(), requests: 1, tokens: 5 },
    ]);
    assert.equal(here.budget.inFlight, 1);
    assert.equal(here.budget.snapshot().requestsUsed, 2);
    assert.equal(here.budget.snapshot().tokensUsed, 105);
  });
});

describe('LocalAccountStore and its record', () => {
  const open = (holder: string, clock = new ManualClock(Date.now())) =>
    new LocalAccountStore({ identity: 'acct', holder, limits, clock, folder, budgetOptions: options });

  it('the window that keeps the account writes a spend before its admission returns; a window opened after it ended counts it', async () => {
    const first = open('a');
    await first.ready();
    assert.equal(first.currentRole, 'coordinator');
    first.join({ id: 't1', tokens: 100, order: 1 });
    const admission = first.tryAdmit('t1', 100, 'spend-1');
    assert.ok(admission);
    // Before anything else happens (no event loop turn): the record holds it.
    assert.match(fs.readFileSync(path.join(folder, 'acct.journal'), 'utf8'), /"spend-1"/);
    // The window ends without a word (as a killed one does: nothing disposed, nothing flushed).
    const second = open('b');
    assert.equal(second.snapshot().requestsUsed, 1, 'counted at once, before it even knows who keeps the account');
    first.dispose();
    await second.ready();
    assert.equal(second.currentRole, 'coordinator');
    assert.equal(second.snapshot().requestsUsed, 1);
    assert.equal(second.snapshot().inFlight, 0, 'the ended window’s slot is free');
    second.dispose();
  });

  it('without the record (journal: false), the next window forgets the spend: what the record is for', async () => {
    const first = new LocalAccountStore({
      identity: 'acct',
      holder: 'a',
      limits,
      clock: new ManualClock(Date.now()),
      folder,
      journal: false,
    });
    await first.ready();
    first.join({ id: 't1', tokens: 100, order: 1 });
    assert.ok(first.tryAdmit('t1', 100, 'spend-1'));
    first.dispose();
    const second = open('b');
    await second.ready();
    assert.equal(second.snapshot().requestsUsed, 0);
    second.dispose();
  });
});

describe('OpeningAccountStore: the account before the key is read', () => {
  it('shows what was kept, and admits nothing', () => {
    const clock = new ManualClock(10 * MINUTE);
    const kept = new MemoryLedger([{ at: clock.now() - 1_000, requests: 1, tokens: 10 }]);
    const store = new OpeningAccountStore(new Budget(limits, clock, kept, options), clock, 'w');
    store.join({ id: 't', tokens: 10, order: clock.now() });
    assert.deepEqual(store.waitFor(), { ms: Infinity, limit: null });
    assert.equal(store.tryAdmit(), undefined);
    assert.deepEqual([...store.plan().values()], [undefined]);
    assert.equal(store.snapshot().requestsUsed, 1);
  });
});
