/** Binding a listening server, with the failure told in terms of the configuration. */
import type { Server } from 'node:http';
import { ConfigError } from '../config.js';

/** Where to listen, and the variables that chose it (named when binding fails). */
export interface ListenAddress {
  port: number;
  host: string;
  portVariable: string;
  hostVariable: string;
}

/**
 * Listens on `address`. A port already taken, or an address this host does not have, is a
 * misconfiguration: it rejects with a ConfigError naming the variable, which the CLI prints as
 * one line (no stack trace) before exiting non-zero.
 */
export function listen(server: Server, address: ListenAddress): Promise<void> {
  const { port, host, portVariable, hostVariable } = address;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => reject(asConfigError(err));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });

  function asConfigError(err: NodeJS.ErrnoException): Error {
    const other = String(port >= 65535 ? port - 1 : port + 1);
    switch (err.code) {
      case 'EADDRINUSE':
        return new ConfigError(portVariable, `port ${port} is already in use on ${host}`, other);
      case 'EACCES':
        return new ConfigError(portVariable, `port ${port} may not be bound by this user`, other);
      case 'EADDRNOTAVAIL':
      case 'ENOTFOUND':
      case 'EAI_AGAIN':
        return new ConfigError(
          hostVariable,
          `"${host}" is not an address of this host`,
          '127.0.0.1',
        );
      default:
        return err;
    }
  }
}
