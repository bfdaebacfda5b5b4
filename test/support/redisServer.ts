/**
 * A real Redis for the tests: Debian's redis-server on a free loopback port, with no persistence
 * (a restart comes back with no data, as a Redis that lost its data does). Kill, restart, stop and
 * continue it to make faults.
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';

export const REDIS_SERVER = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((p) => fs.existsSync(p)) ?? 'redis-server';

export function redisVersion(): string {
  return execFileSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).trim();
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

export class RedisServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    private readonly extra: readonly string[],
  ) {}

  static async start(extra: readonly string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extra);
    await server.launch();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      REDIS_SERVER,
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', ...this.extra],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (hasExited(child)) throw new Error(`redis-server exited: ${output}`);
      if (await canConnect(this.port)) return;
      if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${this.port}: ${output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** kill -9: every connection drops, every key is gone. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || hasExited(child)) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** Starts again on the same port, with no data. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
