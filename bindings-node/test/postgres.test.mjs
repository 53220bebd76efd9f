// The embedded Provider on PostgreSQL: there a read waits for the database, so the native side cannot
// answer on the JavaScript thread and the operation continues on the runtime (the path an embedded
// SQLite read never takes). Skipped unless CONNECTIVLY_TEST_POSTGRES_URL names a server; once it does, a
// missing psql fails the tests (it creates their databases) instead of skipping them.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

import { InvalidToken, Provider } from 'connectivly';

import { query, redeemCode } from './helpers.mjs';

const ADMIN_URL = (process.env.CONNECTIVLY_TEST_POSTGRES_URL ?? '').trim();
const HAVE_PSQL = spawnSync('psql', ['--version']).status === 0;
const skip = !ADMIN_URL ? 'CONNECTIVLY_TEST_POSTGRES_URL is not set' : false;
const REDIRECT = 'https://client.example.com/cb';

test('psql is installed when a PostgreSQL URL is set', { skip }, () => {
  assert.ok(HAVE_PSQL, 'CONNECTIVLY_TEST_POSTGRES_URL is set but psql is not installed (apt-get install postgresql-client)');
});

/** Runs `sql` on the admin database; returns what it printed (unaligned, tuples only). */
function psql(sql) {
  assert.ok(HAVE_PSQL, 'psql is not installed (apt-get install postgresql-client)');
  const r = spawnSync('psql', [ADMIN_URL, '-v', 'ON_ERROR_STOP=1', '-tAqc', sql], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** An embedded provider on a database of its own, both dropped when the test ends. */
async function openOnFreshDatabase(t, options = {}, searchParams = {}) {
  const name = `connectivly_node_${randomBytes(8).toString('hex')}`;
  psql(`CREATE DATABASE ${name}`);
  t.after(() => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  for (const [k, v] of Object.entries(searchParams)) url.searchParams.set(k, v);
  const provider = await Provider.open({
    issuer: 'https://id.example.com',
    loginUrl: 'https://app.example.com/connectivly',
    database: url.toString(),
    ...options,
  });
  t.after(() => provider.close());
  return { provider, name };
}

test('verifyAccessToken on PostgreSQL: new, seen, revoked and malformed tokens', { skip }, async (t) => {
  const { provider } = await openOnFreshDatabase(t);

  const created = await provider.createClient({ name: 'Photo Printer', redirectUris: [REDIRECT] });
  const tokens = async () => {
    const q = new URLSearchParams({
      response_type: 'code', client_id: created.clientId, redirect_uri: REDIRECT, scope: 'openid', state: 's',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    const r = await provider.handle({ method: 'GET', path: '/oauth2/authorize', query: q.toString() });
    const sid = query(r.headers.find(([k]) => k === 'location')[1]).token;
    const target = await provider.approve(sid, { user: 'ann', skipConsent: true });
    const resp = await redeemCode(provider, created, query(target).code, REDIRECT);
    assert.equal(resp.status, 200, resp.body.toString());
    return JSON.parse(resp.body.toString());
  };

  const { access_token: at } = await tokens();
  const pending = provider.verifyAccessToken(at);
  assert.ok(pending instanceof Promise);
  assert.equal((await pending).sub, 'ann', 'a new token, checked against the database');
  assert.equal((await provider.verifyAccessToken(at)).sub, 'ann', 'the same token, seen');
  assert.equal((await provider.introspect(at)).active, true);
  assert.equal((await provider.authSession('cly_ses_nope').catch((e) => e)).code, 'not_found');

  await assert.rejects(provider.verifyAccessToken('not.a.token'), InvalidToken);
  const { access_token: doomed } = await tokens();
  await provider.revokeUser('ann');
  await assert.rejects(provider.verifyAccessToken(doomed), (e) => e instanceof InvalidToken && e.code === 'invalid_token');
  await assert.rejects(provider.verifyAccessToken(at), InvalidToken, 'a seen token, revoked in this process');
});

test('databaseMaxConnections bounds the connections an embedded provider holds', { skip }, async (t) => {
  const { provider, name } = await openOnFreshDatabase(t, { databaseMaxConnections: 2, databaseAcquireTimeout: 30 });

  // 48 operations in flight at once: without the bound the pool would grow to its default of 10.
  const created = await Promise.all(
    Array.from({ length: 48 }, (_, i) => provider.createClient({ name: `App ${i}`, redirectUris: [REDIRECT] })),
  );
  assert.equal(new Set(created.map((c) => c.clientId)).size, 48);
  assert.equal((await provider.listClients()).length, 48);
  const held = Number(psql(`SELECT count(*) FROM pg_stat_activity WHERE datname = '${name}' AND application_name = 'connectivly'`));
  assert.ok(held >= 1 && held <= 2, `connections held: ${held}`);
});

/** Whether each connection the provider's pool holds to `name` is encrypted, as the server sees it. */
function providerConnectionsTls(name) {
  const out = psql(
    'SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s ON s.pid = a.pid ' +
      `WHERE a.datname = '${name}' AND a.application_name = 'connectivly'`,
  );
  return out.split(/\s+/).filter(Boolean).map((v) => v === 't');
}

test("sslmode=require: the provider's own pool connections use TLS", { skip }, async (t) => {
  assert.equal(psql('SHOW ssl'), 'on', 'the test server must offer TLS (tests/pg-cluster always enables it)');
  const { provider, name } = await openOnFreshDatabase(t, { databaseMaxConnections: 4 }, { sslmode: 'require' });
  await Promise.all(
    Array.from({ length: 16 }, (_, i) => provider.createClient({ name: `TLS App ${i}`, redirectUris: [REDIRECT] })),
  );
  const seen = providerConnectionsTls(name);
  assert.ok(seen.length >= 1, 'the provider holds no connection to its database');
  assert.ok(seen.every(Boolean), `a connection of the provider's pool is not encrypted: ${seen}`);

  // The same check tells a plain pool apart (it could not pass for a reason other than TLS).
  const plain = await openOnFreshDatabase(t, {}, { sslmode: 'disable' });
  await plain.provider.createClient({ name: 'Plain App', redirectUris: [REDIRECT] });
  const plainSeen = providerConnectionsTls(plain.name);
  assert.ok(plainSeen.length >= 1 && !plainSeen.some(Boolean), `sslmode=disable must look plain: ${plainSeen}`);
});
