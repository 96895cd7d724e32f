/**
 * Parses program text into the AST (ast.ts), with positions.
 *
 * Grammar (one statement per line; `#` starts a comment; blank lines are ignored):
 *
 *     statement  := NAME '=' expr
 *     expr       := term (('+' | '-') term)*
 *     term       := unary (('*' | '/') unary)*
 *     unary      := '-' unary | primary
 *     primary    := NUMBER | NAME | NAME '(' [expr (',' expr)*] ')' | '(' expr ')'
 *
 * NUMBER is a decimal literal (`0.9`, `3e-4`, `.5`). A unary minus on a number is a negative
 * constant; on anything else it is `negative(x)`.
 */
import { call, type Expression, type Position, type Program, type Statement } from './ast.js';

/** A problem in a program, located in its text. */
export interface ProgramProblem {
  line: number;
  column: number;
  message: string;
}

/** Thrown by `parseProgram` and `checkedProgram` with every problem found. */
export class ProgramError extends Error {
  constructor(readonly problems: ProgramProblem[]) {
    super(problems.map((p) => `line ${p.line}:${p.column}: ${p.message}`).join('\n'));
    this.name = 'ProgramError';
  }
}

type TokenKind = 'name' | 'number' | 'op' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  pos: Position;
}

const TOKEN = /\s*(?:([A-Za-z_][A-Za-z0-9_]*)|((?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)|([-+*/(),=]))/y;

function tokenize(text: string, line: number): Token[] | ProgramProblem {
  const tokens: Token[] = [];
  TOKEN.lastIndex = 0;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    TOKEN.lastIndex = at;
    const m = TOKEN.exec(text);
    if (m === null) {
      const skipped = text.slice(at).match(/^\s*/)![0].length;
      const ch = text[at + skipped];
      const hint = ch === '*' || ch === '^' ? ' (use power(x, y))' : '';
      return { line, column: at + skipped + 1, message: `unexpected character '${ch}'${hint}` };
    }
    const tokenText = m[1] ?? m[2] ?? m[3];
    const column = m.index + m[0].length - tokenText.length + 1;
    tokens.push({ kind: m[1] ? 'name' : m[2] ? 'number' : 'op', text: tokenText, pos: { line, column } });
    at = TOKEN.lastIndex;
  }
  tokens.push({ kind: 'end', text: '', pos: { line, column: text.trimEnd().length + 1 } });
  return tokens;
}

class LineParser {
  private i = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.i];
  }

  private fail(token: Token, message: string): never {
    throw { line: token.pos.line, column: token.pos.column, message } satisfies ProgramProblem;
  }

  private expect(text: string, what: string): Token {
    const t = this.peek();
    if (t.text !== text || t.kind === 'end') this.fail(t, `expected ${what}, got ${describe(t)}`);
    this.i++;
    return t;
  }

  statement(): Statement {
    const target = this.peek();
    if (target.kind !== 'name') this.fail(target, `expected an assignment 'name = expression', got ${describe(target)}`);
    this.i++;
    this.expect('=', "'='");
    const value = this.expr();
    const rest = this.peek();
    if (rest.kind !== 'end') this.fail(rest, `unexpected ${describe(rest)} after the expression`);
    return { target: target.text, pos: target.pos, value };
  }

  private expr(): Expression {
    let left = this.term();
    for (let t = this.peek(); t.text === '+' || t.text === '-'; t = this.peek()) {
      this.i++;
      left = call(t.text, [left, this.term()], t.pos);
    }
    return left;
  }

  private term(): Expression {
    let left = this.unary();
    for (let t = this.peek(); t.kind === 'op' && (t.text === '*' || t.text === '/'); t = this.peek()) {
      this.i++;
      left = call(t.text, [left, this.unary()], t.pos);
    }
    return left;
  }

  private unary(): Expression {
    const t = this.peek();
    if (t.kind === 'op' && t.text === '-') {
      this.i++;
      const operand = this.unary();
      if (operand.kind === 'number') return { kind: 'number', value: -operand.value, pos: t.pos };
      return call('negative', [operand], t.pos);
    }
    return this.primary();
  }

  private primary(): Expression {
    const t = this.peek();
    if (t.kind === 'number') {
      this.i++;
      return { kind: 'number', value: Number(t.text), pos: t.pos };
    }
    if (t.kind === 'name') {
      this.i++;
      if (this.peek().text !== '(') return { kind: 'name', name: t.text, pos: t.pos };
      this.i++;
      const args: Expression[] = [];
      if (this.peek().text !== ')') {
        args.push(this.expr());
        while (this.peek().text === ',') {
          this.i++;
          args.push(this.expr());
        }
      }
      this.expect(')', `',' or ')' to close ${t.text}(`);
      return call(t.text, args, t.pos);
    }
    if (t.text === '(') {
      this.i++;
      const inner = this.expr();
      this.expect(')', "')'");
      return inner;
    }
    return this.fail(t, `expected a number, a name or '(', got ${describe(t)}`);
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'the end of the line' : `'${t.text}'`;
}

/**
 * Parses `text` into a program. Throws a `ProgramError` listing every line that does not parse
 * (each line is parsed on its own, so one bad line does not hide the next).
 */
export function parseProgram(text: string): Program {
  const statements: Statement[] = [];
  const problems: ProgramProblem[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = index + 1;
    const hash = raw.indexOf('#');
    const code = hash >= 0 ? raw.slice(0, hash) : raw;
    if (code.trim() === '') return;
    const tokens = tokenize(code, line);
    if (!Array.isArray(tokens)) {
      problems.push(tokens);
      return;
    }
    try {
      statements.push(new LineParser(tokens).statement());
    } catch (problem) {
      if (problem instanceof Error) throw problem;
      problems.push(problem as ProgramProblem);
    }
  });
  if (problems.length > 0) throw new ProgramError(problems);
  return { statements };
}
