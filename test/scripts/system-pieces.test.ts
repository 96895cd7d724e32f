// scripts/system-pieces.mjs: the checks that decide whether a system piece is there, and what the script
// does (install, or fail with the command in its first line) when one is not.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script, without types
import * as pieces from '../../scripts/system-pieces.mjs';
import { ROOT, tempDir } from '../helpers/cli.js';

const dir = tempDir('lion-train-pieces-');
afterAll(() => dir.cleanup());

const piece = (name: string, apt: string[], extra: object = {}) => ({ name, neededBy: `test/${name}.test.ts`, present: () => false, apt, ...extra });

describe('system pieces: what to do', () => {
  it('nothing when every piece is present', () => {
    expect(pieces.decide([], { root: false, hasApt: true })).toEqual({ action: 'none' });
  });

  it('installs the union of the missing pieces’ packages as root with apt-get', () => {
    const missing = [piece('a', ['chromium']), piece('b', ['libvulkan1', 'chromium'])];
    expect(pieces.decide(missing, { root: true, hasApt: true })).toEqual({ action: 'install', packages: ['chromium', 'libvulkan1'] });
  });

  it('fails when not root, the first line naming what is missing and the exact command with sudo', () => {
    const decision = pieces.decide([piece('chromium', ['chromium']), piece('Fashion-MNIST', ['dataset-fashion-mnist'])], { root: false, hasApt: true });
    expect(decision.action).toBe('fail');
    const [first, ...rest] = decision.message.split('\n');
    expect(first).toBe('system-pieces: missing chromium, Fashion-MNIST; run: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium dataset-fashion-mnist');
    expect(rest).toEqual(['  chromium: needed by test/chromium.test.ts', '  Fashion-MNIST: needed by test/Fashion-MNIST.test.ts']);
  });

  it('fails without apt-get even as root, and adds a piece’s own fetch command', () => {
    const decision = pieces.decide([piece('lavapipe', ['libllvm15'], { fetchCommand: 'node scripts/system-pieces.mjs' })], { root: true, hasApt: false });
    expect(decision.message.split('\n')[0]).toBe('system-pieces: missing lavapipe; run: apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y libllvm15 && node scripts/system-pieces.mjs (no apt-get here: install the equivalent packages)');
  });

  it('only reports in check mode (mayInstall false), even as root', () => {
    expect(pieces.decide([piece('a', ['x'])], { root: true, hasApt: true, mayInstall: false }).action).toBe('fail');
  });
});

describe('system pieces: checks', () => {
  it('reads Depends the way apt does: first alternative, no versions, no :any', () => {
    expect(pieces.parseDepends('libvulkan1, libc6 (>= 2.34), libdrm2 (>= 2.4.121), libfoo | libbar, python3:any')).toEqual(['libvulkan1', 'libc6', 'libdrm2', 'libfoo', 'python3']);
  });

  it('finds unresolved libraries in ldd output, and none for node itself', () => {
    const ldd = '\tlinux-vdso.so.1 (0x00007ffd)\n\tlibLLVM-15.so.1 => not found\n\tlibdrm.so.2 => /lib/x86_64-linux-gnu/libdrm.so.2 (0x1)\n\tlibelf.so.1 => not found\n';
    expect(pieces.unresolvedLibraries(ldd)).toEqual(['libLLVM-15.so.1', 'libelf.so.1']);
    expect(pieces.unresolvedLibraries(execFileSync('ldd', [process.execPath], { encoding: 'utf8' }))).toEqual([]);
  });

  it('finds a library through LD_LIBRARY_PATH first, then ldconfig’s cache, and not when neither has it', () => {
    const libDir = join(dir.path, 'lib');
    mkdirSync(libDir, { recursive: true });
    writeFileSync(join(libDir, 'libfake.so.1'), '');
    expect(pieces.findLibrary('libfake.so.1', { ldconfigOutput: '', libraryPath: `/nonexistent:${libDir}` })).toBe(join(libDir, 'libfake.so.1'));
    const cache = `2 libs found in cache\n\tlibfake.so.1 (libc6,x86-64) => ${join(libDir, 'libfake.so.1')}\n\tlibgone.so.1 (libc6,x86-64) => /nonexistent/libgone.so.1\n`;
    expect(pieces.findLibrary('libfake.so.1', { ldconfigOutput: cache, libraryPath: '' })).toBe(join(libDir, 'libfake.so.1'));
    expect(pieces.findLibrary('libgone.so.1', { ldconfigOutput: cache, libraryPath: '' })).toBeUndefined();
    expect(pieces.findLibrary('libother.so.1', { ldconfigOutput: cache, libraryPath: libDir })).toBeUndefined();
  });

  it('accepts a lavapipe folder only with an ICD whose absolute library exists and resolves', () => {
    const lvp = join(dir.path, 'lavapipe');
    mkdirSync(lvp, { recursive: true });
    const icd = join(lvp, 'lvp_icd.json');
    const lib = join(lvp, 'libvulkan_lvp.so');
    const noMissing = { ldd: () => '\tlibc.so.6 => /lib/libc.so.6 (0x1)\n' };
    expect(pieces.lavapipeProblem(lvp, noMissing)).toBe(`${icd} does not exist`);
    writeFileSync(icd, '{ nope');
    expect(pieces.lavapipeProblem(lvp, noMissing)).toMatch(/is not JSON/);
    writeFileSync(icd, JSON.stringify({ ICD: { library_path: 'libvulkan_lvp.so' } }));
    expect(pieces.lavapipeProblem(lvp, noMissing)).toBe(`${icd}: ICD.library_path must be an absolute path`);
    writeFileSync(icd, JSON.stringify({ ICD: { library_path: lib } }));
    expect(pieces.lavapipeProblem(lvp, noMissing)).toBe(`${icd}: ${lib} does not exist`);
    writeFileSync(lib, '');
    expect(pieces.lavapipeProblem(lvp, noMissing)).toBeUndefined();
    expect(pieces.lavapipeProblem(lvp, { ldd: () => '\tlibLLVM-15.so.1 => not found\n' })).toBe(`${lib} needs libLLVM-15.so.1`);
  });

  it('adds backports from the machine’s own sources, one-line and deb822 alike, keeping the keyring', () => {
    const files: [string, string][] = [
      ['/etc/apt/sources.list', '# comment\ndeb http://mirror.example/debian bookworm main contrib\ndeb http://mirror.example/debian bookworm-updates main\n'],
      ['/etc/apt/sources.list.d/debian.sources', 'Types: deb\nURIs: http://archive.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nEnabled: no\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n'],
    ];
    expect(pieces.sourcesFor('bookworm', 'bookworm-backports', files)).toEqual([
      'deb http://mirror.example/debian bookworm-backports main contrib',
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://archive.example/debian bookworm-backports main',
    ]);
  });

  it('on this machine (after pretest) every piece is present, and --check says nothing', () => {
    const result = spawnSync(process.execPath, [join(ROOT, 'scripts', 'system-pieces.mjs'), '--check'], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    for (const p of pieces.PIECES) expect(p.present(), p.name).toBe(true);
  });
});
