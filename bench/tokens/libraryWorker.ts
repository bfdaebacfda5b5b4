// A worker thread that counts with one library, so that a count that would take minutes can be
// stopped (the libraries are synchronous: nothing else can interrupt them).
import { parentPort } from 'node:worker_threads';
import { Library, LibraryName, loadLibrary } from './libraries';

export interface LibraryRequest {
  readonly library: LibraryName;
  readonly text: string;
  readonly passes: number;
}

export interface LibraryReply {
  readonly tokens: number;
  /** Time of each pass, the first after the library's caches were cleared. */
  readonly passMs: number[];
  /** Time to load the library, when this request loaded it. */
  readonly loadMs?: number;
}

const loaded = new Map<LibraryName, Library>();

parentPort?.on('message', ({ library, text, passes }: LibraryRequest) => {
  let loadMs: number | undefined;
  let lib = loaded.get(library);
  if (!lib) {
    const started = performance.now();
    lib = loadLibrary(library);
    lib.count('warm up');
    loadMs = performance.now() - started;
    loaded.set(library, lib);
  }
  lib.reset();
  const passMs: number[] = [];
  let tokens = 0;
  for (let i = 0; i < passes; i++) {
    const started = performance.now();
    tokens = lib.count(text);
    passMs.push(performance.now() - started);
  }
  parentPort?.postMessage({ tokens, passMs, loadMs } satisfies LibraryReply);
});
