/**
 * Where the work queue lives: a Redis URL (`redis://[user:password@]host:port[/db]`, or `rediss://` for
 * TLS) turned into BullMQ's connection options. Credentials are kept out of every message: print a queue
 * with {@link redactQueueUrl}.
 */
import type { ConnectionOptions, Queue, QueueEvents } from 'bullmq';
import { EXIT, UserError } from '../errors.js';

/** BullMQ queue that every lion-train controller and worker uses (jobs carry their own ids). */
export const QUEUE_NAME = 'lion-train';

/**
 * Connection options for `url`.
 * @throws UserError (exit 2) for a URL that is not redis:// or rediss://, or has a bad port or db.
 */
export function queueConnection(url: string): ConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError(`--queue ${redactQueueUrl(url)}: not a URL (expected redis://host:6379 or rediss://…)`, EXIT.usage);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new UserError(`--queue ${redactQueueUrl(url)}: expected redis:// or rediss://, got ${parsed.protocol}//`, EXIT.usage);
  }
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new UserError(`--queue ${redactQueueUrl(url)}: the database must be a whole number, got ${dbText}`, EXIT.usage);
  return {
    host: parsed.hostname,
    port,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: { servername: parsed.hostname } } : {}),
    // BullMQ's blocking commands need unlimited retries; reconnects after a Redis restart are ioredis's.
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
}

/** `url` with any user name and password replaced by `***`, for logs, run directories and reports. */
export function redactQueueUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)([^@/]*)@/i, '$1***@');
}

/**
 * Closes a controller's queue and event stream once both have connected. BullMQ (5.x) closing a connection
 * that is still connecting (a queue never used, or reconnecting after a Redis restart) emits an error after
 * it has dropped its listeners: an uncaught 'error' event that ended the process with a stack trace.
 */
export async function closeQueue(queue: Queue, events: QueueEvents): Promise<void> {
  await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
  await events.close();
  await queue.close();
}
