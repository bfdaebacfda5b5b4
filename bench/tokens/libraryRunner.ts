import { Worker } from 'node:worker_threads';
import * as path from 'node:path';
import type { LibraryName } from './libraries';
import type { LibraryReply, LibraryRequest } from './libraryWorker';

export type LibraryOutcome = LibraryReply | { readonly timedOut: true; readonly afterMs: number };

/** One library in its own worker thread, kept between counts, replaced when a count is stopped. */
export class LibraryRunner {
  private worker: Worker | undefined;

  constructor(readonly library: LibraryName) {}

  count(text: string, passes: number, timeoutMs: number): Promise<LibraryOutcome> {
    const worker = (this.worker ??= new Worker(path.join(__dirname, 'libraryWorker.js')));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        this.stop();
        resolve({ timedOut: true, afterMs: timeoutMs });
      }, timeoutMs);
      const onMessage = (reply: LibraryReply) => {
        cleanup();
        resolve(reply);
      };
      const onError = (error: Error) => {
        cleanup();
        this.stop();
        reject(error);
      };
      const cleanup = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.postMessage({ library: this.library, text, passes } satisfies LibraryRequest);
    });
  }

  stop(): void {
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
