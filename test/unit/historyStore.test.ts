// history.json on disk: owner-only, atomic, shared by windows without one dropping another's
// conversations, and a corrupt file set aside rather than lost or fatal.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { History } from '../../src/core/history';
import { HistoryStore } from '../../src/send/historyStore';

function answered(history: History, id: string, at: number): void {
  const conversation = history.start(id, id.toUpperCase(), '', at);
  history.add(conversation, { prompt: `prompt ${id}`, answer: `answer ${id}`, reasoning: '', at, model: 'kimi-k2.6' });
}

describe('HistoryStore', () => {
  let dir: string;
  const errors: string[] = [];
  const store = () => new HistoryStore(dir, (message) => errors.push(message));
  beforeEach(() => {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-history-')), 'globalStorage');
    errors.length = 0;
  });
  afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  it('writes history.json for its owner only (the folder too), and reads it back', async () => {
    const history = new History();
    answered(history, 'a', 1);
    await store().flush(history);
    const file = path.join(dir, 'history.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(
      (await store().load()).list().map((c) => c.id),
      ['a'],
    );
    assert.deepEqual(fs.readdirSync(dir), ['history.json'], 'no temporary file left');
  });

  it("two windows saving one file keep both windows' conversations, and each window sees the other's", async () => {
    const one = new History();
    const two = new History();
    answered(one, 'from-one', 1);
    answered(two, 'from-two', 2);
    await store().flush(one);
    await store().flush(two);
    assert.deepEqual(
      (await store().load()).list().map((c) => c.id),
      ['from-two', 'from-one'],
    );
    answered(one, 'later-in-one', 3);
    await store().flush(one);
    assert.deepEqual(
      (await store().load()).list().map((c) => c.id),
      ['later-in-one', 'from-two', 'from-one'],
    );
    assert.deepEqual(
      one.list().map((c) => c.id),
      ['later-in-one', 'from-two', 'from-one'],
      "the window now lists the other's too",
    );
  });

  it('on the way out, a save still waiting is written at once, merged and owner-only', async () => {
    const other = new History();
    answered(other, 'other', 1);
    await store().flush(other);
    const history = new History();
    answered(history, 'pending', 2);
    const s = store();
    s.save(history);
    s.flushNow(history);
    s.dispose();
    const file = path.join(dir, 'history.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(
      (await store().load()).list().map((c) => c.id),
      ['pending', 'other'],
    );
  });

  it('a corrupt file is set aside as history.json.bad with a message, and a new history starts', async () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'history.json'), '{"conversations": [');
    const loaded = await store().load();
    assert.deepEqual(loaded.list(), []);
    assert.equal(errors.length, 1);
    assert.match(errors[0], /could not be read .*history\.json\.bad/);
    assert.equal(fs.readFileSync(path.join(dir, 'history.json.bad'), 'utf8'), '{"conversations": [');
  });
});
