/**
 * The admin port (express): liveness, readiness, Prometheus metrics and status. Kept apart from
 * the data port so probes and scrapes never compete with, or leak into, the proxied API.
 */
import express, { type Express, type Router } from 'express';
import { NotFoundError, UnavailableError, sendError } from '../../errors.js';
import type { SidecarMetrics } from '../metrics.js';

export interface AdminDeps {
  metrics: SidecarMetrics;
  readiness(): Promise<{ ready: boolean; checks: Record<string, string> }>;
  status(): unknown;
  /** `/playground` (PLAYGROUND=true): playground-app.ts. */
  playground?: Router;
}

export function createAdminApp(deps: AdminDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const { ready, checks } = await deps.readiness();
    if (ready) {
      res.json({ status: 'ready', checks });
      return;
    }
    sendError(res, new UnavailableError('not ready', { details: { checks } }));
  });

  app.get('/metrics', async (_req, res) => {
    res.set('content-type', deps.metrics.registry.contentType);
    res.send(await deps.metrics.registry.metrics());
  });

  app.get('/status', (_req, res) => {
    res.set('cache-control', 'no-store');
    res.json(deps.status());
  });

  if (deps.playground !== undefined) app.use('/playground', deps.playground);

  app.use((_req, res) => sendError(res, new NotFoundError('no such admin endpoint')));
  return app;
}
