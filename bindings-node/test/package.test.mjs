// The packed tarball installs into a fresh folder with no install scripts and no Rust toolchain, and both
// `require('connectivly')` and `import('connectivly')` work there.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { PACKAGE_DIR, tempDir } from './helpers.mjs';

const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE_DIR, 'package.json'), 'utf8'));

/** PATH without any folder that holds a Rust toolchain. */
function pathWithoutRust() {
  return process.env.PATH.split(path.delimiter)
    .filter((d) => !['cargo', 'rustc'].some((tool) => fs.existsSync(path.join(d, tool))))
    .join(path.delimiter);
}

const SCRIPT = `
  const c = await load();
  const p = await c.Provider.open({ issuer: 'https://id.example.com', loginUrl: '/login', database: 'memory:' });
  const client = await p.createClient({ name: 'A', redirectUris: ['https://a.example/cb'] });
  const err = await p.authSession('cly_ses_nope').catch((e) => e);
  console.log(JSON.stringify({
    version: c.version,
    issuer: p.discovery().issuer,
    client: client.clientId.startsWith('cly_ci_'),
    error: [err instanceof c.NotFound, err instanceof c.ConnectivlyError, err.code],
    classes: [typeof c.Provider, typeof c.RemoteProvider, typeof c.HostApi],
  }));
  await p.close();
`;
const EXPECTED = {
  version: pkg.version,
  issuer: 'https://id.example.com',
  client: true,
  error: [true, true, 'not_found'],
  classes: ['function', 'function', 'function'],
};

test('npm pack, then npm install of the tarball in a fresh folder: require and import work', (t) => {
  const dir = tempDir(t, 'connectivly-pack-');
  let tarball = process.env.CONNECTIVLY_TGZ;
  if (!tarball) {
    const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PACKAGE_DIR, encoding: 'utf8' });
    const [packed] = JSON.parse(out);
    tarball = path.join(dir, packed.filename);
  }
  assert.equal(path.basename(tarball), `connectivly-${pkg.version}.tgz`);
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
  for (const f of ['package/package.json', 'package/index.js', 'package/index.mjs', 'package/index.d.ts', 'package/native.js', 'package/native.d.ts']) {
    assert.ok(listing.includes(f), `${f} is in the tarball`);
  }
  assert.ok(listing.some((f) => /^package\/connectivly\.[\w-]+\.node$/.test(f)), 'the native binary is in the tarball');
  assert.ok(!listing.some((f) => f.includes('src/') || f.includes('test/') || f.includes('node_modules/')), listing.join('\n'));

  const app = path.join(dir, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', version: '1.0.0', private: true }));
  const env = { ...process.env, PATH: pathWithoutRust() };
  execFileSync('npm', ['install', tarball, '--ignore-scripts', '--offline', '--no-audit', '--no-fund'], {
    cwd: app,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const installed = path.join(app, 'node_modules', 'connectivly');
  assert.ok(fs.lstatSync(installed).isDirectory(), 'a copy, not a link');
  assert.ok(fs.readdirSync(installed).some((f) => f.endsWith('.node')));

  const cjs = execFileSync(process.execPath, ['-e', `(async () => { const load = async () => require('connectivly'); ${SCRIPT} })()`], {
    cwd: app,
    env,
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(cjs), EXPECTED);

  const esm = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', `const load = async () => import('connectivly'); ${SCRIPT}
      const named = await import('connectivly');
      if (named.Provider !== named.default.Provider || typeof named.SessionNotFound !== 'function') process.exit(3);`],
    { cwd: app, env, encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(esm), EXPECTED);
});
