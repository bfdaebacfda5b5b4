import { fmt } from './table';

/** The middle value (the upper one of an even count): robust to one slow run on a shared machine. */
export function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Milliseconds as "median (min–max)". */
export function msSpread(values: readonly number[]): string {
  return `${fmt.ms(medianOf(values))} (${fmt.ms(Math.min(...values))}–${fmt.ms(Math.max(...values))})`;
}
