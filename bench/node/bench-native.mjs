#!/usr/bin/env node
// Per-call figures of the Node package: native `approve` and `verifyAccessToken` against the same operations
// over HTTP to a `connectivly` server (issue 9). The counterpart of bench/python/bench_native.py.
//
// Measured, each call awaited and timed on its own with process.hrtime.bigint() after a warm-up:
//   approve, native     embedded Provider (SQLite file in a temp dir), approve(sid, { user, skipConsent: true });
//                       every call gets its own pending session, made before the timing starts through the
//                       provider's own GET /oauth2/authorize (Provider.handle)
//   approve, HTTP       RemoteProvider.approve against a spawned server; sessions made with HTTP GET
//                       /oauth2/authorize (the session id is the `token` of the Location header)
//   verify, seen        verifyAccessToken of one token, again and again
//   verify, new         verifyAccessToken of a token this provider has never verified (each used once); the
//                       tokens (client_credentials) are minted beforehand by a *second* Provider on the same
//                       SQLite file (embedded), so no in-process state of the verifier knows them
//   raw verify          the signature check alone for the token's algorithm, with node:crypto
//
// Benchmarks only: the exit status says whether everything *worked*, never whether a target was met.
//
//   node bench/node/bench-native.mjs [--alg RS256|ES256|EdDSA] [--quick] [--seconds S] [--iterations N]
//       [--warmup W] [--server-bin PATH] [--no-server] [--store sqlite|memory] [--package DIR] [--json FILE]

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REDIRECT = 'https://client.example.com/cb';
const SCOPES = { 'photos:read': 'See your photos' };
const ALGS = ['RS256', 'ES256', 'EdDSA'];

// ------------------------------------------------------------------------------------------------ settings

const { values: args } = parseArgs({
  options: {
    alg: { type: 'string', default: 'RS256' },
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    iterations: { type: 'string', short: 'n' },
    warmup: { type: 'string', default: '50' },
    'server-bin': { type: 'string' },
    'no-server': { type: 'boolean', default: false },
    store: { type: 'string', default: 'sqlite' },
    package: { type: 'string', default: path.join(ROOT, 'bindings-node') },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (args.help) {
  const text = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n');
  console.log(text.slice(1, text.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (!ALGS.includes(args.alg)) fail(`--alg must be one of ${ALGS.join(', ')}`);
if (!['sqlite', 'memory'].includes(args.store)) fail('--store must be sqlite or memory');

const cfg = args.quick
  ? { seconds: Number(args.seconds ?? 0.15), warmup: 3, minN: 20, maxN: 20_000, prepBudget: 0.6 }
  : { seconds: Number(args.seconds ?? 3), warmup: Number(args.warmup), minN: 200, maxN: 2_000_000 };
cfg.prepBudget ??= Math.max(4, 3 * cfg.seconds);
cfg.iterations = args.iterations ? Number(args.iterations) : null;

// Servers this script started: never left running, whatever way the script ends.
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(sig === 'SIGINT' ? 130 : 143));

function fail(msg) {
  console.error(`bench-native: ${msg}`);
  process.exit(1);
}

// ------------------------------------------------------------------------------------------------ measuring

const now = process.hrtime.bigint;

function percentile(sorted, q) {
  const k = Math.max(0, Math.min(sorted.length - 1, Math.round((q / 100) * sorted.length + 0.5) - 1));
  return sorted[k];
}

/** Warm up (which also estimates the cost per call), prepare N arguments, then time each awaited call alone. */
async function measure(name, call, prepare, { check, note = '' } = {}) {
  const warm = await prepare(cfg.warmup, null);
  let t0 = now();
  for (const a of warm) await call(a);
  const perCall = Math.max(1, Number(now() - t0) / Math.max(1, warm.length));
  let n = cfg.iterations;
  let budget = null;
  if (!n) {
    n = Math.floor(Math.min(cfg.maxN, Math.max(cfg.minN, (cfg.seconds * 1e9) / perCall)));
    budget = cfg.prepBudget;
  }
  const items = await prepare(n, budget);
  if (items.length < n) note = (note ? `${note}; ` : '') + `N capped by the ${budget} s preparation budget`;
  n = items.length;
  const samples = new Float64Array(n);
  // Each result is checked as it comes and then dropped, as a caller would: keeping thousands of result
  // objects alive until the end made V8 promote and re-scan them, and charged those collections to the
  // calls (new-token verification: mean 33.2–35.9 µs before, 32.3–32.5 µs after, p50 29 µs both).
  for (let i = 0; i < n; i++) {
    const t = now();
    const result = await call(items[i]);
    samples[i] = Number(now() - t);
    if (check) check(result);
  }
  let sum = 0;
  for (const s of samples) sum += s;
  const sorted = samples.slice().sort();
  const r = { name, n, mean_us: sum / n / 1000, p50_us: percentile(sorted, 50) / 1000, p99_us: percentile(sorted, 99) / 1000, note };
  console.error(`  ${name}: n=${n} mean=${r.mean_us.toFixed(1)} µs`);
  return r;
}

/** A `prepare` that awaits makeOne() n times, stopping early when the time budget is spent. */
function collect(makeOne) {
  return async (n, budget) => {
    const out = [];
    const deadline = budget ? performance.now() + budget * 1000 : null;
    for (let i = 0; i < n; i++) {
      out.push(await makeOne());
      if (deadline && performance.now() > deadline && out.length >= 20) break;
    }
    return out;
  };
}

const same = (value) => async (n) => new Array(n).fill(value);

// ------------------------------------------------------------------------------------------------ builds

/** Release or dev build of a Rust artifact: dev builds keep overflow checks, whose panic messages a release
 *  build (overflow-checks off) does not contain. */
function buildProfile(file) {
  try {
    const dev = fs.readFileSync(file).includes('attempt to add with overflow');
    return dev ? 'DEV build (overflow checks on): figures NOT representative' : 'release build';
  } catch {
    return 'unknown profile';
  }
}

function describe(file) {
  const st = fs.statSync(file);
  const when = new Date(st.mtimeMs).toISOString().slice(0, 16).replace('T', ' ');
  return `${file} (${(st.size / 1e6).toFixed(0)} MB, ${when}; ${buildProfile(file)})`;
}

async function serverBinary() {
  const flag = args['server-bin'];
  const candidates = [flag, process.env.CONNECTIVLY_BIN, path.join(ROOT, 'target', 'release', 'connectivly'),
    path.join(ROOT, 'target', 'debug', 'connectivly')];
  for (const c of candidates) {
    if (!c) continue;
    try {
      fs.accessSync(c, fs.constants.X_OK);
    } catch {
      if (c === flag) fail(`--server-bin ${flag}: not an executable file`);
      continue;
    }
    // Someone may be rewriting it right now (cargo build): wait until it has been still for a moment.
    const deadline = Date.now() + 120_000;
    while (Date.now() - fs.statSync(c).mtimeMs < 2000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
    return path.resolve(c);
  }
  fail('no server binary: pass --server-bin, set CONNECTIVLY_BIN or build target/{release,debug}/connectivly');
}

// ------------------------------------------------------------------------------------------------ tokens

const b64d = (s) => Buffer.from(s, 'base64url');

/** The bare signature check of `token` with node:crypto (key parsed once). */
function rawVerifier(token, jwks) {
  const [h64, p64, s64] = token.split('.');
  const header = JSON.parse(b64d(h64));
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h64}.${p64}`);
  const sig = b64d(s64);
  const alg = header.alg;
  let verify;
  if (alg === 'RS256') verify = () => crypto.verify('sha256', data, key, sig);
  else if (alg === 'ES256') verify = () => crypto.verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  else if (alg === 'EdDSA') verify = () => crypto.verify(null, data, key, sig);
  else fail(`unexpected token alg ${alg}`);
  if (!verify()) fail(`raw ${alg} verify rejected a token the provider issued`);
  return { alg, verify };
}

const authorizeQuery = (clientId, i) =>
  new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: REDIRECT,
    scope: 'openid profile email',
    state: `s${i}`,
    nonce: `n${i}`,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', // PKCE is required by default; the benches never redeem these codes
    code_challenge_method: 'S256',
  }).toString();

const sessionOf = (location) => new URL(location).searchParams.get('token');

function checkCode(r) {
  if (typeof r !== 'string' || !r.startsWith(REDIRECT) || !r.includes('code=')) fail(`approve did not return a redirect with a code: ${r}`);
}

const checkSub = (sub) => (r) => {
  if (r.sub !== sub) fail(`verifyAccessToken returned a wrong subject: ${r.sub}`);
};

const header = (headers, name) => headers.find(([k]) => k.toLowerCase() === name)?.[1];

// ------------------------------------------------------------------------------------------------ embedded

async function benchNative(pkg, alg, tmp, store) {
  const { Provider } = pkg;
  const database = store === 'sqlite' ? `sqlite://${tmp}/embedded.db` : 'memory:';
  const options = { issuer: 'https://id.example.com', loginUrl: 'https://app.example.com/connectivly', database, scopes: SCOPES, signingAlg: alg };
  const p = await Provider.open(options);
  // A second instance on the same file mints the "new" tokens: nothing in `p`'s memory has seen them. A memory
  // store cannot be shared: there the provider mints its own.
  const minter = store === 'sqlite' ? await Provider.open(options) : p;
  const label = store === 'sqlite' ? 'SQLite' : 'memory store';
  const web = await p.createClient({ name: 'Bench web', redirectUris: [REDIRECT], firstParty: true });
  const svc = await p.createClient({ name: 'Bench service', redirectUris: [REDIRECT], allowedScopes: ['photos:read'] });
  const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'photos:read', client_id: svc.clientId, client_secret: svc.clientSecret }).toString();
  let counter = 0;

  const newSession = async () => {
    const r = await p.handle({ method: 'GET', path: '/oauth2/authorize', query: authorizeQuery(web.clientId, counter++) });
    if (r.status !== 302 && r.status !== 303) fail(`authorize: ${r.status} ${r.body.toString().slice(0, 300)}`);
    return sessionOf(header(r.headers, 'location'));
  };
  const newToken = async () => {
    const r = await minter.handle({ method: 'POST', path: '/oauth2/token', headers: [['content-type', 'application/x-www-form-urlencoded']], body: form });
    if (r.status !== 200) fail(`client_credentials: ${r.status} ${r.body.toString().slice(0, 300)}`);
    return JSON.parse(r.body).access_token;
  };

  const out = [];
  out.push(await measure(`approve, native (embedded Provider, ${label})`, (sid) => p.approve(sid, { user: 'ann', skipConsent: true }), collect(newSession), { check: checkCode }));
  const seen = await newToken();
  await p.verifyAccessToken(seen);
  out.push(await measure('verifyAccessToken, native, seen token', (t) => p.verifyAccessToken(t), same(seen), { check: checkSub(svc.clientId) }));
  out.push(await measure('verifyAccessToken, native, new token', (t) => p.verifyAccessToken(t), collect(newToken), { check: checkSub(svc.clientId), note: minter === p ? 'minted by the same Provider' : 'minted by a 2nd Provider on the same file' }));
  const jwks = JSON.parse((await p.handle({ method: 'GET', path: '/.well-known/jwks.json' })).body);
  const raw = rawVerifier(seen, jwks);
  out.push(await measure(`raw ${raw.alg} signature verify (node:crypto)`, raw.verify, same(null)));
  if (minter !== p) await minter.close();
  await p.close();
  return { results: out, realAlg: raw.alg };
}

// ------------------------------------------------------------------------------------------------ server

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One `connectivly` process on a free loopback port with a temp SQLite file. */
async function startServer(binary, tmp, alg) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CONNECTIVLY_')));
  Object.assign(env, {
    CONNECTIVLY_REDIRECT_URL: 'http://127.0.0.1:9/connectivly',
    CONNECTIVLY_PORT: String(port),
    CONNECTIVLY_BIND: '127.0.0.1',
    CONNECTIVLY_ISSUER: url,
    CONNECTIVLY_DATABASE_URL: `sqlite://${tmp}/server.db`,
    CONNECTIVLY_SCOPES: Object.entries(SCOPES).map(([k, v]) => `${k}=${v}`).join(';'),
    CONNECTIVLY_SIGNING_ALG: alg,
    CONNECTIVLY_LOG: 'warn',
  });
  const proc = spawn(binary, [], { env, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const stop = () =>
    new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  const banner = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${out}${stderr}`)), 60_000);
    const onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}):\n${out}${stderr}`));
    };
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Secrets are shown once')) {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve(out);
      }
    });
    proc.once('exit', onExit);
    proc.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  }).catch(async (e) => {
    await stop();
    fail(`server ${binary}: ${e.message}`);
  });
  proc.stdout.resume();
  const m = /^API Key: (\S+)$/m.exec(banner);
  if (!m) fail(`no API key in the banner:\n${banner}`);
  return { url, apiKey: m[1], stop };
}

async function benchRemote(pkg, server) {
  const remote = await pkg.RemoteProvider.connect(server.url, { apiKey: server.apiKey });
  const web = await remote.createClient({ name: 'Bench web', redirectUris: [REDIRECT], firstParty: true });
  const svc = await remote.createClient({ name: 'Bench service', redirectUris: [REDIRECT], allowedScopes: ['photos:read'] });
  const form = new URLSearchParams({ grant_type: 'client_credentials', scope: 'photos:read', client_id: svc.clientId, client_secret: svc.clientSecret }).toString();
  let counter = 0;

  const newSession = async () => {
    const r = await fetch(`${server.url}/oauth2/authorize?${authorizeQuery(web.clientId, counter++)}`, { redirect: 'manual' });
    await r.arrayBuffer();
    if (r.status !== 302 && r.status !== 303) fail(`authorize over HTTP: ${r.status}`);
    return sessionOf(r.headers.get('location'));
  };
  const newToken = async () => {
    const r = await fetch(`${server.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    const body = await r.text();
    if (r.status !== 200) fail(`client_credentials over HTTP: ${r.status} ${body.slice(0, 300)}`);
    return JSON.parse(body).access_token;
  };

  const out = [];
  out.push(await measure('approve, HTTP (RemoteProvider -> server)', (sid) => remote.approve(sid, { user: 'ann', skipConsent: true }), collect(newSession), { check: checkCode }));
  const seen = await newToken();
  await remote.verifyAccessToken(seen);
  out.push(await measure('verifyAccessToken, HTTP, seen token', (t) => remote.verifyAccessToken(t), same(seen), { check: checkSub(svc.clientId) }));
  out.push(await measure('verifyAccessToken, HTTP, new token', (t) => remote.verifyAccessToken(t), collect(newToken), { check: checkSub(svc.clientId), note: 'minted and verified by the same server' }));
  await remote.close();
  return out;
}

// ------------------------------------------------------------------------------------------------ report

function table(results) {
  const w = Math.max(...results.map((r) => r.name.length));
  const num = (x, d = 1) => x.toFixed(d).padStart(10);
  const lines = [`${'operation'.padEnd(w)}  ${'n'.padStart(9)}  ${'mean µs'.padStart(10)}  ${'p50 µs'.padStart(10)}  ${'p99 µs'.padStart(10)}  note`, '-'.repeat(w + 50)];
  for (const r of results) lines.push(`${r.name.padEnd(w)}  ${String(r.n).padStart(9)}  ${num(r.mean_us)}  ${num(r.p50_us)}  ${num(r.p99_us)}  ${r.note}`);
  return lines.join('\n');
}

const verdict = (ok) => (ok ? 'met' : 'NOT met');

async function main() {
  const started = performance.now();
  const loadAtStart = os.loadavg()[0];
  const require = createRequire(import.meta.url);
  const pkgDir = path.resolve(args.package);
  const pkg = require(pkgDir);
  const addon = fs.readdirSync(pkgDir).filter((f) => /^connectivly\..*\.node$/.test(f)).map((f) => path.join(pkgDir, f))[0];
  const binary = args['no-server'] ? null : await serverBinary();

  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`connectivly Node bench: ${args.alg}${args.quick ? ' (--quick)' : ''}`);
  console.log(`  node       ${process.version} on ${cpu}, ${os.cpus().length} CPUs, load average ${loadAtStart.toFixed(2)}`);
  console.log(`  package    connectivly ${pkg.version}: ${addon ? describe(addon) : `${pkgDir} (addon not found)`}`);
  if (binary) console.log(`  server     ${describe(binary)}`);

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'connectivly-bench-'));
  let server;
  let results;
  let realAlg;
  try {
    ({ results, realAlg } = await benchNative(pkg, args.alg, tmp, args.store));
    if (binary) {
      server = await startServer(binary, tmp, args.alg);
      results.push(...(await benchRemote(pkg, server)));
    }
  } finally {
    if (server) await server.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }

  const by = Object.fromEntries(results.map((r) => [r.name.split(' (')[0], r]));
  const seen = by['verifyAccessToken, native, seen token'];
  const fresh = by['verifyAccessToken, native, new token'];
  const raw = results.find((r) => r.name.startsWith('raw '));
  const ratios = { verify_new_over_raw: fresh.mean_us / raw.mean_us, verify_new_over_raw_p50: fresh.p50_us / raw.p50_us };
  const f = (x, d = 1) => x.toFixed(d);
  console.log(`\n${table(results)}\n`);
  console.log(`native verify, seen token:            ${f(seen.mean_us).padStart(8)} µs  (p50 ${f(seen.p50_us)} µs; target ≤ 10 µs: ${verdict(seen.mean_us <= 10)})`);
  console.log(`native verify new / raw ${realAlg.padEnd(5)} verify:  ${f(ratios.verify_new_over_raw, 2).padStart(8)}×   (means ${f(fresh.mean_us)} / ${f(raw.mean_us)} µs; by p50 ${f(ratios.verify_new_over_raw_p50, 2)}×; target ≤ 1.2×: ${verdict(ratios.verify_new_over_raw <= 1.2)})`);
  if (binary) {
    const httpAp = by['approve, HTTP'];
    const natAp = by['approve, native'];
    const httpSeen = by['verifyAccessToken, HTTP, seen token'];
    ratios.approve_http_over_native = httpAp.mean_us / natAp.mean_us;
    ratios.approve_http_over_native_p50 = httpAp.p50_us / natAp.p50_us;
    ratios.verify_seen_http_over_native = httpSeen.mean_us / seen.mean_us;
    console.log(`approve HTTP / native:                ${f(ratios.approve_http_over_native, 2).padStart(8)}×   (means ${f(httpAp.mean_us)} / ${f(natAp.mean_us)} µs; by p50 ${f(ratios.approve_http_over_native_p50, 2)}×; target ≥ 10×: ${verdict(ratios.approve_http_over_native >= 10)})`);
    console.log(`verify (seen) HTTP / native:          ${f(ratios.verify_seen_http_over_native, 2).padStart(8)}×   (means ${f(httpSeen.mean_us)} / ${f(seen.mean_us)} µs)`);
  }
  console.log('raw verify is OpenSSL through node:crypto (synchronous); native calls are awaited Promises (a libuv/tokio hop each).');
  if (loadAtStart > 0.5 * os.cpus().length) {
    console.log(`NOTE: load average ${loadAtStart.toFixed(2)} on ${os.cpus().length} CPUs before the run: other work competed for the CPU; rerun on an idle machine.`);
  }
  if ((addon && buildProfile(addon).startsWith('DEV')) || (binary && buildProfile(binary).startsWith('DEV'))) {
    console.log('WARNING: a dev build was measured (see above); its figures are not representative.');
  }
  const elapsed = (performance.now() - started) / 1000;
  console.log(`total ${elapsed.toFixed(1)} s`);
  if (args.json) {
    fs.writeFileSync(args.json, JSON.stringify({
      package: 'node', alg: args.alg, quick: args.quick, addon, addon_build: addon ? buildProfile(addon) : null,
      server: binary, server_build: binary ? buildProfile(binary) : null, results, ratios, seconds: elapsed,
    }, null, 2));
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
