import { fmt } from '../report/table';
import { chinese, CorpusText, libDom, licenses, minifiedLine, tenMegabytes } from './corpus';
import { countWithExtension, ExtensionCount, idleStall } from './extensionCounter';
import { LIBRARY_NAMES, LibraryName } from './libraries';
import { LibraryOutcome, LibraryRunner } from './libraryRunner';
import { Measured, tokenCountingReport, TokenCountingResult } from './report';

/** A library count that has not finished by then is stopped and reported as "> limit". */
const WORST_CASE_LIMIT_MS = 10_000;
const CORPUS_LIMIT_MS = 60_000;
/**
 * Runs per input: one is too noisy to judge a goal on (other work on the machine takes the CPU in
 * bursts). Runs of the counters alternate, so that a burst does not fall on one counter only. The
 * libraries' worst cases take seconds or are stopped, so they run once.
 */
export const CORPUS_RUNS = 5;
export const WORST_CASE_RUNS = 3;

function finished(outcome: LibraryOutcome): outcome is Extract<LibraryOutcome, { tokens: number }> {
  return !('timedOut' in outcome);
}

/** The element whose `key` is the median (the middle of an odd count). */
function median<T>(items: readonly T[], key: (item: T) => number): T {
  return [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)];
}

/** The corpus, then the worst cases, through the extension's counter and the three libraries. */
export async function runTokenCounting(log: (line: string) => void): Promise<TokenCountingResult> {
  const runners = LIBRARY_NAMES.map((name) => new LibraryRunner(name));
  try {
    const measure = async (text: CorpusText, passes: number, runs: number, libraryRuns: number, limitMs: number): Promise<Measured> => {
      log(`  counting ${text.name} (${fmt.bytes(Buffer.byteLength(text.text))})`);
      const extensionRuns: ExtensionCount[] = [];
      const outcomes = new Map<LibraryName, LibraryOutcome[]>(LIBRARY_NAMES.map((name) => [name, []]));
      for (let run = 0; run < runs; run++) {
        extensionRuns.push(await countWithExtension(text.text, passes));
        if (run >= libraryRuns) continue;
        for (const runner of runners) outcomes.get(runner.library)!.push(await runner.count(text.text, passes, limitMs));
      }
      const extension = median(extensionRuns, (e) => e.passes[0].ms);
      const libraries = {} as Record<LibraryName, LibraryOutcome>;
      const libraryFirstMs = {} as Record<LibraryName, number[]>;
      const libraryLoadMs = {} as Record<LibraryName, number | undefined>;
      for (const [name, list] of outcomes) {
        libraries[name] = median(list, (o) => (finished(o) ? o.passMs[0] : Infinity));
        libraryFirstMs[name] = list.filter(finished).map((o) => o.passMs[0]);
        libraryLoadMs[name] = list.filter(finished).find((o) => o.loadMs !== undefined)?.loadMs;
      }
      return {
        text,
        bytes: Buffer.byteLength(text.text),
        extension,
        extensionFirstMs: extensionRuns.map((e) => e.passes[0].ms),
        starts: extensionRuns.map((e) => e.start),
        stallsMs: extensionRuns.map((e) => Math.max(...e.passes.map((p) => p.stallMs))),
        idleStallMs: await idleStall(extension.passes.reduce((sum, p) => sum + p.ms, 0)),
        libraries,
        libraryFirstMs,
        libraryLoadMs,
      };
    };
    const corpus: Measured[] = [];
    for (const text of [libDom(), licenses(), chinese()])
      if (text) corpus.push(await measure(text, 2, CORPUS_RUNS, CORPUS_RUNS, CORPUS_LIMIT_MS));
    const worst: Measured[] = [];
    const cases: CorpusText[] = [
      { name: '100,000 × "a"', source: 'generated', text: 'a'.repeat(100_000) },
      { name: '20,000 × "漢"', source: 'generated', text: '漢'.repeat(20_000) },
      minifiedLine(),
      tenMegabytes(),
    ];
    for (const text of cases) worst.push(await measure(text, 1, WORST_CASE_RUNS, 1, WORST_CASE_LIMIT_MS));
    return tokenCountingReport(corpus, worst);
  } finally {
    for (const runner of runners) runner.stop();
  }
}
