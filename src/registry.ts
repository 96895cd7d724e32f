/** A typed registry of named families: refuses duplicates, lists the known names on a failed lookup. */
export class Registry<T extends { readonly name: string }> {
  private readonly items = new Map<string, T>();

  constructor(private readonly kind: string) {}

  register(item: T): this {
    if (this.items.has(item.name)) throw new Error(`${this.kind} "${item.name}" is already registered`);
    this.items.set(item.name, item);
    return this;
  }

  get(name: string): T {
    const item = this.items.get(name);
    if (!item) throw new Error(`unknown ${this.kind} "${name}"; known: ${this.names().join(', ')}`);
    return item;
  }

  names(): string[] {
    return [...this.items.keys()];
  }
}
