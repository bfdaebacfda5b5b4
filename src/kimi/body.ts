/** Reading a response body without trusting the server about its size or its pace. */

/** The request plumbing a body reader needs: feed the idle timer, and stop waiting on cancellation. */
export interface BodyIO {
  touch(): void;
  race<T>(promise: Promise<T>): Promise<T>;
  now(): number;
}

/** The body's bytes as they arrive; leaving the loop early (break, throw) cancels the rest of the body. */
export async function* bodyChunks(response: Response, io: BodyIO): AsyncGenerator<Uint8Array> {
  const reader = response.body?.getReader();
  if (!reader) return;
  try {
    for (;;) {
      const { value, done } = await io.race(reader.read());
      if (done) return;
      io.touch();
      yield value;
    }
  } finally {
    reader.cancel().catch(() => undefined);
  }
}

/** The body as text, reading no more than `limit` bytes; `cut` says there was more, which was never read. */
export async function readText(response: Response, io: BodyIO, limit: number): Promise<{ text: string; cut: boolean }> {
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  for await (const chunk of bodyChunks(response, io)) {
    if (bytes + chunk.byteLength > limit) return { text: text + decoder.decode(chunk.subarray(0, limit - bytes)), cut: true };
    bytes += chunk.byteLength;
    text += decoder.decode(chunk, { stream: true });
  }
  return { text: text + decoder.decode(), cut: false };
}
