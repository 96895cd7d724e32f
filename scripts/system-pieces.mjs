// The system pieces that the tests need beyond npm packages, installed when missing. Run by `npm test`
// (its `pretest`), so that `npm install && npm test` is the whole set-up on a fresh Debian machine.
//
// Each piece says which tests need it, how to tell it is there (a cheap file check, run on every
// `npm test`) and how to get it: Debian packages (apt-get, as root) and optionally a step that unpacks
// something into the project's cache folder `.cache/` (git-ignored; no root needed).
// When a piece is missing and cannot be installed here (not root, or no apt-get), the script fails and
// its FIRST line says the exact command to run.
//
// To add a piece (say redis-server for a queue test), add one entry to PIECES:
//   { name: 'redis-server', neededBy: 'test/queue/*.test.ts',
//     present: () => onPath('redis-server'), apt: ['redis-server'] }
//
//   node scripts/system-pieces.mjs           install what is missing (or fail saying how)
//   node scripts/system-pieces.mjs --check   only report; exit 1 when something is missing
//   node scripts/system-pieces.mjs --env     print VK_ICD_FILENAMES=… for the unpacked lavapipe
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The project's cache of unpacked system pieces (git-ignored). */
export const CACHE = join(ROOT, '.cache');
/** Where lavapipe (Mesa's software Vulkan driver) is unpacked, with an lvp_icd.json whose library_path is absolute. */
export const LAVAPIPE_DIR = join(CACHE, 'lavapipe');
export const LAVAPIPE_ICD = join(LAVAPIPE_DIR, 'lvp_icd.json');
/** Dawn refuses Debian 12's lavapipe (Mesa 22.3: no shaderUniform*ArrayDynamicIndexing); Mesa 24+ works. */
const LAVAPIPE_MIN_MESA = 24;

/**
 * @typedef {object} Piece
 * @property {string} name          what a person calls it
 * @property {string} neededBy      the tests (or configs) that need it
 * @property {() => boolean} present  a cheap check that it is there and usable
 * @property {string[] | (() => string[])} apt  Debian packages to install as root (a function when they are known only after fetching)
 * @property {() => void} [fetch]   unpacks the piece into .cache/ (no root); runs before `apt` is read
 * @property {string} [fetchCommand] the command a person runs for `fetch` (in the failure message)
 */

/** @type {Piece[]} */
export const PIECES = [
  {
    name: 'chromium',
    neededBy: 'test/cli/report.test.ts (opens report.html in headless Chromium)',
    present: () => existsSync('/usr/bin/chromium'),
    apt: ['chromium'],
  },
  {
    name: 'Fashion-MNIST',
    neededBy: 'configs/cnn-fashion.yaml (test/cli/commands.test.ts validates every shipped config)',
    present: () => existsSync('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'),
    apt: ['dataset-fashion-mnist'],
  },
  {
    name: 'redis-server',
    neededBy: 'test/queue/queue.test.ts (a real Redis server for the work queue, started on 127.0.0.1)',
    present: () => existsSync('/usr/bin/redis-server'),
    apt: ['redis-server'],
  },
  {
    name: 'Vulkan loader',
    neededBy: 'the webgpu tests (Dawn loads libvulkan.so.1)',
    present: () => findLibrary('libvulkan.so.1') !== undefined,
    apt: ['libvulkan1'],
  },
  {
    name: 'lavapipe (Mesa software Vulkan)',
    neededBy: 'the webgpu tests on machines without a GPU',
    present: () => lavapipeProblem(LAVAPIPE_DIR) === undefined,
    fetch: () => fetchLavapipe(LAVAPIPE_DIR),
    fetchCommand: 'node scripts/system-pieces.mjs',
    // Its shared libraries (LLVM, libdrm, xcb, …) come from the system: the Depends of the package it was unpacked from.
    apt: () => lavapipeDepends(LAVAPIPE_DIR),
  },
];

// ---------------------------------------------------------------- checks

/** The path of a shared library the dynamic linker would find (ldconfig's cache, LD_LIBRARY_PATH), or undefined. */
export function findLibrary(soname, { ldconfigOutput = run('/sbin/ldconfig', ['-p']) ?? run('ldconfig', ['-p']) ?? '', libraryPath = process.env.LD_LIBRARY_PATH ?? '' } = {}) {
  for (const dir of libraryPath.split(delimiter).filter(Boolean)) {
    if (existsSync(join(dir, soname))) return join(dir, soname);
  }
  for (const line of ldconfigOutput.split('\n')) {
    const match = /^\s*(\S+)\s.*=>\s*(\S+)\s*$/.exec(line);
    if (match && match[1] === soname && existsSync(match[2])) return match[2];
  }
  return undefined;
}

/** Shared libraries that `ldd` cannot resolve for a file (parsed from lines `libX.so.1 => not found`). */
export function unresolvedLibraries(lddOutput) {
  return lddOutput.split('\n').map((l) => /^\s*(\S+)\s*=>\s*not found/.exec(l)?.[1]).filter(Boolean);
}

/**
 * Why the lavapipe folder is not usable, or undefined when it is: lvp_icd.json must exist, name an absolute
 * library_path that exists, and that library's dependencies must all resolve.
 */
export function lavapipeProblem(dir, { ldd = (file) => run('ldd', [file]) ?? '' } = {}) {
  const icd = join(dir, 'lvp_icd.json');
  if (!existsSync(icd)) return `${icd} does not exist`;
  let library;
  try {
    library = JSON.parse(readFileSync(icd, 'utf8'))?.ICD?.library_path;
  } catch (error) {
    return `${icd} is not JSON (${error.message})`;
  }
  if (typeof library !== 'string' || !isAbsolute(library)) return `${icd}: ICD.library_path must be an absolute path`;
  if (!existsSync(library)) return `${icd}: ${library} does not exist`;
  const missing = unresolvedLibraries(ldd(library));
  if (missing.length > 0) return `${library} needs ${missing.join(', ')}`;
  return undefined;
}

// ---------------------------------------------------------------- lavapipe

/** The Debian codename (bookworm, trixie, …) from /etc/os-release, or undefined off Debian. */
function codename() {
  if (!existsSync('/etc/os-release')) return undefined;
  return /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
}

/**
 * The system's apt sources for `suite` as one-line entries, with the suite replaced by `newSuite`
 * (used to add `<codename>-backports` from the same archive and keyring as the machine's own sources).
 * Reads sources.list, *.list and deb822 *.sources.
 */
export function sourcesFor(suite, newSuite, files = aptSourceFiles()) {
  const lines = [];
  for (const [file, text] of files) {
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1].trim();
        if (!/\bdeb\b/.test(field('Types') ?? '') || /^no$/i.test(field('Enabled') ?? 'yes')) continue;
        if (!(field('Suites') ?? '').split(/\s+/).includes(suite)) continue;
        const signedBy = field('Signed-By');
        const options = signedBy && !signedBy.includes('\n') ? ` [signed-by=${signedBy}]` : '';
        for (const uri of (field('URIs') ?? '').split(/\s+/).filter(Boolean)) lines.push(`deb${options} ${uri} ${newSuite} ${field('Components') ?? 'main'}`);
      }
    } else {
      for (const line of text.split('\n')) {
        const match = /^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$/.exec(line);
        if (match && match[3] === suite) lines.push(`deb ${match[1] ?? ''}${match[2]} ${newSuite} ${match[4].trim()}`);
      }
    }
  }
  return [...new Set(lines)];
}

function aptSourceFiles() {
  const files = [];
  if (existsSync('/etc/apt/sources.list')) files.push(['/etc/apt/sources.list', readFileSync('/etc/apt/sources.list', 'utf8')]);
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.list') || name.endsWith('.sources')) files.push([join(dir, name), readFileSync(join(dir, name), 'utf8')]);
    }
  }
  return files;
}

/**
 * Downloads mesa-vulkan-drivers (Mesa ≥ 24) from the distribution's backports with a private apt state under
 * .cache/apt (the system's sources and Mesa are left alone), unpacks it into `dir` and writes `dir/lvp_icd.json`
 * with an absolute library_path. Throws with the reason when it cannot.
 */
export function fetchLavapipe(dir) {
  const name = codename();
  if (!name) throw new Error('lavapipe: not a Debian machine (no VERSION_CODENAME in /etc/os-release); set VK_ICD_FILENAMES to a Mesa ≥ 24 lvp_icd.json');
  const state = join(CACHE, 'apt');
  rmSync(state, { recursive: true, force: true });
  mkdirSync(join(state, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(state, 'cache', 'archives', 'partial'), { recursive: true });
  const sources = [...sourcesFor(name, `${name}-backports`), ...sourcesFor(name, name)];
  if (sources.length === 0) throw new Error(`lavapipe: no apt source for ${name} in /etc/apt/sources.list*`);
  writeFileSync(join(state, 'sources.list'), `${sources.join('\n')}\n`);
  const options = [
    '-o', `Dir::Etc::SourceList=${join(state, 'sources.list')}`, '-o', 'Dir::Etc::SourceParts=/nonexistent',
    '-o', `Dir::State::Lists=${join(state, 'lists')}`, '-o', `Dir::Cache=${join(state, 'cache')}`,
    '-o', 'Debug::NoLocking=1', '-qq',
  ];
  if (process.getuid?.() === 0) options.push('-o', 'APT::Sandbox::User=root');
  execFileSync('apt-get', [...options, 'update'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const policy = execFileSync('apt-cache', [...options, 'madison', 'mesa-vulkan-drivers'], { encoding: 'utf8' });
  const versions = policy.split('\n').map((l) => l.split('|')[1]?.trim()).filter(Boolean);
  const version = versions.find((v) => Number.parseInt(v, 10) >= LAVAPIPE_MIN_MESA);
  if (!version) throw new Error(`lavapipe: no mesa-vulkan-drivers ≥ ${LAVAPIPE_MIN_MESA} in ${name} or ${name}-backports (found ${versions.join(', ') || 'none'})`);
  const work = `${dir}.partial`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  execFileSync('apt-get', [...options, 'download', `mesa-vulkan-drivers=${version}`], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error(`lavapipe: apt-get download mesa-vulkan-drivers=${version} wrote no .deb`);
  writeFileSync(join(work, 'DEPENDS'), execFileSync('dpkg-deb', ['-f', join(work, deb), 'Depends'], { encoding: 'utf8' }));
  writeFileSync(join(work, 'VERSION'), `${version}\n`);
  execFileSync('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
  rmSync(join(work, deb));
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  const icdDir = join(dir, 'root', 'usr', 'share', 'vulkan', 'icd.d');
  const shipped = readdirSync(icdDir).find((f) => f.startsWith('lvp_icd'));
  if (!shipped) throw new Error(`lavapipe: mesa-vulkan-drivers ${version} has no lvp_icd*.json`);
  const icd = JSON.parse(readFileSync(join(icdDir, shipped), 'utf8'));
  const library = findFile(join(dir, 'root'), icd.ICD.library_path.split('/').pop());
  if (!library) throw new Error(`lavapipe: ${icd.ICD.library_path} not in mesa-vulkan-drivers ${version}`);
  icd.ICD.library_path = library;
  writeFileSync(join(dir, 'lvp_icd.json'), `${JSON.stringify(icd, null, 2)}\n`);
}

/** The first file called `name` under `dir` (depth first), or undefined. */
function findFile(dir, name) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isFile() && entry.name === name) return path;
    if (entry.isDirectory()) {
      const found = findFile(path, name);
      if (found) return found;
    }
  }
  return undefined;
}

/** The Debian packages lavapipe's library needs (its .deb's Depends without versions), [] before it is fetched. */
export function lavapipeDepends(dir) {
  const file = join(dir, 'DEPENDS');
  if (!existsSync(file)) return [];
  return parseDepends(readFileSync(file, 'utf8'));
}

/** `libc6 (>= 2.34), libfoo | libbar, …` → ['libc6', 'libfoo', …]: first alternative, versions dropped. */
export function parseDepends(field) {
  return field.split(',').map((d) => d.split('|')[0].replace(/\(.*?\)/g, '').replace(/:any$/, '').trim()).filter(Boolean);
}

// ---------------------------------------------------------------- what to do

/**
 * What the script does for the missing pieces on this machine: install (root with apt-get) or fail with the
 * command to run. Pure: `missing` are the pieces whose present() was false after fetching.
 * @returns {{ action: 'none' } | { action: 'install', packages: string[] } | { action: 'fail', message: string }}
 */
export function decide(missing, { root, hasApt, mayInstall = true, packagesOf = (p) => (typeof p.apt === 'function' ? p.apt() : p.apt) }) {
  if (missing.length === 0) return { action: 'none' };
  const packages = [...new Set(missing.flatMap(packagesOf))];
  if (mayInstall && root && hasApt && packages.length > 0) return { action: 'install', packages };
  const names = missing.map((p) => p.name).join(', ');
  const sudo = root ? '' : 'sudo ';
  const fetches = [...new Set(missing.map((p) => p.fetchCommand).filter(Boolean))];
  const command = [
    ...(packages.length > 0 ? [`${sudo}apt-get update && ${sudo}DEBIAN_FRONTEND=noninteractive apt-get install -y ${packages.join(' ')}`] : []),
    ...fetches,
  ].join(' && ');
  const why = !hasApt && packages.length > 0 ? ' (no apt-get here: install the equivalent packages)' : '';
  return {
    action: 'fail',
    message: `system-pieces: missing ${names}; run: ${command || 'see below'}${why}\n` +
      missing.map((p) => `  ${p.name}: needed by ${p.neededBy}`).join('\n'),
  };
}

/** Makes every piece present, or exits 1 whose first stderr line says how. */
export function ensure(pieces = PIECES, { check = false } = {}) {
  const root = process.getuid?.() === 0;
  const hasApt = run('apt-get', ['--version']) !== undefined;
  const fetchErrors = [];
  if (!check) {
    for (const piece of pieces) {
      if (piece.fetch && !piece.present()) {
        try {
          piece.fetch();
        } catch (error) {
          fetchErrors.push(`  ${piece.name}: ${error.message.split('\n')[0]}`);
        }
      }
    }
  }
  let missing = pieces.filter((p) => !p.present());
  let decision = decide(missing, { root, hasApt, mayInstall: !check });
  if (decision.action === 'install') {
    console.log(`system-pieces: installing ${decision.packages.join(' ')} (for ${missing.map((p) => p.name).join(', ')})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', ...decision.packages], { stdio: ['ignore', 'ignore', 'inherit'], env });
    missing = pieces.filter((p) => !p.present());
    decision = decide(missing, { root, hasApt, mayInstall: false });
  }
  if (decision.action === 'fail') {
    console.error(decision.message);
    for (const line of fetchErrors) console.error(line);
    for (const piece of missing.filter((p) => p.name.startsWith('lavapipe'))) console.error(`  lavapipe: ${lavapipeProblem(LAVAPIPE_DIR)}`);
    process.exit(1);
  }
}

function run(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--env')) console.log(`VK_ICD_FILENAMES=${LAVAPIPE_ICD}`);
  else ensure(PIECES, { check: process.argv.includes('--check') });
}
