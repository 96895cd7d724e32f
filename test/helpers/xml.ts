/**
 * A strict parser for the XML subset JUnit files use (no XML parser is installed): a declaration,
 * one root element, elements, attributes, text, comments and character/entity references. It throws
 * on anything that is not well-formed: unclosed or mismatched tags, an unquoted or duplicated
 * attribute, a raw `<` or `&` in text or attributes, unknown entities, content after the root.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function parseXml(source: string): XmlElement {
  let pos = 0;
  const fail = (message: string): never => {
    const line = source.slice(0, pos).split('\n').length;
    throw new Error(`XML not well-formed at line ${line}: ${message}`);
  };
  const skipSpace = () => {
    while (pos < source.length && /\s/.test(source[pos])) pos++;
  };
  const skipMisc = () => {
    for (;;) {
      skipSpace();
      if (source.startsWith('<!--', pos)) {
        const end = source.indexOf('-->', pos + 4);
        if (end < 0) fail('unclosed comment');
        pos = end + 3;
      } else return;
    }
  };
  const name = (): string => {
    const match = NAME.exec(source.slice(pos));
    if (!match) return fail(`expected a name, found ${JSON.stringify(source.slice(pos, pos + 10))}`);
    pos += match[0].length;
    return match[0];
  };
  const decode = (raw: string): string =>
    raw.replace(/&([^;\s&<]*);?/g, (whole, ref: string) => {
      if (!whole.endsWith(';')) fail(`bare & in ${JSON.stringify(raw.slice(0, 40))}`);
      if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
      if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
      if (!(ref in ENTITIES)) fail(`unknown entity &${ref};`);
      return ENTITIES[ref];
    });

  const element = (): XmlElement => {
    if (source[pos] !== '<') fail('expected <');
    pos++;
    const tag = name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const before = pos;
      skipSpace();
      if (source.startsWith('/>', pos)) {
        pos += 2;
        return { name: tag, attributes, children: [], text: '' };
      }
      if (source[pos] === '>') {
        pos++;
        break;
      }
      if (pos === before) fail(`expected whitespace before an attribute of <${tag}>`);
      const key = name();
      if (key in attributes) fail(`duplicate attribute ${key} on <${tag}>`);
      skipSpace();
      if (source[pos] !== '=') fail(`expected = after ${key}`);
      pos++;
      skipSpace();
      const quote = source[pos];
      if (quote !== '"' && quote !== "'") fail(`attribute ${key} is not quoted`);
      const end = source.indexOf(quote, pos + 1);
      if (end < 0) fail(`unclosed attribute ${key}`);
      const raw = source.slice(pos + 1, end);
      if (raw.includes('<')) fail(`< in attribute ${key}`);
      attributes[key] = decode(raw);
      pos = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (pos >= source.length) fail(`<${tag}> is not closed`);
      if (source.startsWith('</', pos)) {
        pos += 2;
        const closing = name();
        if (closing !== tag) fail(`</${closing}> closes <${tag}>`);
        skipSpace();
        if (source[pos] !== '>') fail(`expected > after </${closing}`);
        pos++;
        return { name: tag, attributes, children, text };
      }
      if (source.startsWith('<!--', pos)) {
        skipMisc();
        continue;
      }
      if (source.startsWith('<![CDATA[', pos)) {
        const end = source.indexOf(']]>', pos);
        if (end < 0) fail('unclosed CDATA');
        text += source.slice(pos + 9, end);
        pos = end + 3;
        continue;
      }
      if (source[pos] === '<') {
        children.push(element());
        continue;
      }
      const next = source.indexOf('<', pos);
      const raw = source.slice(pos, next < 0 ? source.length : next);
      if (raw.includes(']]>')) fail(']]> in text');
      text += decode(raw);
      pos += raw.length;
    }
  };

  if (source.startsWith('<?xml')) {
    const end = source.indexOf('?>');
    if (end < 0) fail('unclosed XML declaration');
    if (!/^<\?xml\s+version="1\.[0-9]"(\s+encoding="[A-Za-z0-9._-]+")?(\s+standalone="(yes|no)")?\s*\?>$/.test(source.slice(0, end + 2))) fail('malformed XML declaration');
    pos = end + 2;
  }
  skipMisc();
  const root = element();
  skipMisc();
  if (pos !== source.length) fail('content after the root element');
  return root;
}

/** Every element named `name` at any depth. */
export function findAll(root: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (node: XmlElement) => {
    if (node.name === name) found.push(node);
    node.children.forEach(visit);
  };
  visit(root);
  return found;
}
