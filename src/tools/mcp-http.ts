import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';

/** Statuses whose responses have no body (a Response built with one throws). */
const NO_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * `fetch` for the streamable HTTP transport, with the cap on one message from the server that the stdio transport
 * has: bytes are counted as they arrive (of the whole body for a JSON response, of each event for an event
 * stream), and past `limit` the body is cut off (the request is aborted, nothing more is read) and `tooLarge` is
 * told, so the connection can be closed, the call failed with the limit named, and a new connection made next time.
 */
export function cappedFetch(limit: number, tooLarge: () => void): FetchLike {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.body === null || NO_BODY.has(response.status)) return response;
    const events = (response.headers.get('content-type') ?? '').includes('text/event-stream');
    let bytes = 0;
    let newlines = 0;
    const counted = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (!events) bytes += chunk.byteLength;
          else {
            // An event ends at a blank line; a CR before the LF is not counted as content.
            for (const byte of chunk) {
              if (byte === 0x0a) {
                newlines++;
                if (newlines === 2) bytes = 0;
              } else if (byte !== 0x0d) {
                newlines = 0;
                bytes++;
              }
              if (bytes > limit) break;
            }
          }
          if (bytes > limit) {
            tooLarge();
            controller.error(new Error(`a message larger than max_result_bytes (${limit} bytes)`));
            return;
          }
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(counted, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
