import { Worker } from 'worker_threads';
import type { TokenCount, WorkerReply, WorkerRequest } from './protocol';

export type { TokenCount } from './protocol';

/** Characters per message to the worker: copying 256 Ki characters takes well under a millisecond. */
const SLICE_CHARS = 256 * 1024;

interface PendingCount {
  resolve(count: TokenCount): void;
  reject(error: Error): void;
  /** Detaches the abort listener. */
  release(): void;
}

/**
 * Counts o200k tokens off the extension host's thread. The worker (and the 2.3 MB tokenizer it
 * loads) starts on the first non-empty count; requests share it, matched by id. The worker is
 * unref'd while idle, so it never keeps a process alive, and ref'd while a count is pending, so
 * that awaiting a count in a plain Node process does not end the process under it.
 */
export class TokenCounter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, PendingCount>();
  private nextId = 1;
  private everStarted = false;
  private disposed = false;

  constructor(private readonly options: { workerPath: string }) {}

  /** Whether the worker (and so the tokenizer) has been started. */
  get started(): boolean {
    return this.everStarted;
  }

  count(text: string, signal?: AbortSignal): Promise<TokenCount> {
    if (this.disposed) return Promise.reject(new Error('The token counter has been disposed.'));
    if (signal?.aborted) return Promise.reject(abortError());
    if (text === '') return Promise.resolve({ tokens: 0, exact: true });

    const id = this.nextId++;
    return new Promise<TokenCount>((resolve, reject) => {
      const worker = this.ensureWorker(); // a throw here rejects the count
      const onAbort = () => {
        if (!this.settle(id)) return;
        worker.postMessage({ type: 'cancel', id } satisfies WorkerRequest);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { resolve, reject, release: () => signal?.removeEventListener('abort', onAbort) });
      if (this.pending.size === 1) worker.ref();
      void this.post(worker, id, text);
    });
  }

  /**
   * Hands the text to the worker. Posting copies it on this thread, so a long text goes in slices
   * with a turn of the event loop between them: no single copy stalls the extension host.
   */
  private async post(worker: Worker, id: number, text: string): Promise<void> {
    let at = 0;
    for (; text.length - at > SLICE_CHARS; at += SLICE_CHARS) {
      worker.postMessage({ type: 'part', id, text: text.slice(at, at + SLICE_CHARS) } satisfies WorkerRequest);
      await new Promise((resolve) => setImmediate(resolve));
      if (!this.pending.has(id) || this.worker !== worker) return; // aborted, disposed or crashed meanwhile
    }
    worker.postMessage({ type: 'count', id, text: at ? text.slice(at) : text } satisfies WorkerRequest);
  }

  /** Terminates the worker; pending counts reject, and so does any later count. */
  dispose(): void {
    this.disposed = true;
    const worker = this.worker;
    this.worker = undefined;
    this.rejectAll('The token counter was disposed before the count finished.');
    void worker?.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(this.options.workerPath);
    worker.unref();
    worker.on('message', (reply: WorkerReply) => this.onReply(reply));
    worker.on('error', (error) => this.onWorkerLost(worker, `crashed: ${error.message}`));
    worker.on('messageerror', (error) => this.onWorkerLost(worker, `sent an unreadable message: ${error.message}`));
    worker.on('exit', (code) => this.onWorkerLost(worker, `exited unexpectedly (exit code ${code})`));
    this.worker = worker;
    this.everStarted = true;
    return worker;
  }

  private onReply(reply: WorkerReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return; // aborted meanwhile
    this.settle(reply.id);
    if ('error' in reply) pending.reject(new Error(`Token count failed in the tokenizer worker: ${reply.error}`));
    else pending.resolve({ tokens: reply.tokens, exact: reply.exact });
  }

  /** Forgets a dead worker (the next count starts a fresh one) and rejects what it still owed. */
  private onWorkerLost(worker: Worker, what: string): void {
    if (worker !== this.worker) return; // already replaced or disposed
    this.worker = undefined;
    this.rejectAll(`The tokenizer worker ${what}; the next count starts a new one.`);
    void worker.terminate();
  }

  private rejectAll(message: string): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const count of pending) {
      count.release();
      count.reject(new Error(message));
    }
  }

  /** Removes a pending count; false if it was already settled. */
  private settle(id: number): boolean {
    const pending = this.pending.get(id);
    if (!pending) return false;
    this.pending.delete(id);
    pending.release();
    if (this.pending.size === 0) this.worker?.unref();
    return true;
  }
}

function abortError(): Error {
  const error = new Error('The token count was aborted.');
  error.name = 'AbortError';
  return error;
}
