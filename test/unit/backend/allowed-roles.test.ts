import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { watchAllowedRoles } from '../../../src/backend/allowed-roles.js';
import { readAllowedRoles, SCHEMA_FILE } from '../../../src/policy/schema.js';
import { waitFor } from '../../helpers/net.js';
import { shippedPolicies, tempDir } from '../../helpers/process.js';

const logger = pino({ level: 'silent' });

/** A schema the sidecar could use: the Role enum beside User and Tenant (policy/schema.ts). */
const schemaWith = (roles: string[]) =>
  `namespace N { entity Role enum [${roles.map((r) => `"${r}"`).join(', ')}]; entity Tenant; entity User in [Tenant]; }\n`;

describe('watchAllowedRoles', () => {
  it('reads the Role enum of the schema at start', () => {
    const roles = watchAllowedRoles(shippedPolicies, { pollMs: 1000, logger });
    try {
      assert.ok(roles.current().includes('admin'));
    } finally {
      roles.close();
    }
  });

  it('refuses to start on a broken schema', () => {
    const dir = tempDir('cedargate-roles-');
    try {
      writeFileSync(join(dir.path, SCHEMA_FILE), 'this is not cedar');
      assert.throws(() => watchAllowedRoles(dir.path, { pollMs: 1000, logger }), /schema/);
    } finally {
      dir.remove();
    }
  });

  it('names the roles a schema change retires in its log line', async () => {
    const dir = tempDir('cedargate-roles-');
    const schema = join(dir.path, SCHEMA_FILE);
    copyFileSync(join(shippedPolicies, SCHEMA_FILE), schema);
    const lines: Record<string, unknown>[] = [];
    const recording = pino(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    const roles = watchAllowedRoles(dir.path, { pollMs: 20, logger: recording });
    try {
      writeFileSync(schema, schemaWith(['admin', 'user']));
      await waitFor(() => !roles.current().includes('viewer'), 5000, 'the new roles');
      const line = lines.find((l) => String(l['msg']).startsWith('allowed roles reloaded'));
      assert.deepEqual(line?.['retiredRoles'], ['viewer']);
      assert.match(String(line?.['msg']), /no longer allowed: viewer/);
    } finally {
      roles.close();
      dir.remove();
    }
  });

  it('follows a schema change, and keeps the last good roles when a change breaks it', async () => {
    const dir = tempDir('cedargate-roles-');
    const schema = join(dir.path, SCHEMA_FILE);
    copyFileSync(join(shippedPolicies, SCHEMA_FILE), schema);
    let reads = 0;
    const read = (d: string): string[] => {
      reads++;
      return readAllowedRoles(d);
    };
    const roles = watchAllowedRoles(dir.path, { pollMs: 20, logger, read });
    try {
      writeFileSync(schema, schemaWith(['admin', 'auditor']));
      await waitFor(() => roles.current().includes('auditor'), 5000, 'the new roles');
      assert.deepEqual(roles.current(), ['admin', 'auditor']);
      const before = reads;
      writeFileSync(schema, 'namespace N { entity Role enum [ }\n');
      await waitFor(() => reads > before, 5000, 'the broken schema to be read');
      assert.deepEqual(roles.current(), ['admin', 'auditor'], 'the last good roles stay');
      writeFileSync(schema, schemaWith(['admin', 'auditor', 'x']));
      await waitFor(() => roles.current().includes('x'), 5000, 'the fixed roles');
    } finally {
      roles.close();
      dir.remove();
    }
  });
});
