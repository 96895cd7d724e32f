/**
 * JUnit XML for a baseline comparison, the format CI systems (GitHub Actions test reporters, GitLab,
 * Jenkins, Buildkite) display: one testsuite per comparison, one testcase per metric; a regression is
 * a <failure> carrying the message, a skipped speed metric a <skipped>; notes go to <system-out>.
 */
import type { Comparison, ComparisonRow } from './baseline.js';

/** Escapes text for an XML attribute or element, dropping characters XML 1.0 cannot carry. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function attributes(values: Record<string, string | number>): string {
  return Object.entries(values)
    .map(([key, value]) => ` ${key}="${xmlEscape(String(value))}"`)
    .join('');
}

function testcase(row: ComparisonRow, classname: string): string {
  const open = `    <testcase${attributes({ classname, name: row.metric.name, time: 0 })}`;
  if (row.verdict === 'regressed') return `${open}>\n      <failure${attributes({ message: row.message, type: 'regression' })}>${xmlEscape(row.message)}</failure>\n    </testcase>`;
  if (row.verdict === 'skipped') return `${open}>\n      <skipped${attributes({ message: row.message })}/>\n    </testcase>`;
  return `${open}>\n      <system-out>${xmlEscape(row.message)}</system-out>\n    </testcase>`;
}

export function junitXml(comparisons: readonly Comparison[], timestamp = new Date()): string {
  const count = (c: Comparison, verdict: ComparisonRow['verdict']) => c.rows.filter((r) => r.verdict === verdict).length;
  const tests = comparisons.reduce((n, c) => n + c.rows.length, 0);
  const failures = comparisons.reduce((n, c) => n + count(c, 'regressed'), 0);
  const skipped = comparisons.reduce((n, c) => n + count(c, 'skipped'), 0);
  const suites = comparisons.map((c) => {
    const name = `${c.run.summary.name} vs ${c.baseline.file}`;
    const classname = `lion-train.regress.${c.run.summary.name}`;
    const properties = [
      ['run', c.run.dir],
      ['baseline', c.baseline.file],
      ['backend', c.run.summary.backend],
      ['configHash', c.run.summary.configHash],
    ]
      .map(([key, value]) => `      <property${attributes({ name: key, value })}/>`)
      .join('\n');
    const out = c.notes.length > 0 ? `\n    <system-out>${xmlEscape(c.notes.map((n) => `note: ${n}`).join('\n'))}</system-out>` : '';
    return [
      `  <testsuite${attributes({ name, tests: c.rows.length, failures: count(c, 'regressed'), errors: 0, skipped: count(c, 'skipped'), time: 0, timestamp: timestamp.toISOString().replace(/\.\d+Z$/, '') })}>`,
      `    <properties>\n${properties}\n    </properties>`,
      ...c.rows.map((row) => testcase(row, classname)),
      `${out.slice(1)}`,
      '  </testsuite>',
    ]
      .filter((line) => line !== '')
      .join('\n');
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attributes({ name: 'lion-train regress', tests, failures, errors: 0, skipped, time: 0 })}>\n${suites.join('\n')}\n</testsuites>\n`;
}
