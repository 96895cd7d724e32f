/** The resolved config as YAML, optionally with each value's origin as a trailing comment. */
import { Document, isMap, isScalar, isSeq, type Node } from 'yaml';
import { leafOrigins } from './load.js';
import { pathKey, type Origin } from './problems.js';

export function configToYaml(config: unknown, origins?: ReadonlyMap<string, Origin>): string {
  const doc = new Document(config);
  const leaves = origins ? leafOrigins(config, origins) : undefined;
  const visit = (node: Node | null, path: string[]) => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = String((pair.key as { value: unknown }).value);
        const child = pair.value as Node | null;
        if (isMap(child) && child.items.length > 0) visit(child, [...path, key]);
        else {
          if (isSeq(child) && child.items.every((item) => isScalar(item))) child.flow = true;
          const origin = leaves?.get(pathKey([...path, key]));
          if (origin && child) child.comment = ` ${describeOrigin(origin)}`;
        }
      }
    }
  };
  visit(doc.contents as Node, []);
  return doc.toString({ lineWidth: 0 });
}

export function describeOrigin(origin: Origin): string {
  if (origin.kind === 'file') return `${origin.file}:${origin.line}:${origin.column}`;
  if (origin.kind === 'set') return `--set ${origin.text}`;
  return 'default';
}
