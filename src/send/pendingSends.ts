import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

/** A send not yet answered, as much of it as is needed to send it again (never the key). */
export interface PendingAsk {
  readonly id: string;
  /** The conversation it continues, if it is a follow-up. */
  readonly conversationId?: string;
  readonly prompt: string;
  readonly typed: string;
  readonly at: number;
}

/** Prompts are the user's words: only the owner may read them. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;
const NAME = /^(\d+)(?:\.[\w-]+)?\.json$/;

/** Whether the process `pid` of this machine still runs. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Sends that are queued or under way, so that a window reload, a crash of the extension host or a
 * kill -9 does not lose them: the next window offers them again.
 *
 * Each extension host keeps its own file, `<pid>.json` in `directory` (owner-only), and rewrites it
 * synchronously (a temporary file, then a rename) before the send goes on: it is on disk before the
 * window can close. A file is left over once its process is gone, or once it says its window closed;
 * the first window to open after that takes it (by renaming it, so that two windows opening at once
 * never both offer it) and keeps it in its own file until the user decides.
 */
export class PendingSends {
  private readonly current: PendingAsk[] = [];
  /** What earlier windows left unsent; kept until the user decides about it. */
  private undecided: PendingAsk[] = [];
  private readonly file: string;
  private closed = false;

  constructor(
    private readonly directory: string,
    private readonly onError: (message: string) => void,
    pid = process.pid,
    alive: (pid: number) => boolean = processAlive,
    /** Sends an older version kept elsewhere, taken in with the files'. */
    inherited: readonly unknown[] = [],
  ) {
    this.file = path.join(directory, `${pid}.json`);
    const taken: string[] = [];
    for (const name of this.names()) {
      const owner = Number(NAME.exec(name)?.[1]);
      const file = path.join(directory, name);
      const saved = read(file);
      if (owner !== pid && alive(owner) && !saved.closed) continue;
      // Taken under a name of this process: a window opening at the same moment cannot take it too,
      // and a crash before it is merged leaves it for the next window.
      const claimed = path.join(directory, `${pid}.${randomUUID()}.json`);
      try {
        renameSync(file, claimed);
      } catch {
        continue; // another window took it first
      }
      this.undecided.push(...read(claimed).sends);
      taken.push(claimed);
    }
    this.undecided.push(...inherited.filter(isPendingAsk));
    this.undecided = unique(this.undecided).sort((a, b) => a.at - b.at);
    this.save();
    for (const file of taken) remove(file);
  }

  get leftover(): readonly PendingAsk[] {
    return this.undecided;
  }

  /** The user sent the leftover again, or let it go. */
  decided(): void {
    this.undecided = [];
    this.save();
  }

  add(ask: Omit<PendingAsk, 'id' | 'at'>): string {
    const pending = { ...ask, id: randomUUID(), at: Date.now() };
    this.current.push(pending);
    this.save();
    return pending.id;
  }

  remove(id: string): void {
    const i = this.current.findIndex((p) => p.id === id);
    if (i < 0) return;
    this.current.splice(i, 1);
    this.save();
  }

  /**
   * The window closes: what it still holds is the next window's to offer, even if this process
   * lingers; the sends it gives up on the way out stay in the file.
   */
  close(): void {
    this.save(true);
    this.closed = true;
  }

  private save(closed = false): void {
    if (this.closed) return;
    const sends = [...this.undecided, ...this.current];
    try {
      if (!sends.length) return remove(this.file);
      mkdirSync(this.directory, { recursive: true, mode: DIRECTORY_MODE });
      const temporary = `${this.file}.tmp`;
      writeFileSync(temporary, JSON.stringify({ closed, sends }), { mode: FILE_MODE });
      renameSync(temporary, this.file);
    } catch (error) {
      this.onError(
        `Kimi: the prompts waiting to be sent could not be saved to ${this.file} (${(error as Error).message}); a reload now would not offer them again.`,
      );
    }
  }

  private names(): string[] {
    try {
      return readdirSync(this.directory).filter((name) => NAME.test(name));
    } catch {
      return [];
    }
  }
}

function read(file: string): { closed: boolean; sends: PendingAsk[] } {
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { closed?: unknown; sends?: unknown };
    return { closed: saved.closed === true, sends: Array.isArray(saved.sends) ? saved.sends.filter(isPendingAsk) : [] };
  } catch {
    return { closed: false, sends: [] };
  }
}

function remove(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

function unique(sends: PendingAsk[]): PendingAsk[] {
  const seen = new Set<string>();
  return sends.filter((p) => !seen.has(p.id) && (seen.add(p.id), true));
}

function isPendingAsk(value: unknown): value is PendingAsk {
  const p = value as PendingAsk;
  return (
    typeof p?.id === 'string' &&
    typeof p.prompt === 'string' &&
    typeof p.typed === 'string' &&
    typeof p.at === 'number' &&
    (p.conversationId === undefined || typeof p.conversationId === 'string')
  );
}
