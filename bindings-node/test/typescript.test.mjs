// `tsc --noEmit --strict` on the TypeScript twin of the Express host example, against the shipped types;
// and mistakes in a caller's code are caught by those types.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

import { EXAMPLE_DIR, PACKAGE_DIR, tempDir } from './helpers.mjs';

const tsc = createRequire(path.join(PACKAGE_DIR, 'package.json')).resolve('typescript/bin/tsc');

function runTsc(args) {
  const r = spawnSync(process.execPath, [tsc, ...args], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

test('tsc --noEmit --strict passes on examples/express-host/app.ts', () => {
  const r = runTsc(['--noEmit', '--strict', '-p', path.join(EXAMPLE_DIR, 'tsconfig.json')]);
  assert.equal(r.status, 0, r.output);
});

test('the shipped types catch misuse, for CommonJS and ES module callers', (t) => {
  const dir = tempDir(t, 'connectivly-ts-');
  // A caller's folder: the package and the example's type packages, resolved the usual way (package.json
  // "exports" and its "types" condition included).
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(PACKAGE_DIR, path.join(dir, 'node_modules', 'connectivly'), 'dir');
  fs.symlinkSync(path.join(EXAMPLE_DIR, 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'), 'dir');
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'caller', private: true }));
  fs.writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'] },
      files: ['good.mts', 'bad.ts'],
    }),
  );
  fs.writeFileSync(
    path.join(dir, 'good.mts'),
    `import connectivly, { Provider, RemoteProvider, NotFound, SessionNotFound, HttpResponse, type TokenInfo } from 'connectivly';
     const p: Provider = await Provider.open({ issuer: 'http://localhost:5000/oauth', loginUrl: '/connectivly' });
     const r: RemoteProvider = await connectivly.RemoteProvider.connect('http://localhost:3000', { apiKey: 'k' });
     const url: string = await p.approve('id', { user: 'ann', claims: { name: 'Ann' }, skipConsent: true });
     const res = await r.protect('GET', { authorization: 'Bearer x' }, null, ['photos:read']);
     const info: TokenInfo | null = res instanceof HttpResponse ? null : res;
     const e: NotFound = new SessionNotFound('x');
     const key: string | null = await p.ensureApiKey();
     console.log(url, info?.sub, e.code, key, p.issuer, r.url, connectivly.version);\n`,
  );
  fs.writeFileSync(
    path.join(dir, 'bad.ts'),
    `import { Provider } from 'connectivly';
     import express from 'express';
     export async function f(p: Provider): Promise<void> {
       await p.approve('id', { user: 42 });
       await p.createClient({ name: 'x', redirectUris: 'https://x.example/cb' });
       new Provider();
       express().get('/', p.requireToken('a'), (req, res) => { res.json(req.token.sub); });
     }\n`,
  );
  const r = runTsc(['-p', path.join(dir, 'tsconfig.json')]);
  assert.notEqual(r.status, 0);
  const errors = r.output.split('\n').filter((l) => l.includes('error TS'));
  assert.ok(errors.every((l) => l.startsWith('bad.ts') || l.includes('/bad.ts')), r.output);
  assert.ok(errors.some((l) => /bad\.ts\(4,/.test(l)), `user: 42 is refused\n${r.output}`);
  assert.ok(errors.some((l) => /bad\.ts\(5,/.test(l)), `redirectUris must be an array\n${r.output}`);
  assert.ok(errors.some((l) => /bad\.ts\(6,/.test(l)), `the constructor is private\n${r.output}`);
  assert.ok(errors.some((l) => /bad\.ts\(7,.*TS18048/.test(l)), `req.token may be undefined\n${r.output}`);
});
