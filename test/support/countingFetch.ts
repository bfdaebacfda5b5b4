/** A fetch that counts the response bytes its caller reads: how much of a body a client took in. */
export interface CountingFetch {
  readonly fetch: typeof fetch;
  /** Bytes of response bodies handed to the caller so far. */
  bytesRead(): number;
}

export function countingFetch(): CountingFetch {
  let read = 0;
  const counted: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const source = response.body?.getReader();
    if (!source) return response;
    // highWaterMark 0: a byte is pulled from the network only when the caller asks for it.
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          const { value, done } = await source.read();
          if (done) return controller.close();
          read += value.byteLength;
          controller.enqueue(value);
        },
        cancel: (reason) => source.cancel(reason),
      },
      { highWaterMark: 0 },
    );
    const { status, statusText, headers } = response;
    return new Response(body, { status, statusText, headers });
  };
  return { fetch: counted, bytesRead: () => read };
}
