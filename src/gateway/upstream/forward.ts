/**
 * One upstream exchange on undici's dispatch API, written straight into the client response: no
 * intermediate Readable or pipe per request (measured ~15-25% more requests/s than `request()` + pipe).
 * Backpressure is kept (the upstream read pauses while the client socket drains) and a client that goes
 * away aborts the upstream exchange. Resolves once the response head is written; rejects, with nothing
 * written, when the exchange fails before a head arrives (so the caller may retry, fail over or answer
 * 502/504). An answer whose status the caller will retry (`retryStatus`) is drained, never written, and
 * rejects with {@link RETRY_STATUS}. Once a head is written nothing is ever retried: a body cut off
 * mid-way reaches the client as a cut, never spliced with part of another upstream answer.
 */
import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

export interface ForwardOptions {
  path: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer | null;
  headersTimeout: number;
  bodyTimeout: number;
}

/** Turns the upstream's head into the client's head (filter and add headers); returns what to send. */
export type HeadMapper = (
  status: number,
  headers: Record<string, string | string[] | undefined>,
) => Record<string, string | string[]>;

/** The code of the rejection for an answer held back to be retried (e.g. a 503 to a GET). */
export const RETRY_STATUS = 'BULWARK_UPSTREAM_RETRY_STATUS';

/** Decides, before anything is written, whether an answer with this status is retried instead. */
export type RetryStatus = (status: number) => boolean;

export function retryStatusError(status: number): Error {
  return Object.assign(new Error(`upstream answered ${status}; retrying`), { code: RETRY_STATUS });
}

interface Controller {
  pause(): void;
  resume(): void;
  abort(reason: Error): void;
}

/**
 * Whether the client side is gone. An HTTP/2 compat response has no `destroyed` of its own: its stream
 * does (checking only `res.destroyed` left reset streams looking alive, and reads paused forever).
 */
export function clientGone(res: ServerResponse): boolean {
  return (
    res.destroyed === true ||
    (res as unknown as { stream?: { destroyed?: boolean } }).stream?.destroyed === true
  );
}

export function forward(
  dispatcher: Dispatcher,
  options: ForwardOptions,
  res: ServerResponse,
  mapHead: HeadMapper,
  retryStatus: RetryStatus,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let started = false;
    // The status of an answer drained for a retry: nothing of it reaches the client.
    let held: number | undefined;
    let controller: Controller | undefined;
    let paused: Controller | undefined;
    let gone = false;
    const onClientClose = () => {
      if (res.writableEnded) return;
      // Not answered yet: the upstream exchange is abandoned (after the head, the rest is drained instead).
      if (!started) controller?.abort(new Error('client closed'));
      // A read paused for backpressure would wait forever for a 'drain' that never comes: let it run
      // out (the data is dropped), so the upstream connection goes back to the pool.
      paused?.resume();
      paused = undefined;
    };
    res.once('close', onClientClose);
    const handler = {
      onRequestStart(c: Controller) {
        controller = c;
        // Queued behind other requests while the client went away (a reset HTTP/2 stream): never send it.
        if (clientGone(res)) c.abort(new Error('client closed'));
      },
      onResponseStart(c: Controller, status: number, headers: Record<string, string | string[] | undefined>) {
        controller = c;
        // undici hands informational heads (102, 103 Early Hints) here too: the answer is still to come.
        // Taken for it, the 103 became the client's head and the real one could not be written (or
        // retried after a 503): the client waited for an answer that never came.
        if (status < 200) return;
        if (retryStatus(status)) {
          held = status;
          return;
        }
        started = true;
        // The client may be gone already (an HTTP/2 stream reset): writing would throw inside undici.
        if (gone || clientGone(res)) {
          gone = true;
          // Drain instead of aborting, so the upstream connection stays reusable.
          resolve(status);
          return;
        }
        try {
          res.writeHead(status, mapHead(status, headers));
        } catch {
          // An HTTP/2 stream closed between the check and the write: drop this answer, keep the connection.
          gone = true;
        }
        resolve(status);
      },
      onResponseData(c: Controller, chunk: Buffer) {
        if (held !== undefined || gone || clientGone(res)) return;
        if (!res.write(chunk)) {
          paused = c;
          c.pause();
          res.once('drain', () => {
            paused = undefined;
            c.resume();
          });
        }
      },
      onResponseEnd() {
        if (held !== undefined) {
          res.off('close', onClientClose);
          reject(retryStatusError(held));
        } else if (!gone && !clientGone(res)) res.end();
      },
      onResponseError(_c: Controller, err: Error) {
        if (!started) {
          res.off('close', onClientClose);
          reject(err);
        } else {
          res.destroy(err);
        }
      },
    };
    dispatcher.dispatch(
      {
        path: options.path,
        method: options.method as Dispatcher.HttpMethod,
        headers: options.headers,
        body: options.body,
        headersTimeout: options.headersTimeout,
        bodyTimeout: options.bodyTimeout,
      },
      handler as unknown as Dispatcher.DispatchHandler,
    );
  });
}
