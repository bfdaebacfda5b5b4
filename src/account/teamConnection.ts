import { createClient, defineScript } from '@redis/client';
import type { CommandParser } from '@redis/client/dist/lib/client/parser';
import { TEAM_SCRIPT, teamKeys, wakeChannel } from './teamScript';

/** The team script, one call at a time; wake-ups from other members; word of a lost connection. */
export interface TeamConnection {
  /** Runs the team script with `[op, ...spans, ...params]` (the channel is added here). Rejects fast while Redis is not reached. */
  run(args: readonly string[]): Promise<string>;
  /** Another member changed something (a hint: the state is read again). */
  onMessage(listener: () => void): void;
  /** The connection failed: Redis went away, stopped answering, or refused this client. */
  onLost(listener: (error: unknown) => void): void;
  /** Settles once the first connection is made (resolves) or has failed (rejects). */
  readonly connected: Promise<void>;
  close(): Promise<void>;
}

export interface RedisTeamOptions {
  /** `redis://` or `rediss://`, with no password in it. */
  readonly url: string;
  readonly password?: string;
  /** The budget's name: every member with the same name shares one budget. */
  readonly budget: string;
  /** How long a command may take before Redis counts as unreachable. */
  readonly commandTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** The longest wait between reconnection attempts. */
  readonly maxBackoffMs?: number;
}

const teamScript = defineScript({
  NUMBER_OF_KEYS: 16,
  SCRIPT: TEAM_SCRIPT,
  parseCommand(parser: CommandParser, keys: readonly string[], args: readonly string[]) {
    for (const key of keys) parser.pushKey(key);
    for (const arg of args) parser.push(arg);
  },
  transformReply: undefined as unknown as () => string,
});

/**
 * node-redis with the script sent by its hash (and again in full when Redis has forgotten it), no
 * offline queue (a call while disconnected fails at once: the store falls back), a short command
 * timeout, and reconnection with jittered exponential backoff.
 */
export class RedisTeamConnection implements TeamConnection {
  private readonly keys: string[];
  private readonly channel: string;
  private readonly client;
  private readonly subscriber;
  private readonly messageListeners: (() => void)[] = [];
  private readonly lostListeners: ((error: unknown) => void)[] = [];
  private closed = false;
  private readonly timeoutMs: number;
  readonly connected: Promise<void>;
  private firstConnect!: { resolve(): void; reject(error: unknown): void };

  constructor(options: RedisTeamOptions) {
    this.keys = teamKeys(options.budget);
    this.channel = wakeChannel(options.budget);
    const maxBackoff = options.maxBackoffMs ?? 5_000;
    this.timeoutMs = options.commandTimeoutMs ?? 1_500;
    this.client = createClient({
      url: options.url,
      password: options.password,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 2_000,
        reconnectStrategy: (retries: number) =>
          this.closed ? false : Math.min(maxBackoff, 50 * 2 ** Math.min(retries, 10)) * (0.5 + Math.random() / 2),
      },
      scripts: { team: teamScript },
    });
    this.connected = new Promise<void>((resolve, reject) => (this.firstConnect = { resolve, reject }));
    this.connected.catch(() => undefined);
    this.client.once('ready', () => this.firstConnect.resolve());
    this.subscriber = this.client.duplicate();
    this.client.on('error', (error: unknown) => this.lost(error));
    this.subscriber.on('error', () => undefined); // the command connection reports the same loss
    void this.start();
  }

  private async start(): Promise<void> {
    try {
      await this.client.connect();
    } catch (error) {
      this.lost(error);
    }
    try {
      await this.subscriber.connect();
      await this.subscriber.subscribe(this.channel, () => {
        for (const listener of this.messageListeners) listener();
      });
    } catch {
      // Wake-ups are hints: members still read the state on every heartbeat.
    }
  }

  async run(args: readonly string[]): Promise<string> {
    if (this.closed) throw new Error('the team connection is closed');
    if (!this.client.isReady) throw new Error('the connection to Redis was lost');
    const [op, ...rest] = args;
    // A Redis that stopped answering (stopped, or cut off) keeps the socket open: the wait is bounded here.
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer in time (${this.timeoutMs} ms)`)), this.timeoutMs);
    });
    try {
      return await Promise.race([this.client.team(this.keys, [op, this.channel, ...rest]), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  onMessage(listener: () => void): void {
    this.messageListeners.push(listener);
  }

  onLost(listener: (error: unknown) => void): void {
    this.lostListeners.push(listener);
  }

  /** Lets what is under way finish (a second at most) and ends both connections, reconnecting or not. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const quit = (c: typeof this.client) =>
      c.isReady ? Promise.race([c.close(), new Promise((resolve) => setTimeout(resolve, 1_000).unref())]) : Promise.resolve();
    await Promise.allSettled([quit(this.client), quit(this.subscriber)]);
    for (const c of [this.client, this.subscriber])
      try {
        c.destroy();
      } catch {
        // not open: nothing to end
      }
  }

  private lost(error: unknown): void {
    if (this.closed) return;
    this.firstConnect.reject(error);
    for (const listener of this.lostListeners) listener(error);
  }
}
