import * as path from 'node:path';

/** The repository root: this file runs as out/bench/paths.js. */
export const ROOT = path.resolve(__dirname, '..', '..');

export function fromRoot(...parts: string[]): string {
  return path.join(ROOT, ...parts);
}
