// The end-to-end tests run the real CLI (bin/lion-train), which runs the compiled dist/: build it once.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
