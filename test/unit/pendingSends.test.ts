// The sends under way, on disk: the next window offers what a reload, a crash or a kill -9 left,
// exactly once, and never what a window still open is sending.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PendingSends } from '../../src/send/pendingSends';

const ask = (typed: string) => ({ prompt: `prompt: ${typed}`, typed });

describe('PendingSends', () => {
  let dir: string;
  const errors: string[] = [];
  const live = new Set<number>();
  const open = (pid: number) =>
    new PendingSends(
      dir,
      (message) => errors.push(message),
      pid,
      (p) => live.has(p),
    );
  beforeEach(() => {
    dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-pending-')), 'pending');
    errors.length = 0;
    live.clear();
  });
  afterEach(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

  it('is on disk, owner-only, the moment a send is added, and gone once it is answered', () => {
    live.add(1);
    const window = open(1);
    const id = window.add(ask('a'));
    const file = path.join(dir, '1.json');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(
      JSON.parse(fs.readFileSync(file, 'utf8')).sends.map((p: { typed: string }) => p.typed),
      ['a'],
    );
    window.remove(id);
    assert.equal(fs.existsSync(file), false);
    assert.deepEqual(errors, []);
  });

  it('offers what a window whose process is gone left, once: the window opening next takes it', () => {
    live.add(1);
    const before = open(1);
    before.add(ask('first'));
    before.add(ask('second'));
    live.delete(1); // killed: no close, no last write
    live.add(2);
    const after = open(2);
    assert.deepEqual(
      after.leftover.map((p) => p.typed),
      ['first', 'second'],
    );
    live.add(3);
    assert.deepEqual(open(3).leftover, [], 'the window after it does not offer them too');
    // Not decided yet: a reload of the window that offers them offers them again.
    live.delete(2);
    live.add(4);
    assert.deepEqual(
      open(4).leftover.map((p) => p.typed),
      ['first', 'second'],
    );
  });

  it('does not offer the sends of a window still open, but does once it closes, even while its process lingers', () => {
    live.add(1);
    const other = open(1);
    other.add(ask('still going'));
    live.add(2);
    assert.deepEqual(open(2).leftover, []);
    other.close();
    const given = other.add(ask('after closing')); // the way out gives up its sends: the file keeps them
    other.remove(given);
    live.add(3);
    assert.deepEqual(
      open(3).leftover.map((p) => p.typed),
      ['still going'],
    );
  });

  it('once decided, the leftover is gone from disk and the window keeps only its own sends', () => {
    live.add(1);
    open(1).add(ask('left'));
    live.delete(1);
    live.add(2);
    const window = open(2);
    window.add(ask('mine'));
    window.decided();
    assert.deepEqual(window.leftover, []);
    live.delete(2);
    live.add(3);
    assert.deepEqual(
      open(3).leftover.map((p) => p.typed),
      ['mine'],
    );
  });

  it("takes in an older version's sends, and skips a file it cannot read", () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, '7.json'), '{not json');
    live.add(2);
    const window = new PendingSends(
      dir,
      () => undefined,
      2,
      (p) => live.has(p),
      [{ id: 'x', prompt: 'p', typed: 'old', at: 1 }, { nonsense: true }],
    );
    assert.deepEqual(
      window.leftover.map((p) => p.typed),
      ['old'],
    );
  });

  it('says so when the folder cannot be written, and keeps the send in memory', () => {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    fs.writeFileSync(dir, 'a file where the folder should be');
    const window = open(1);
    window.add(ask('a'));
    assert.equal(errors.length, 1);
    assert.match(errors[0], /could not be saved to .*1\.json .*a reload now would not offer them again/);
  });

  it('a process killed with SIGKILL right after adding a send leaves it to the next window', async () => {
    const module = require.resolve('../../src/send/pendingSends');
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const { PendingSends } = require(${JSON.stringify(module)});
         const p = new PendingSends(${JSON.stringify(dir)}, (m) => console.error(m));
         p.add({ prompt: 'the prompt', typed: 'typed' });
         process.stdout.write('added\\n');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    const next = new PendingSends(dir, (message) => errors.push(message));
    assert.deepEqual(
      next.leftover.map((p) => [p.prompt, p.typed]),
      [['the prompt', 'typed']],
    );
    next.decided();
    assert.deepEqual(fs.readdirSync(dir), []);
  });
});
