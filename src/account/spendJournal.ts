import * as fs from 'node:fs';
import { AccountOp } from '../core/account';
import { Spend } from '../core/ledger';

/**
 * The account's write-ahead record on this machine: every spend the coordinator admits (and every
 * change to one) is appended to a file, owner-only, before anyone hears of it — before a follower is
 * told its send may go, before this window's own request leaves. A window that is reloaded, crashes
 * or is killed therefore never takes its spends with it: the next window to keep the account reads
 * the record and counts them.
 *
 * A line is one JSON change. Appends are synchronous writes to the file (the kernel has them the
 * moment the call returns, so a killed process loses nothing it wrote); they are not flushed to the
 * disk, so a power cut can lose the last ones. The record is rewritten from the account's state when
 * it grows long (a temporary file renamed over it, so a reader sees the old or the new one whole).
 */
export class SpendJournal {
  private lines = 0;
  /** Lines the record had when last written whole: it is rewritten once it has twice as many (and at least `rewriteAfter`). */
  private base = 0;
  private failed = false;

  constructor(
    private readonly file: string,
    /** Said once when the record cannot be written (the send goes on: the budget in memory still holds it). */
    private readonly onProblem: (problem: string) => void = () => undefined,
    /** Lines appended, past which the next append rewrites the record from the state. */
    private readonly rewriteAfter = 4_096,
  ) {}

  /**
   * The spends the record holds, as of `now`. A spend whose request had neither been answered nor
   * ended when its writer stopped may have reached the server at any moment until then: it counts
   * from `now` (at most `unansweredMs` after it was admitted, when the client gives up on a silent
   * server), the latest the server can have taken it.
   */
  read(now: number, unansweredMs: number): Spend[] {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const spends = new Map<string, Spend>();
    const open = new Set<string>();
    const lines = text.split('\n');
    this.lines = this.base = lines.length;
    for (const line of lines) {
      const change = parseLine(line);
      if (!change) continue; // a line cut short by a kill, or not ours
      if (change.k === 'spend') {
        const known = spends.get(change.spend.id);
        spends.set(
          change.spend.id,
          known
            ? {
                ...known,
                at: Math.max(known.at, change.spend.at),
                tokens: Math.max(known.tokens, change.spend.tokens),
                requests: Math.max(known.requests, change.spend.requests),
              }
            : change.spend,
        );
        if (change.running) open.add(change.spend.id);
        else open.delete(change.spend.id);
        continue;
      }
      const spend = spends.get(change.id);
      if (!spend) continue;
      if (change.k === 'settle') spends.set(change.id, { ...spend, tokens: change.tokens });
      else if (change.k === 'confirm') {
        spends.set(change.id, { ...spend, at: change.at });
        open.delete(change.id);
      } else if (change.k === 'refund') {
        spends.delete(change.id);
        open.delete(change.id);
      } else open.delete(change.id);
    }
    for (const id of open) {
      const spend = spends.get(id);
      if (spend) spends.set(id, { ...spend, at: Math.max(spend.at, Math.min(now, spend.at + unansweredMs)) });
    }
    return [...spends.values()];
  }

  /**
   * Appends the change an op makes to the account's spends, if it makes one. `rewrite` gives the
   * state to start the record over from, should it have grown long.
   */
  write(op: AccountOp, rewrite: () => { kept: readonly Spend[]; running: readonly Spend[] }): void {
    const line = lineOf(op);
    if (!line) return;
    // The state does not hold this change yet: it follows the rewritten record.
    if (this.lines >= Math.max(this.rewriteAfter, 2 * this.base)) this.rewrite(rewrite());
    this.append(line + '\n');
    this.lines++;
  }

  /** Starts the record over from the account's state: the spends to keep, and those still running. */
  rewrite({ kept, running }: { kept: readonly Spend[]; running: readonly Spend[] }): void {
    const ids = new Set(running.map((s) => s.id));
    const text =
      [
        ...kept.filter((s) => !ids.has(s.id)).map((s) => JSON.stringify({ k: [s.id, s.at, s.requests, s.tokens] })),
        ...running.map((s) => JSON.stringify({ a: [s.id, s.at, s.requests, s.tokens] })),
      ].join('\n') + '\n';
    const temporary = `${this.file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(temporary, text, { mode: 0o600 });
      fs.renameSync(temporary, this.file);
      this.lines = this.base = kept.length + running.length;
    } catch (error) {
      this.fail(error);
      try {
        fs.unlinkSync(temporary);
      } catch {
        // never made
      }
    }
  }

  private append(text: string): void {
    try {
      fs.appendFileSync(this.file, text, { mode: 0o600 });
      this.failed = false;
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.onProblem(
      `the record of the account's spends (${this.file}) cannot be written: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
}

type Change =
  | { k: 'spend'; spend: Spend; running: boolean }
  | { k: 'settle'; id: string; tokens: number }
  | { k: 'confirm'; id: string; at: number }
  | { k: 'refund'; id: string }
  | { k: 'end'; id: string };

function lineOf(op: AccountOp): string | undefined {
  switch (op.op) {
    case 'admit': {
      const { id, at, requests, tokens } = op.spend;
      return JSON.stringify({ a: [id, at, requests, tokens] });
    }
    case 'settle':
      return JSON.stringify({ s: [op.id, op.tokens] });
    case 'confirm':
      return JSON.stringify({ c: [op.id, op.at] });
    case 'refund':
      return JSON.stringify({ r: op.id });
    case 'release':
      return JSON.stringify({ e: op.id });
    default:
      return undefined;
  }
}

const count = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0;

function parseLine(line: string): Change | undefined {
  if (!line) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  for (const key of ['a', 'k'] as const) {
    const fields = v[key];
    if (!Array.isArray(fields)) continue;
    const [id, at, requests, tokens] = fields as unknown[];
    if (typeof id !== 'string' || !id || ![at, requests, tokens].every(count)) return undefined;
    return { k: 'spend', spend: { id, at: at as number, requests: requests as number, tokens: tokens as number }, running: key === 'a' };
  }
  if (Array.isArray(v.s) && typeof v.s[0] === 'string' && count(v.s[1])) return { k: 'settle', id: v.s[0], tokens: v.s[1] };
  if (Array.isArray(v.c) && typeof v.c[0] === 'string' && count(v.c[1])) return { k: 'confirm', id: v.c[0], at: v.c[1] };
  if (typeof v.r === 'string') return { k: 'refund', id: v.r };
  if (typeof v.e === 'string') return { k: 'end', id: v.e };
  return undefined;
}
