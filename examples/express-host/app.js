'use strict';
/**
 * A host app with its own users and login, that becomes an OpenID Connect provider with Connectivly.
 *
 * Run it:  npm install && npm start        (in this folder; see README.md)
 * Register a third-party app:  node app.js create-client NAME REDIRECT_URI...  (prints CLIENT_ID=… and
 * CLIENT_SECRET=…), then sign in from that app.
 *
 * Embedded by default. With CONNECTIVLY_URL and CONNECTIVLY_API_KEY set, the same code uses a standalone
 * `connectivly` server instead (RemoteProvider). app.ts is this file in TypeScript.
 */

const crypto = require('node:crypto');
const { promisify } = require('node:util');

const express = require('express');
const { ConnectivlyError, Provider, RemoteProvider } = require('connectivly');

const scrypt = promisify(crypto.scrypt);

// The host's own users: any user store works; Connectivly never sees passwords.
function hashPassword(password) {
  const salt = crypto.randomBytes(16);
  const hash = crypto.scryptSync(password, salt, 32);
  return `scrypt$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

async function checkPassword(password, stored) {
  const [, salt, hash] = stored.split('$');
  const expected = Buffer.from(hash, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length);
  return crypto.timingSafeEqual(actual, expected);
}

const USERS = {
  ann: { name: 'Ann Example', email: 'ann@example.com', password: hashPassword('wonderland') },
  bob: { name: 'Bob Builder', email: 'bob@example.com', password: hashPassword('canwefixit') },
};
// Compared against when the username is unknown, so both cases take as long.
const NO_USER_HASH = hashPassword(crypto.randomBytes(16).toString('hex'));

const escapeHtml = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// The consent page wears the host's colours: its name, this logo (inline, so the page loads nothing from
// elsewhere) and its accent colour.
const PROVIDER_NAME = 'Photo Host';
const ACCENT_COLOR = '#0f7b6c';
const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#0f7b6c"/>' +
  '<path d="M5 24l7-9 5 6 3-4 7 7z" fill="#fff"/><circle cx="22" cy="10" r="3" fill="#fff"/></svg>';
const LOGO_URI = `data:image/svg+xml;base64,${Buffer.from(LOGO_SVG).toString('base64')}`;

const STYLE = `body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:#f4f5f7;color:#1d2330}
main{max-width:24rem;margin:8vh auto;padding:1.75rem;background:#fff;border-top:4px solid #0f7b6c;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08)}
@media (max-width:26rem){body{background:#fff}main{margin:0;border-radius:0;box-shadow:none;min-height:100vh}}
h1{font-size:1.3rem;margin:0 0 1rem}
label{display:block;font-weight:600;margin:.75rem 0 .25rem}
input{width:100%;box-sizing:border-box;font:inherit;padding:.55rem .7rem;border:1px solid #8a93a3;border-radius:8px}
button{margin-top:1.25rem;width:100%;font:inherit;font-weight:600;padding:.65rem;border:0;border-radius:8px;background:#0f7b6c;color:#fff;cursor:pointer}
:focus-visible{outline:3px solid #1d2330;outline-offset:2px}
[role=alert]{color:#a3261a}`;

const head = (title) =>
  `<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><style>${STYLE}</style></head>`;

const loginPage = (error, next) => `<!doctype html>
<html lang="en">${head('Sign in to Photo Host')}
<body><main>
<h1>Sign in to Photo Host</h1>
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post">
  <input type="hidden" name="next" value="${escapeHtml(next)}">
  <label for="username">Username</label> <input id="username" name="username" autocomplete="username" required>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
</main></body></html>`;

const homePage = (user) => `<!doctype html><html lang="en">${head('Photo Host')}
<body><main><h1>Photo Host</h1>
${user ? `<p>Signed in as ${escapeHtml(user)}.</p>` : '<p><a href="/login">Sign in</a></p>'}
</main></body></html>`;

// A reload of the approval URL, the back button, or a sign-in left too long: the link is spent. A page that says
// what to do, not a stack trace.
const signInAgainPage = (code) => `<!doctype html><html lang="en">${head('Sign-in link expired · Photo Host')}
<body><main><h1>This sign-in link was already used or has expired</h1>
<p>Go back to the app you were signing in to and sign in again.</p>
<p>The link cannot be used (${escapeHtml(code)}).</p>
<p><a href="/">Photo Host home</a></p></main></body></html>`;
/** The codes of a spent sign-in link: unknown, already used (a reload, the back button), expired. */
const SPENT_LINK = new Set(['not_found', 'already_used', 'expired']);

// A small signed session cookie: {user, at (when they signed in), exp}, HMAC-SHA256 with the app's secret.
const SESSION_COOKIE = 'photohost_session';
const SESSION_SECONDS = 8 * 3600;

function sessionCodec(secret) {
  const sign = (data) => crypto.createHmac('sha256', secret).update(data).digest('base64url');
  return {
    read(req) {
      const cookie = (req.headers.cookie || '')
        .split(';')
        .map((c) => c.trim().split('='))
        .find(([name]) => name === SESSION_COOKIE);
      if (!cookie || !cookie[1]) return null;
      const [data, mac] = cookie[1].split('.');
      if (!data || !mac) return null;
      const expected = Buffer.from(sign(data));
      const given = Buffer.from(mac);
      if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return null;
      try {
        const session = JSON.parse(Buffer.from(data, 'base64url').toString('utf8'));
        return typeof session.user === 'string' && session.exp > Date.now() / 1000 ? session : null;
      } catch {
        return null;
      }
    },
    write(res, user) {
      const data = Buffer.from(JSON.stringify({ user, at: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + SESSION_SECONDS })).toString('base64url');
      res.cookie(SESSION_COOKIE, `${data}.${sign(data)}`, { httpOnly: true, sameSite: 'lax', path: '/', maxAge: SESSION_SECONDS * 1000 });
    },
    clear(res) {
      res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'lax', path: '/' });
    },
  };
}

/** Only local redirects after login. */
function localPath(next) {
  return typeof next === 'string' && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

/** The provider: embedded, or a standalone server's when CONNECTIVLY_URL and CONNECTIVLY_API_KEY are set. */
async function makeProvider(env = process.env) {
  if (env.CONNECTIVLY_URL) {
    return RemoteProvider.connect(env.CONNECTIVLY_URL, { apiKey: env.CONNECTIVLY_API_KEY || '' });
  }
  return Provider.open({
    issuer: env.CONNECTIVLY_ISSUER || `http://localhost:${env.PORT || 5000}/oauth`,
    loginUrl: '/connectivly',
    database: env.CONNECTIVLY_DATABASE_URL || 'sqlite://connectivly.db',
    scopes: { 'photos:read': 'See your photos' },
    providerName: PROVIDER_NAME,
    providerLogoUri: LOGO_URI,
    accentColor: ACCENT_COLOR,
  });
}

/** The host app around a provider (a `Provider` or a `RemoteProvider`). */
function createApp(provider, { secret = process.env.SESSION_SECRET || crypto.randomBytes(32).toString('hex') } = {}) {
  const app = express();
  app.disable('x-powered-by');
  const session = sessionCodec(secret);

  const loginRequired = (req, res, next) => {
    const s = session.read(req);
    if (!s || !Object.hasOwn(USERS, s.user)) {
      res.redirect(`/login?${new URLSearchParams({ next: req.originalUrl })}`);
      return;
    }
    res.locals.user = s.user;
    res.locals.signedInAt = s.at;
    next();
  };

  app.get('/', (req, res) => {
    res.type('html').send(homePage(session.read(req)?.user));
  });

  app.get('/login', (req, res) => {
    res.type('html').send(loginPage(null, localPath(req.query.next)));
  });

  app.post('/login', express.urlencoded({ extended: false, limit: '8kb' }), async (req, res) => {
    const next = localPath(req.body.next);
    const username = String(req.body.username || '');
    const user = Object.hasOwn(USERS, username) ? USERS[username] : null;
    const ok = await checkPassword(String(req.body.password || ''), user ? user.password : NO_USER_HASH);
    if (user && ok) {
      session.write(res, username);
      res.redirect(303, next);
      return;
    }
    res.status(401).type('html').send(loginPage('Wrong username or password.', next));
  });

  // Connectivly sends the browser here with ?token=<session id>; we say who is logged in.
  app.get('/connectivly', loginRequired, async (req, res) => {
    const username = res.locals.user;
    const user = USERS[username];
    let target;
    try {
      target = await provider.approve(String(req.query.token || ''), {
        user: username,
        claims: { name: user.name, email: user.email, email_verified: true },
        authTime: res.locals.signedInAt, // when this user signed in here: prompt=login and max_age check it
      });
    } catch (err) {
      // The app asked for a fresh sign-in (prompt=login, or max_age passed): sign in again, then come back.
      if (err instanceof ConnectivlyError && err.code === 'login_required') {
        session.clear(res);
        res.redirect(`/login?${new URLSearchParams({ next: req.originalUrl })}`);
        return;
      }
      throw err;
    }
    res.redirect(target);
  });

  app.get('/api/photos', provider.requireToken('photos:read'), (req, res) => {
    const sub = req.token.sub;
    res.json({ owner: sub, photos: [`/photos/${sub}/1.jpg`, `/photos/${sub}/2.jpg`] });
  });

  app.get('/logout', (req, res) => {
    session.clear(res);
    res.redirect('/?signed_out=1');
  });

  if (provider instanceof Provider) {
    // Every OAuth endpoint and the discovery document, at the issuer's path (/oauth by default). Mounted
    // after the app's routes, so an issuer at the site root works too.
    app.use(new URL(provider.issuer).pathname, provider.express());
    // RFC 8414 and MCP clients look for the metadata of an issuer with a path at the site root
    // (/.well-known/oauth-authorization-server/oauth), where the router above cannot answer.
    app.use(provider.wellKnown());
  }

  // An expired, unknown or already used sign-in link: a page, not a stack trace. Any other error (the store
  // unreachable, a bug) stays an error: Express answers 500 and logs it.
  app.use((err, req, res, next) => {
    if (!(err instanceof ConnectivlyError) || !SPENT_LINK.has(err.code) || res.headersSent) {
      next(err);
      return;
    }
    res.status(400).type('html').send(signInAgainPage(err.code));
  });

  return app;
}

async function main() {
  const provider = await makeProvider();
  const app = createApp(provider);
  const port = Number(process.env.PORT || 5000);
  const server = app.listen(port, process.env.HOST || '127.0.0.1', () => {
    const where = provider instanceof Provider ? `issuer ${provider.issuer}` : `server ${provider.url}`;
    console.log(`Photo Host on http://localhost:${port} (${where})`);
  });
  const stop = () => server.close(() => provider.close());
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/**
 * `node app.js create-client NAME REDIRECT_URI...`: registers a third-party app with this host's provider and
 * prints its credentials as environment assignments (the secret is shown this once).
 */
async function createClient([name, ...redirectUris]) {
  if (!name || redirectUris.length === 0) throw new Error('usage: node app.js create-client NAME REDIRECT_URI...');
  const provider = await makeProvider();
  try {
    const created = await provider.createClient({ name, redirectUris });
    console.log(`CLIENT_ID=${created.clientId}\nCLIENT_SECRET=${created.clientSecret}`);
  } finally {
    await provider.close();
  }
}

module.exports = { createApp, makeProvider, USERS };

if (require.main === module) {
  const args = process.argv.slice(2);
  (args[0] === 'create-client' ? createClient(args.slice(1)) : main()).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
