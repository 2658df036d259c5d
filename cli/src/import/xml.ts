// A small XML reader for CLARUS 1.0 policies: elements, attributes, comments, processing
// instructions and the five predefined entities. Text content is kept but CLARUS does not use it.
// No DTDs or external entities are ever resolved.

export interface XmlElement { name: string; attrs: Record<string, string>; children: XmlElement[]; line: number }

export class XmlError extends Error {
  constructor(message: string, line: number) {
    super(`XML line ${line}: ${message}`);
    this.name = 'XmlError';
  }
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(text: string, line: number): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (_m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new XmlError(`unknown entity &${e};`, line);
    return v;
  });
}

const NAME = /^[A-Za-z_][-A-Za-z0-9_.:]*/;
const ATTR = /^\s+([A-Za-z_][-A-Za-z0-9_.:]*)\s*=\s*("([^"]*)"|'([^']*)')/;

class Reader {
  pos = 0;
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  line(): number {
    return this.text.slice(0, this.pos).split('\n').length;
  }

  skipMisc(): void {
    for (;;) {
      const rest = this.text.slice(this.pos);
      const ws = /^\s*/.exec(rest)?.[0].length ?? 0;
      this.pos += ws;
      if (this.text.startsWith('<!--', this.pos)) this.skipTo('-->');
      else if (this.text.startsWith('<?', this.pos)) this.skipTo('?>');
      else if (this.text.startsWith('<!DOCTYPE', this.pos)) throw new XmlError('DOCTYPE is not allowed', this.line());
      else if (!this.text.startsWith('<', this.pos) && this.pos < this.text.length) this.skipText();
      else return;
    }
  }

  skipTo(end: string): void {
    const i = this.text.indexOf(end, this.pos);
    if (i < 0) throw new XmlError(`unterminated construct, expected ${end}`, this.line());
    this.pos = i + end.length;
  }

  skipText(): void {
    const i = this.text.indexOf('<', this.pos);
    this.pos = i < 0 ? this.text.length : i;
  }

  element(): XmlElement {
    const line = this.line();
    if (this.text[this.pos] !== '<') throw new XmlError('expected an element', line);
    this.pos++;
    const name = NAME.exec(this.text.slice(this.pos))?.[0];
    if (!name) throw new XmlError('expected an element name', line);
    this.pos += name.length;
    const attrs = this.attributes(line);
    const el: XmlElement = { name, attrs, children: [], line };
    if (this.text.startsWith('/>', this.pos)) {
      this.pos += 2;
      return el;
    }
    if (this.text[this.pos] !== '>') throw new XmlError(`malformed start tag <${name}>`, this.line());
    this.pos++;
    this.content(el);
    return el;
  }

  attributes(line: number): Record<string, string> {
    const attrs: Record<string, string> = {};
    for (let m = ATTR.exec(this.text.slice(this.pos)); m; m = ATTR.exec(this.text.slice(this.pos))) {
      const key = m[1] ?? '';
      if (key in attrs) throw new XmlError(`duplicate attribute ${key}`, line);
      attrs[key] = decode(m[3] ?? m[4] ?? '', line);
      this.pos += m[0].length;
    }
    this.pos += /^\s*/.exec(this.text.slice(this.pos))?.[0].length ?? 0;
    return attrs;
  }

  content(el: XmlElement): void {
    for (;;) {
      this.skipMisc();
      if (this.pos >= this.text.length) throw new XmlError(`<${el.name}> is not closed`, el.line);
      if (this.text.startsWith('</', this.pos)) {
        const m = /^<\/([A-Za-z_][-A-Za-z0-9_.:]*)\s*>/.exec(this.text.slice(this.pos));
        if (m?.[1] !== el.name) throw new XmlError(`expected </${el.name}>`, this.line());
        this.pos += m[0].length;
        return;
      }
      el.children.push(this.element());
    }
  }
}

export function parseXml(text: string): XmlElement {
  const r = new Reader(text.replace(/^\uFEFF/, ''));
  r.skipMisc();
  const root = r.element();
  r.skipMisc();
  if (r.pos < r.text.length) throw new XmlError('content after the root element', r.line());
  return root;
}
