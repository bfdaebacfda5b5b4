/** Seeded randomness, so that every client of a run faces the same prompts and the run repeats. */
export type Random = () => number;

/** mulberry32: small, fast, good enough for workloads and jitter. */
export function seeded(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sizes spread evenly over orders of magnitude: many short prompts, some very long, as people write them. */
export function logUniform(random: Random, min: number, max: number): number {
  return Math.round(Math.exp(Math.log(min) + random() * (Math.log(max) - Math.log(min))));
}

export function uniform(random: Random, min: number, max: number): number {
  return min + random() * (max - min);
}

/** Gaps between Poisson arrivals. */
export function exponential(random: Random, mean: number): number {
  return -Math.log(1 - random()) * mean;
}
