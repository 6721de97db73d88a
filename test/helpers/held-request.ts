/**
 * A request whose head is sent now and whose body comes later, on one raw connection: the
 * time-of-use cases (security.md 28, 36) change the world between the two.
 */
import { connect, type Socket } from 'node:net';
import { parseResponses, type RawResponse } from './raw-http.js';
import { waitFor } from './net.js';

export interface HeldRequest {
  /** Writes more of the request (e.g. the last byte of the body). */
  send(bytes: string | Buffer): void;
  /** The first whole response, or undefined if the server closed or `timeoutMs` passed without one. */
  response(timeoutMs?: number): Promise<RawResponse | undefined>;
  /** Whether a whole response has already arrived. */
  answered(): boolean;
  close(): void;
}

/** Connects to 127.0.0.1:`port` and writes `head` (and whatever part of the body it holds). */
export async function holdRequest(port: number, head: string | Buffer): Promise<HeldRequest> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  const received: Buffer[] = [];
  let closed = false;
  socket.on('data', (d: Buffer) => received.push(d));
  socket.on('close', () => (closed = true));
  socket.on('error', () => (closed = true));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(typeof head === 'string' ? Buffer.from(head, 'latin1') : head);
  const first = (): RawResponse | undefined => {
    const r = parseResponses(Buffer.concat(received).toString('latin1'))[0];
    return r?.complete === true ? r : undefined;
  };
  return {
    send: (bytes) => void socket.write(typeof bytes === 'string' ? Buffer.from(bytes) : bytes),
    answered: () => first() !== undefined,
    async response(timeoutMs = 10_000) {
      try {
        await waitFor(() => first() !== undefined || closed, timeoutMs, 'a response');
      } catch {
        return undefined;
      }
      return first();
    },
    close: () => void socket.destroy(),
  };
}
