// The end-to-end tests run the real CLI (bin/lion-train), which runs the compiled dist/: build it once,
// as `npm run build` does (tsc, then the start-up pieces of scripts/build-startup.mjs). Each vitest
// project runs the global set-up; the first one builds.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  if (process.env.LION_TRAIN_TESTS_BUILT) return;
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
  execFileSync(process.execPath, ['scripts/build-startup.mjs'], { stdio: 'inherit' });
  process.env.LION_TRAIN_TESTS_BUILT = '1';
}
