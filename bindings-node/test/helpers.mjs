// Test fixtures: temp folders, free ports, the Express host example on a real port, a small browser with a
// cookie jar, the standalone server binary, and an OpenID Connect relying party (openid-client).

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import * as oidc from 'openid-client';

export const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = path.resolve(PACKAGE_DIR, '..');
export const EXAMPLE_DIR = path.join(ROOT, 'examples', 'express-host');
/** The client's redirect URI: the "browser" stops there; nothing listens. */
export const CALLBACK = 'http://localhost:8000/callback';

const require = createRequire(import.meta.url);

/** The Express host example (examples/express-host/app.js), loaded with its own dependencies. */
export function hostExample() {
  const file = path.join(EXAMPLE_DIR, 'app.js');
  if (!fs.existsSync(path.join(EXAMPLE_DIR, 'node_modules', 'express'))) {
    throw new Error(`the example's dependencies are missing: run \`npm ci\` in ${EXAMPLE_DIR}`);
  }
  return require(file);
}

/** A temp folder, removed after the test. */
export function tempDir(t, prefix = 'connectivly-') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Serves an Express app on 127.0.0.1:port until the test ends. */
export function serve(t, app, port) {
  return new Promise((resolve, reject) => {
    const server = app.listen(port, '127.0.0.1');
    server.once('error', reject);
    server.once('listening', () => {
      t.after(
        () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      );
      resolve(`http://127.0.0.1:${port}`);
    });
  });
}

export function query(url) {
  return Object.fromEntries(new URL(url).searchParams);
}

/** A browser: follows nothing by itself, keeps cookies (host + path), posts forms. */
export class Browser {
  cookies = new Map();

  cookieHeader(url) {
    const u = new URL(url);
    return [...this.cookies.values()]
      .filter((c) => c.host === u.hostname && (u.pathname === c.path || u.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  store(url, res) {
    const u = new URL(url);
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let cookiePath = u.pathname.replace(/\/[^/]*$/, '') || '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') cookiePath = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
        if (k.toLowerCase() === 'expires' && Date.parse(v) < Date.now()) expired = true;
      }
      const key = `${u.hostname}|${cookiePath}|${name}`;
      if (expired) this.cookies.delete(key);
      else this.cookies.set(key, { host: u.hostname, path: cookiePath, name, value });
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = {};
    const cookie = this.cookieHeader(url);
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(url, { method, headers, body, redirect: 'manual' });
    this.store(url, res);
    const text = await res.text();
    const location = res.headers.get('location');
    return { status: res.status, location: location ? new URL(location, url).href : null, text, headers: res.headers };
  }
}

/**
 * Plays the user's browser: authorize → the host's login form → the consent page → back at the client.
 * Returns the final redirect to the client (with `code` or `error`).
 */
export async function signInThrough(authorizationUrl, { username = 'ann', password = 'wonderland', decision = 'allow' } = {}) {
  const browser = new Browser();
  let r = await browser.request(authorizationUrl);
  assert.equal(r.status, 302, r.text);
  let url = r.location;
  for (let i = 0; i < 12; i++) {
    if (url.startsWith(CALLBACK)) return url;
    r = await browser.request(url);
    if (r.status === 200 && r.text.includes('name="password"')) {
      const next = /name="next" value="([^"]*)"/.exec(r.text);
      const form = { username, password, next: next ? next[1].replaceAll('&amp;', '&') : '/' };
      r = await browser.request(url, { method: 'POST', form });
      assert.ok([302, 303].includes(r.status), `login: ${r.status} ${r.text.slice(0, 300)}`);
    } else if (r.status === 200 && r.text.includes('name="csrf"')) {
      // As a browser does: every hidden field of the form (the consent ticket, the CSRF token) goes back.
      const hidden = Object.fromEntries(
        [...r.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]),
      );
      const action = /<form method="post" action="([^"]*)"/.exec(r.text);
      assert.ok(hidden.csrf && hidden.ticket && action, r.text);
      const target = new URL(action[1].replaceAll('&amp;', '&'), url).href;
      r = await browser.request(target, { method: 'POST', form: { ...hidden, decision } });
      assert.equal(r.status, 302, r.text);
    } else {
      assert.ok([301, 302, 303].includes(r.status), `${url}: ${r.status} ${r.text.slice(0, 500)}`);
    }
    url = r.location;
  }
  throw new Error('too many redirects');
}

/**
 * What a third-party app does with openid-client: discovery only, authorization code + PKCE, the ID token
 * verified (signature against the JWKS, issuer, audience, expiry, nonce), then userinfo.
 */
export async function signIn(issuer, clientId, clientSecret, scope, browserOptions) {
  const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
  oidc.enableNonRepudiationChecks(config); // verify the ID token's signature, not only its claims
  assert.equal(config.serverMetadata().issuer, issuer);
  const verifier = oidc.randomPKCECodeVerifier();
  const nonce = oidc.randomNonce();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: CALLBACK,
    scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    nonce,
    state,
  });
  const final = await signInThrough(url.href, browserOptions);
  const tokens = await oidc.authorizationCodeGrant(config, new URL(final), {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  assert.ok(claims, 'an ID token');
  const userinfo = await oidc.fetchUserInfo(config, tokens.access_token, claims.sub);
  return { config, tokens, claims, userinfo };
}

/** The standalone server binary (`connectivly`), built when missing. */
export function serverBinary() {
  const bin = process.env.CONNECTIVLY_BIN || path.join(ROOT, 'target', 'debug', 'connectivly');
  if (!fs.existsSync(bin)) {
    const r = spawnSync('cargo', ['build', '--locked', '-p', 'connectivly-server'], { cwd: ROOT, stdio: 'inherit' });
    assert.equal(r.status, 0, 'cargo build -p connectivly-server');
  }
  return bin;
}

/** Starts the server on a free port; resolves to `{ url, apiKey }` once its first-run banner is printed. */
export async function startServer(t, dir, loginUrl) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(serverBinary(), [], {
    env: {
      ...process.env,
      CONNECTIVLY_REDIRECT_URL: loginUrl,
      CONNECTIVLY_PORT: String(port),
      CONNECTIVLY_BIND: '127.0.0.1',
      CONNECTIVLY_ISSUER: url,
      CONNECTIVLY_DATABASE_URL: `sqlite://${dir}/server.db`,
      CONNECTIVLY_SCOPES: 'photos:read=See your photos',
      CONNECTIVLY_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(
    () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  );
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const banner = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start in 30 s: ${out}${stderr}`)), 30_000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Secrets are shown once')) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${out}${stderr}`));
    });
  });
  proc.stdout.resume();
  const m = /^API Key: (\S+)$/m.exec(banner);
  assert.ok(m, banner);
  return { url, apiKey: m[1], proc };
}

/** The PKCE verifier of RFC 7636 Appendix B; the tests' authorize requests send its challenge. */
export const PKCE_VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';

/** The token request that redeems `code` for the confidential client `created`, through `provider.handle`. */
export function redeemCode(provider, created, code, redirectUri, codeVerifier = PKCE_VERIFIER) {
  return provider.handle({
    method: 'POST',
    path: '/oauth2/token',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: codeVerifier,
      client_id: created.clientId,
      client_secret: created.clientSecret,
    }).toString(),
  });
}
