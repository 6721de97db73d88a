/**
 * The playground on the admin port (PLAYGROUND=true): one static page and the JSON questions
 * behind it (playground.ts): live, decide, validate, diff and check. Bodies are bounded and parsed by the API's own JSON reader, so a
 * bad one gets the contract's error; a form post from another site (not `application/json`) is
 * 415. Nothing here writes: the page can read the live set, never change it. A Host that is
 * neither a loopback name nor an IP address is 403: a page on another site whose name was made
 * to resolve to this machine (DNS rebinding) would otherwise read the live policies.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { parseJsonObject } from '../../common/json.js';
import {
  ForbiddenError,
  InvalidInputError,
  NotFoundError,
  PayloadTooLargeError,
  sendError,
  toCedargateError,
} from '../../errors.js';
import { DEFAULT_MAX_REQUESTS } from '../../policy/authoring/enumeration-plan.js';
import type { Playground } from './playground.js';
import {
  parseCheckQuestion,
  parsePlaygroundRequest,
  parsePlaygroundSources,
} from './playground-input.js';

/** The largest body a playground question may have: a policy set's texts fit well within. */
export const PLAYGROUND_BODY_LIMIT = 512 * 1024;
/**
 * The default and the most requests a diff asked from the page expands its representatives to:
 * the default is `policy diff`'s own, so the page counts the requests the CLI counts.
 */
export const DIFF_DEFAULT_REQUESTS = DEFAULT_MAX_REQUESTS;
export const DIFF_MAX_REQUESTS = 2_000_000;

const STATIC = new URL('../../../../static/playground/', import.meta.url);
const ASSETS: Record<string, { type: string; file: string }> = {
  '/': { type: 'text/html; charset=utf-8', file: 'index.html' },
  '/playground.js': { type: 'text/javascript; charset=utf-8', file: 'playground.js' },
  '/playground.css': { type: 'text/css; charset=utf-8', file: 'playground.css' },
};

/** The router mounted at `/playground`: the Host guard, the page, the questions, the errors. */
export function createPlaygroundRouter(playground: Playground): Router {
  const router = express.Router({ strict: true });
  router.use(guardHost);
  serveAssets(router);
  serveQuestions(router, playground);
  router.use((_req, res) => sendError(res, new NotFoundError('no such playground endpoint')));
  router.use(answerError);
  return router;
}

/** A Host that does not name this machine directly is 403 (DNS rebinding). */
function guardHost(req: Request, _res: Response, next: NextFunction): void {
  const host = req.headers.host ?? '';
  if (!isDirectHost(host)) {
    throw new ForbiddenError(
      'the playground answers only on localhost or an IP address (a guard against DNS rebinding)',
      { details: { host } },
    );
  }
  next();
}

/** The static page, read once, served with a CSP that allows only its own files. */
function serveAssets(router: Router): void {
  for (const [path, asset] of Object.entries(ASSETS)) {
    const body = readFileSync(new URL(asset.file, STATIC));
    router.get(path, (_req, res) => {
      res.set({
        'content-type': asset.type,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'self'; frame-ancestors 'none'",
      });
      res.send(body);
    });
  }
}

const json = express.raw({ type: () => true, limit: PLAYGROUND_BODY_LIMIT });
const bodyOf = (req: Request): Record<string, unknown> =>
  parseJsonObject(
    Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
    req.headers['content-type'],
  );

/** The JSON questions: live, decide, validate, diff, check. */
function serveQuestions(router: Router, playground: Playground): void {
  router.get('/api/live', async (req, res) => {
    // Where this page is served, so the page can say so (and warn when it is not loopback).
    const listening = listeningOf(req.socket.localAddress, req.socket.localPort);
    res.set('cache-control', 'no-store').json({ ...(await playground.live()), listening });
  });
  router.post('/api/decide', json, async (req, res) => {
    const body = bodyOf(req);
    const sources = parsePlaygroundSources(body['policies']);
    const request = parsePlaygroundRequest(body['request']);
    res.json(await playground.decide(sources, request));
  });
  router.post('/api/validate', json, async (req, res) => {
    res.json(await playground.validate(parsePlaygroundSources(bodyOf(req)['policies'])));
  });
  router.post('/api/diff', json, async (req, res) => {
    const body = bodyOf(req);
    const sources = parsePlaygroundSources(body['policies']);
    res.json(await playground.diff(sources, maxRequestsOf(body['max_requests'])));
  });
  router.post('/api/check', json, async (req, res) => {
    const body = bodyOf(req);
    const sources = parsePlaygroundSources(body['policies']);
    res.json(await playground.check(sources, parseCheckQuestion(body)));
  });
}

function answerError(err: unknown, _req: Request, res: Response, _next: NextFunction): void {
  const tooLarge = (err as { type?: unknown }).type === 'entity.too.large';
  sendError(
    res,
    tooLarge
      ? new PayloadTooLargeError(`a playground body holds at most ${PLAYGROUND_BODY_LIMIT} bytes`)
      : toCedargateError(err),
  );
}

function maxRequestsOf(value: unknown): number {
  if (value === undefined) return DIFF_DEFAULT_REQUESTS;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > DIFF_MAX_REQUESTS) {
    throw new InvalidInputError(`max_requests must be an integer from 1 to ${DIFF_MAX_REQUESTS}`, {
      details: { field: 'max_requests' },
    });
  }
  return value as number;
}

/**
 * Whether a Host names this machine directly: a loopback name or an IP literal. A rebinding
 * attack needs a DNS name of the attacker's; a browser sends that name as the Host.
 */
export function isDirectHost(host: string): boolean {
  const name = (host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.split(':')[0])
    ?.toLowerCase()
    .replace(/\.$/, '');
  if (name === undefined || name === '') return false;
  return name === 'localhost' || name.endsWith('.localhost') || isIP(name) !== 0;
}

/** The admin port's own address as a request reached it: what the page shows as "served on". */
export function listeningOf(
  address: string | undefined,
  port: number | undefined,
): { address: string; port: number; loopback: boolean } {
  const a = (address ?? '').replace(/^::ffff:/, '');
  const loopback = a === '::1' || a.startsWith('127.');
  return { address: a, port: port ?? 0, loopback };
}
