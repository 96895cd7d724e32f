/** Exit codes lion-train promises (DESIGN.md), and the error that carries one to the CLI. */
export const EXIT = {
  ok: 0,
  /** Training failed: diverged, data error. */
  failed: 1,
  /** Usage or config error. */
  usage: 2,
  /** `regress` found a regression. */
  regression: 3,
  /** Interrupted by SIGINT/SIGTERM (a checkpoint was written first). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error whose message is meant for the user as is, with the exit code to leave with. */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: number = EXIT.usage) {
    super(message);
    this.name = 'UserError';
  }
}
