/**
 * Photo Printer: a third-party app whose users "Sign in with Photo Host". It knows the issuer URL, its
 * client id and its secret; discovery tells it everything else (endpoints, keys). After sign-in it shows
 * the user's name and email from the verified ID token and calls the host's API with the access token.
 *
 * Run it:  npm ci && ISSUER=http://localhost:5000/oauth CLIENT_ID=… CLIENT_SECRET=… npm start
 * Settings (environment): ISSUER, CLIENT_ID, CLIENT_SECRET (required); API_URL (the host's protected API);
 * PROVIDER_NAME (the button's label; default: the issuer's host); SCOPE; PORT (8000); HOST (127.0.0.1);
 * BASE_URL (default http://localhost:$PORT; the redirect URI is $BASE_URL/callback).
 */

import crypto from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import express from 'express';
import * as oidc from 'openid-client';

const SESSION_COOKIE = 'photoprinter_sid';
const SESSION_SECONDS = 3600;
const MAX_SESSIONS = 10_000;

function settings(env = process.env) {
  for (const name of ['ISSUER', 'CLIENT_ID', 'CLIENT_SECRET']) {
    if (!env[name]) throw new Error(`${name} is required (see the comment at the top of app.js)`);
  }
  const port = Number(env.PORT || 8000);
  const issuer = new URL(env.ISSUER);
  return {
    issuer,
    clientId: env.CLIENT_ID,
    clientSecret: env.CLIENT_SECRET,
    apiUrl: env.API_URL || '',
    providerName: env.PROVIDER_NAME || issuer.host,
    scope: env.SCOPE || 'openid profile email photos:read',
    port,
    host: env.HOST || '127.0.0.1',
    baseUrl: (env.BASE_URL || `http://localhost:${port}`).replace(/\/+$/, ''),
  };
}

/** Plain http only to this machine: a token sent over the network in the clear is a token given away. */
function isLoopback(url) {
  const h = url.hostname;
  return h === 'localhost' || h.endsWith('.localhost') || h === '[::1]' || /^127(\.\d{1,3}){3}$/.test(h);
}

const escapeHtml = (s) =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const STYLE = `
:root{color-scheme:light}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f3f1ec;color:#22201c}
main{max-width:34rem;margin:8vh auto;padding:1.75rem;background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
@media (max-width:36rem){main{margin:0;border-radius:0;min-height:100vh}}
h1{font-size:1.4rem;margin:0 0 1rem}
.button,button{display:inline-block;font:inherit;font-weight:600;padding:.65rem 1.1rem;border-radius:8px;border:1px solid #5b4636;background:#5b4636;color:#fff;text-decoration:none;cursor:pointer}
button.secondary{background:#fff;color:#22201c;border-color:#8c857b}
:focus-visible{outline:3px solid #22201c;outline-offset:2px}
pre{background:#f6f5f2;padding:.75rem;border-radius:8px;overflow:auto;font-size:.85rem}
.error{color:#a3261a}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:600}dd{margin:0}`;

const page = (title, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Photo Printer</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>`;

/** Server-side sessions: the browser holds only a random id (HttpOnly), never a token. */
function sessionStore() {
  const sessions = new Map();
  const readId = (req) =>
    (req.headers.cookie || '')
      .split(';')
      .map((c) => c.trim().split('='))
      .find(([name]) => name === SESSION_COOKIE)?.[1];
  return {
    get(req) {
      const id = readId(req);
      const s = id && sessions.get(id);
      if (!s || s.expires < Date.now()) return null;
      return s;
    },
    start(res) {
      if (sessions.size >= MAX_SESSIONS) {
        for (const [id, s] of sessions) if (s.expires < Date.now()) sessions.delete(id);
        if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value);
      }
      const id = crypto.randomBytes(32).toString('base64url');
      const s = { expires: Date.now() + SESSION_SECONDS * 1000 };
      sessions.set(id, s);
      res.cookie(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_SECONDS * 1000 });
      return s;
    },
    end(req, res) {
      const id = readId(req);
      if (id) sessions.delete(id);
      res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', path: '/' });
    },
  };
}

export function createApp(cfg = settings()) {
  const redirectUri = `${cfg.baseUrl}/callback`;
  const sessions = sessionStore();
  let discovered = null;
  // Discovery on first use (and again after a failure), so the app may start before the provider.
  const oidcConfig = () => {
    discovered ??= oidc
      .discovery(cfg.issuer, cfg.clientId, cfg.clientSecret, undefined, {
        execute: cfg.issuer.protocol === 'http:' && isLoopback(cfg.issuer) ? [oidc.allowInsecureRequests] : [],
      })
      .then((config) => {
        oidc.enableNonRepudiationChecks(config); // verify the ID token's signature against the JWKS too
        return config;
      })
      .catch((e) => {
        discovered = null;
        throw e;
      });
    return discovered;
  };

  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    res.set({
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-store',
    });
    next();
  });

  app.get('/', async (req, res) => {
    const s = sessions.get(req);
    if (!s?.user) {
      res.type('html').send(
        page(
          'Welcome',
          `<h1>Photo Printer</h1><p>Prints the photos you keep at ${escapeHtml(cfg.providerName)}.</p>
<p><a class="button" href="/login">Sign in with ${escapeHtml(cfg.providerName)}</a></p>`,
        ),
      );
      return;
    }
    let api = '';
    if (cfg.apiUrl) {
      const r = await fetch(cfg.apiUrl, { headers: { authorization: `Bearer ${s.accessToken}` } });
      const text = await r.text();
      let shown = text;
      try {
        shown = JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        // not JSON: shown as it came
      }
      api = `<h2>${escapeHtml(cfg.providerName)} API</h2>
<p>GET ${escapeHtml(cfg.apiUrl)} with the access token: <strong id="api-status">${r.status}</strong></p>
<pre id="api-result">${escapeHtml(shown)}</pre>`;
    }
    res.type('html').send(
      page(
        'Signed in',
        `<h1>Signed in with ${escapeHtml(cfg.providerName)}</h1>
<dl><dt>Name</dt><dd id="user-name">${escapeHtml(s.user.name)}</dd>
<dt>Email</dt><dd id="user-email">${escapeHtml(s.user.email)}</dd>
<dt>Subject</dt><dd id="user-sub">${escapeHtml(s.user.sub)}</dd>
<dt>Scopes</dt><dd id="scopes">${escapeHtml(s.scope)}</dd></dl>
${api}
<form method="post" action="/logout"><button type="submit" class="secondary">Sign out</button></form>`,
      ),
    );
  });

  app.get('/login', async (req, res, next) => {
    try {
      const config = await oidcConfig();
      const s = sessions.get(req) || sessions.start(res);
      s.pending = { verifier: oidc.randomPKCECodeVerifier(), state: oidc.randomState(), nonce: oidc.randomNonce() };
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: cfg.scope,
        code_challenge: await oidc.calculatePKCECodeChallenge(s.pending.verifier),
        code_challenge_method: 'S256',
        state: s.pending.state,
        nonce: s.pending.nonce,
      });
      res.redirect(url.href);
    } catch (e) {
      next(e);
    }
  });

  app.get('/callback', async (req, res) => {
    const s = sessions.get(req);
    const pending = s?.pending;
    if (!pending) {
      res.status(400).type('html').send(page('Sign-in failed', `<h1>Sign-in failed</h1><p>No sign-in was started in this browser. <a href="/">Start again</a>.</p>`));
      return;
    }
    delete s.pending; // one answer per sign-in
    try {
      // Checks state and iss (RFC 9207) before anything else, then redeems the code with the PKCE
      // verifier and verifies the ID token (signature, issuer, audience, expiry, nonce).
      const tokens = await oidc.authorizationCodeGrant(await oidcConfig(), new URL(req.originalUrl, cfg.baseUrl), {
        pkceCodeVerifier: pending.verifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      const claims = tokens.claims();
      s.user = { sub: claims.sub, name: claims.name ?? '', email: claims.email ?? '' };
      s.accessToken = tokens.access_token;
      s.scope = tokens.scope ?? '';
      res.redirect(303, '/');
    } catch (e) {
      const code = e instanceof oidc.AuthorizationResponseError ? e.error : e.code || 'error';
      const detail = e instanceof oidc.AuthorizationResponseError ? e.error_description : e.message;
      res
        .status(400)
        .type('html')
        .send(
          page(
            'Sign-in failed',
            `<h1>Sign-in failed</h1><p class="error"><strong id="error">${escapeHtml(code)}</strong>${detail ? `: ${escapeHtml(detail)}` : ''}</p>
<p><a class="button" href="/">Start again</a></p>`,
          ),
        );
    }
  });

  app.post('/logout', (req, res) => {
    sessions.end(req, res);
    res.redirect(303, '/');
  });

  app.use((err, req, res, next) => {
    if (res.headersSent) return next(err);
    console.error(err);
    res.status(502).type('html').send(page('Unavailable', `<h1>${escapeHtml(cfg.providerName)} is not answering</h1><p>Try again in a moment.</p>`));
  });

  return app;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const cfg = settings();
  const server = createApp(cfg).listen(cfg.port, cfg.host, () => {
    console.log(`Photo Printer on ${cfg.baseUrl} (issuer ${cfg.issuer.href}, redirect URI ${cfg.baseUrl}/callback)`);
  });
  const stop = () => server.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
