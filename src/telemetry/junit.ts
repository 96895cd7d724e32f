/**
 * JUnit XML for a baseline comparison, the format CI systems (GitHub Actions test reporters, GitLab,
 * Jenkins, Buildkite) display: one testsuite per comparison, one testcase per metric; a regression is
 * a <failure> carrying the message, a skipped speed metric a <skipped>; notes go to <system-out>.
 * The document is built with xmlbuilder2, which escapes text and attributes and drops the characters XML 1.0
 * cannot carry (control characters, lone surrogates).
 */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';
import type { Comparison, ComparisonRow } from './baseline.js';

function testcase(parent: XMLBuilder, row: ComparisonRow, classname: string): void {
  const node = parent.ele('testcase', { classname, name: row.metric.name, time: '0' });
  if (row.verdict === 'regressed') node.ele('failure', { message: row.message, type: 'regression' }).txt(row.message);
  else if (row.verdict === 'skipped') node.ele('skipped', { message: row.message });
  else node.ele('system-out').txt(row.message);
}

export function junitXml(comparisons: readonly Comparison[], timestamp = new Date()): string {
  const count = (c: Comparison, verdict: ComparisonRow['verdict']) => c.rows.filter((r) => r.verdict === verdict).length;
  const tests = comparisons.reduce((n, c) => n + c.rows.length, 0);
  const failures = comparisons.reduce((n, c) => n + count(c, 'regressed'), 0);
  const skipped = comparisons.reduce((n, c) => n + count(c, 'skipped'), 0);
  const doc = create({ version: '1.0', encoding: 'UTF-8', invalidCharReplacement: '' });
  const root = doc.ele('testsuites', { name: 'lion-train regress', tests: String(tests), failures: String(failures), errors: '0', skipped: String(skipped), time: '0' });
  for (const c of comparisons) {
    const suite = root.ele('testsuite', {
      name: `${c.run.summary.name} vs ${c.baseline.file}`,
      tests: String(c.rows.length),
      failures: String(count(c, 'regressed')),
      errors: '0',
      skipped: String(count(c, 'skipped')),
      time: '0',
      timestamp: timestamp.toISOString().replace(/\.\d+Z$/, ''),
    });
    const properties = suite.ele('properties');
    for (const [name, value] of [
      ['run', c.run.dir],
      ['baseline', c.baseline.file],
      ['backend', c.run.summary.backend],
      ['configHash', c.run.summary.configHash],
    ]) {
      properties.ele('property', { name, value });
    }
    const classname = `lion-train.regress.${c.run.summary.name}`;
    for (const row of c.rows) testcase(suite, row, classname);
    if (c.notes.length > 0) suite.ele('system-out').txt(c.notes.map((n) => `note: ${n}`).join('\n'));
  }
  return `${doc.end({ prettyPrint: true, indent: '  ' })}\n`;
}
