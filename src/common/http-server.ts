/** The HTTP limits every listening server of cedargate applies, from one place in the config. */
import type { ServerOptions } from 'node:http';
import type { Config } from '../config.js';

export function serverLimitsOf(
  config: Pick<
    Config,
    'maxHeaderBytes' | 'headersTimeoutMs' | 'requestTimeoutMs' | 'keepAliveTimeoutMs'
  >,
): ServerOptions {
  return {
    maxHeaderSize: config.maxHeaderBytes,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    // node checks the headers and request timeouts only this often (30 s by default), which
    // would let a slow client hold a connection far past HEADERS_TIMEOUT_MS.
    connectionsCheckingInterval: Math.min(1000, config.headersTimeoutMs),
  };
}
