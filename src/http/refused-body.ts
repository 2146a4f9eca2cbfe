// Answering a request whose body was refused unread (413 over the limit, 415 unknown type, 400 malformed): Fastify
// closes the connection at once, and the client, still sending, gets a TCP reset that can destroy the answer
// before it is read (it sees ECONNRESET or EPIPE, never the 413). As nginx's lingering close does, the rest of
// the body is read and dropped first, within bounds, and only then is the answer sent.
import type { FastifyReply, FastifyRequest } from 'fastify';

/** At most this much more is read, and for at most this long; past that the connection is closed as before. */
export const DRAIN_MAX_BYTES = 16 * 1024 * 1024;
export const DRAIN_MAX_MS = 5000;

/**
 * The `onSend` step for every answer: an error answer to a request whose body is still unread first reads and
 * drops the rest of it (bounded), then goes out. A callback, not a promise: successful answers pass straight on.
 */
export function drainRefusedBody(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  next: (err: null, payload: unknown) => void,
): void {
  const raw = request.raw;
  if (reply.statusCode < 400 || raw.complete || raw.readableEnded || raw.destroyed)
    return next(null, payload);
  const declared = Number(raw.headers['content-length'] ?? 0);
  if (declared > DRAIN_MAX_BYTES) return next(null, payload);
  let read = 0;
  const done = () => {
    clearTimeout(timer);
    raw.off('data', onData).off('end', done).off('error', done).off('close', done);
    if (!raw.complete) raw.pause();
    next(null, payload);
  };
  const onData = (chunk: Buffer) => {
    read += chunk.length;
    if (read > DRAIN_MAX_BYTES) done();
  };
  const timer = setTimeout(done, DRAIN_MAX_MS);
  raw.on('data', onData).once('end', done).once('error', done).once('close', done);
  raw.resume();
}
