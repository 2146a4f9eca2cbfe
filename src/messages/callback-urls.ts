// Status callback URLs are the client's, but the worker is the one that POSTs to them: without a check, a
// client could make it reach loopback, the private network or a cloud metadata service (SSRF). Only http and
// https; by default in production only public addresses: the host is resolved and every address it resolves
// to must be public unicast, at accept and again at each delivery (DNS can change), where the connection uses
// the very addresses checked. Redirects are never followed. WEBHOOK_ALLOW_PRIVATE_URLS opens it (development).
import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { request as httpRequest, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, LookupFunction } from 'node:net';
import * as ipaddr from 'ipaddr.js';

/** A status_callback the service will not call; `message` says why (safe to show the client). */
export class CallbackUrlRefused extends Error {
  readonly code = 'INVALID_CALLBACK_URL';
}

/**
 * Public unicast only: refuses loopback, private, link-local, CGNAT, multicast, unspecified, reserved and
 * documentation ranges and their IPv6 equivalents (unique-local, link-local, IPv4-mapped, NAT64, 6to4, Teredo…).
 */
export function isPublicAddress(ip: string): boolean {
  if (!ipaddr.isValid(ip)) return false;
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) addr = v6.toIPv4Address();
    // The deprecated IPv4-compatible block ::/96 (inside the IANA-reserved ::/8) embeds an IPv4 address
    // (::7f00:1 is 127.0.0.1) and ipaddr.js calls it unicast: none of ::/8 is a public destination.
    else if (v6.parts[0] === 0 && v6.parts.slice(1, 5).every((p) => p === 0) && v6.parts[5] !== 0xffff)
      return false;
  }
  return addr.range() === 'unicast';
}

function parse(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CallbackUrlRefused('status_callback is not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CallbackUrlRefused('status_callback must be an http or https URL');
  if (url.username || url.password)
    throw new CallbackUrlRefused('status_callback must not carry credentials');
  return url;
}

const bareHost = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');

/** Checks a status_callback at accept: throws CallbackUrlRefused. */
export async function checkCallbackUrl(raw: string, allowPrivate: boolean): Promise<void> {
  const url = parse(raw);
  if (allowPrivate) return;
  const host = bareHost(url);
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
    } catch {
      throw new CallbackUrlRefused(`status_callback host ${host} does not resolve`);
    }
  }
  if (!addresses.length || !addresses.every(isPublicAddress))
    throw new CallbackUrlRefused('status_callback must reach a public address');
}

/** dns.lookup that refuses names resolving to any non-public address: the connection uses what it checked. */
const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0);
    if (!addresses.length || !addresses.every((a) => isPublicAddress(a.address)))
      return callback(new CallbackUrlRefused(`${hostname} does not resolve to public addresses only`), '', 0);
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
};

/**
 * POSTs a callback: no redirects, bounded by `timeoutMs`; with `allowPrivate` false, to public addresses only
 * (an IP literal is checked here, a name as it is resolved). Resolves to the HTTP status.
 */
export function postCallback(
  raw: string,
  headers: Record<string, string>,
  body: string,
  opts: { timeoutMs: number; allowPrivate: boolean },
): Promise<number> {
  const url = parse(raw);
  const host = bareHost(url);
  if (!opts.allowPrivate && isIP(host) && !isPublicAddress(host))
    return Promise.reject(new CallbackUrlRefused('status_callback must reach a public address'));
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const options: RequestOptions = {
    method: 'POST',
    headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    timeout: opts.timeoutMs,
    ...(opts.allowPrivate ? {} : { lookup: publicOnlyLookup }),
  };
  return new Promise<number>((resolve, reject) => {
    const req = request(url, options, (res) => {
      res.resume(); // the answer's body is not read: only its status counts
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    const timeout = () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`));
    const timer = setTimeout(timeout, opts.timeoutMs);
    req.on('timeout', timeout);
    req.on('close', () => clearTimeout(timer));
    req.on('error', reject);
    req.end(body);
  });
}
