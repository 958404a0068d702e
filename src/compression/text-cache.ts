/**
 * A least-recently-used map keyed by texts and bounded by their total length in characters, not by
 * their number: one 60 KB tool result weighs as much as a thousand short questions.
 */
export class TextCache<V> {
  private readonly map = new Map<string, V>();
  private chars = 0;

  /** @param maxChars total length of the keys kept */
  constructor(readonly maxChars: number) {}

  /** The value for `text`, now the most recently used. */
  get(text: string): V | undefined {
    const value = this.map.get(text);
    if (value !== undefined) {
      this.map.delete(text);
      this.map.set(text, value);
    }
    return value;
  }

  has(text: string): boolean {
    return this.map.has(text);
  }

  /** Stores `value` for `text`, evicting the least recently used texts beyond the bound; a text longer than the bound is not kept. */
  set(text: string, value: V): void {
    if (text.length > this.maxChars) return;
    if (this.map.delete(text)) this.chars -= text.length;
    this.map.set(text, value);
    this.chars += text.length;
    for (const [old] of this.map) {
      if (this.chars <= this.maxChars) break;
      this.map.delete(old);
      this.chars -= old.length;
    }
  }

  get size(): number {
    return this.map.size;
  }

  /** Total length of the texts kept, characters. */
  get totalChars(): number {
    return this.chars;
  }
}
