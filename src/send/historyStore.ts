import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Disposable } from '../core/event';
import { History } from '../core/history';

/** The history holds whole files sent as context: only its owner may read it. */
const FILE_MODE = 0o600;
const DIRECTORY_MODE = 0o700;

/**
 * Keeps the history in `history.json` under the extension's global storage, so conversations
 * survive a reload. Writes are debounced and atomic (a temporary file, then a rename), owner-only,
 * and take in first what other windows wrote meanwhile.
 */
export class HistoryStore implements Disposable {
  private readonly file: string;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  /** `directory`: the extension's global storage folder. */
  constructor(
    directory: string,
    private readonly onError: (message: string) => void,
  ) {
    this.file = path.join(directory, 'history.json');
  }

  async load(): Promise<History> {
    try {
      return History.restore(JSON.parse(await fs.readFile(this.file, 'utf8')));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.onError(
          `Kimi: the answer history in ${this.file} could not be read (${(error as Error).message}); starting a new one. The old file is kept as history.json.bad.`,
        );
        await fs.rename(this.file, `${this.file}.bad`).catch(() => undefined);
      }
      return new History();
    }
  }

  /** Saves soon; several changes in a row make one write. */
  save(history: History): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.flush(history), 300);
  }

  async flush(history: History): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      try {
        await fs.mkdir(path.dirname(this.file), { recursive: true, mode: DIRECTORY_MODE });
        history.mergeFrom(await this.read());
        const temporary = `${this.file}.${process.pid}.tmp`;
        await fs.writeFile(temporary, JSON.stringify(history), { mode: FILE_MODE });
        await fs.rename(temporary, this.file);
      } catch (error) {
        this.onError(`Kimi: the answer history could not be saved to ${this.file}: ${(error as Error).message}`);
      }
    });
    return this.writing;
  }

  /** On the way out: a save still waiting for its debounce is written at once, synchronously. */
  flushNow(history: History): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    try {
      mkdirSync(path.dirname(this.file), { recursive: true, mode: DIRECTORY_MODE });
      history.mergeFrom(this.readNow());
      const temporary = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(history), { mode: FILE_MODE });
      renameSync(temporary, this.file);
    } catch {
      // The window is closing: nothing is left to tell.
    }
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  /** What the file holds now (another window may have written it), or nothing when it cannot be read. */
  private async read(): Promise<History> {
    try {
      return History.restore(JSON.parse(await fs.readFile(this.file, 'utf8')));
    } catch {
      return new History();
    }
  }

  private readNow(): History {
    try {
      return History.restore(JSON.parse(readFileSync(this.file, 'utf8')));
    } catch {
      return new History();
    }
  }
}
