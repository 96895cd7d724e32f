import { describe, expect, it } from 'vitest';
import { queueConnection, redactQueueUrl } from '../../src/queue/connection.js';

describe('queue URLs', () => {
  it('reads host, port, database, user and password, and TLS for rediss://', () => {
    expect(queueConnection('redis://queue.internal:6380/2')).toMatchObject({ host: 'queue.internal', port: 6380, db: 2 });
    expect(queueConnection('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0 });
    const secure = queueConnection('rediss://worker:s%40cret@queue.example:6390/1') as Record<string, unknown>;
    expect(secure).toMatchObject({ host: 'queue.example', port: 6390, db: 1, username: 'worker', password: 's@cret', tls: { servername: 'queue.example' } });
  });

  it('never prints credentials', () => {
    expect(redactQueueUrl('rediss://worker:s3cret@queue.example:6390/1')).toBe('rediss://***@queue.example:6390/1');
    expect(redactQueueUrl('redis://:s3cret@h:1')).toBe('redis://***@h:1');
    expect(redactQueueUrl('redis://h:1')).toBe('redis://h:1');
    expect(() => queueConnection('http://user:s3cret@h:1')).toThrow(/expected redis:\/\/ or rediss:\/\/, got http:/);
    try {
      queueConnection('http://user:s3cret@h:1');
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
  });

  it('refuses what is not a redis URL, with exit 2', () => {
    expect(() => queueConnection('localhost:6379')).toThrow(expect.objectContaining({ exitCode: 2 }));
    expect(() => queueConnection('redis://h:1/x')).toThrow(/database must be a whole number/);
  });
});
