import { bottleneckClient } from './bottleneck';
import type { Client } from './client';
import { engineClient } from './engine';
import { fixedDelayClient } from './fixedDelay';
import { oracleClient } from './oracle';
import { retryOn429Client } from './retryOn429';

/** The clients compared, the oracle first: the others are stopped at a multiple of its time, and their ratios are to it. */
export const CLIENTS: readonly Client[] = [oracleClient, engineClient, retryOn429Client, fixedDelayClient, bottleneckClient];
