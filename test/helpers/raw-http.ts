// A bare HTTP/1.1 client for hostile requests to a real process: the path sent as given (no URL normalisation),
// the body whole with Content-Length or in chunks without it, one connection per request. The connection is
// keep-alive, as browsers and SDKs use: a server that answers before reading a huge body (a 413) then drains it
// instead of closing, and a close with unread data would reset the connection and lose the answer in flight.
import { Agent, request } from 'node:http';
import { connect } from 'node:net';

export interface RawRequest {
  method: string;
  /** Path and query, sent byte for byte. */
  url: string;
  headers: Record<string, string>;
  body?: string;
  /** Send the body in 64 KB chunks with Transfer-Encoding: chunked instead of a Content-Length. */
  chunked?: boolean;
}

export interface RawAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function rawRequest(port: number, r: RawRequest, timeoutMs = 15000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const done =
      <T>(fn: (v: T) => void) =>
      (v: T) => {
        agent.destroy();
        fn(v);
      };
    resolve = done(resolve);
    reject = done(reject);
    const req = request(
      { host: '127.0.0.1', port, method: r.method, path: r.url, headers: r.headers, agent },
      (res) => {
        answered = true;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const body = r.body === undefined ? undefined : Buffer.from(r.body, 'utf8');
    if (!body) {
      req.end();
    } else if (r.chunked) {
      const writeFrom = (at: number) => {
        while (at < body.length) {
          const more = req.write(body.subarray(at, at + 65536));
          at += 65536;
          if (!more) {
            req.once('drain', () => writeFrom(at));
            return;
          }
        }
        req.end();
      };
      writeFrom(0);
    } else {
      req.setHeader('content-length', body.length);
      req.end(body);
    }
  });
}

/**
 * For bodies over the limit: the request written straight onto a TCP socket, the answer read from it as it
 * comes. A server refuses an oversized body by answering at once and closing the connection; Node's HTTP client
 * then reports the write it was still doing (EPIPE) and drops the answer it had received. Here the answer wins:
 * it is read as soon as it arrives, and the body stops going out.
 */
export function socketRequest(port: number, r: RawRequest, timeoutMs = 15000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const body = Buffer.from(r.body ?? '', 'utf8');
    const headers = { host: `127.0.0.1:${port}`, ...r.headers, connection: 'close' } as Record<
      string,
      string
    >;
    if (r.chunked) headers['transfer-encoding'] = 'chunked';
    else headers['content-length'] = String(body.length);
    const head = `${r.method} ${r.url} HTTP/1.1\r\n${Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('')}\r\n`;
    let received = Buffer.alloc(0);
    let answer: RawAnswer | undefined;
    const timer = setTimeout(() => socket.destroy(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (answer) resolve(answer);
      else
        reject(
          err ??
            new Error(`connection closed without a complete answer: ${received.toString().slice(0, 300)}`),
        );
    };
    socket.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      answer = parseAnswer(received);
      if (answer) finish();
    });
    // A write error (EPIPE: the server closed while the body was still going out) is not the end: the answer
    // it sent before closing may still be read. Only the close decides.
    let writeError: Error | undefined;
    socket.on('error', (err) => (writeError = err));
    socket.on('close', () => finish(writeError));
    socket.write(head);
    // One 64 KB piece per turn of the event loop, as a client on a network sends: the answer a server gives
    // early is read between pieces, and sending stops once it is in (as curl and browsers do).
    let at = 0;
    const pump = () => {
      if (answer || socket.destroyed) return;
      if (at >= body.length) {
        if (r.chunked) socket.write('0\r\n\r\n');
        return;
      }
      const piece = body.subarray(at, at + 65536);
      at += piece.length;
      const frame = r.chunked
        ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
        : piece;
      if (socket.write(frame)) setImmediate(pump);
      else socket.once('drain', pump);
    };
    pump();
  });
}

/** A complete HTTP/1.1 answer with a Content-Length body, or undefined while more bytes are due. */
function parseAnswer(buf: Buffer): RawAnswer | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [status, ...lines] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  if (buf.length < end + 4 + length) return undefined;
  return {
    statusCode: Number(status.split(' ')[1]),
    headers,
    body: buf.subarray(end + 4, end + 4 + length).toString('utf8'),
  };
}
