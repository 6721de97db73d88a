/**
 * A small XML 1.0 well-formedness check, enough for the documents cedargate writes (JUnit):
 * one root element, tags nested and closed in order, attributes quoted and unique, no raw `<`
 * or stray `&` in text or attributes, only the five predefined entities and character
 * references, no character XML cannot hold. Returns the elements, for counting.
 */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  /** Text content directly inside, entities decoded. */
  text: string;
  children: XmlElement[];
}

const NAME = /^[A-Za-z_][\w.-]*$/;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
// eslint-disable-next-line no-control-regex
const BAD_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

function decode(raw: string, where: string): string {
  if (raw.includes('<')) throw new Error(`raw < in ${where}`);
  if (BAD_CHAR.test(raw)) throw new Error(`a character XML cannot hold in ${where}`);
  return raw.replace(/&([^;]*);?/g, (whole, body: string) => {
    if (!whole.endsWith(';')) throw new Error(`unterminated & in ${where}: ${whole}`);
    if (body in ENTITIES) return ENTITIES[body] ?? '';
    const m = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(body);
    if (m === null) throw new Error(`unknown entity &${body}; in ${where}`);
    const code = body.startsWith('#x') ? parseInt(body.slice(2), 16) : Number(body.slice(1));
    const ch = String.fromCodePoint(code);
    if (BAD_CHAR.test(ch)) throw new Error(`reference to a character XML cannot hold in ${where}`);
    return ch;
  });
}

/** Parses `doc`; throws an Error saying what is not well-formed. */
export function parseXml(doc: string): XmlElement {
  let rest = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlElement[] = [];
  let root: XmlElement | null = null;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const textPart = lt === -1 ? rest : rest.slice(0, lt);
    if (textPart.length > 0) {
      const top = stack[stack.length - 1];
      if (top === undefined) {
        if (textPart.trim() !== '') throw new Error('text outside the root element');
      } else top.text += decode(textPart, `<${top.name}>`);
    }
    if (lt === -1) break;
    rest = rest.slice(lt);
    const end = /^<(\/?)([^\s/>]+)((?:\s+[^\s=]+="[^"]*")*)\s*(\/?)>/.exec(rest);
    if (end === null) throw new Error(`malformed tag at: ${rest.slice(0, 60)}`);
    const [whole, closing, name = '', attrText = '', selfClosing] = end;
    rest = rest.slice(whole.length);
    if (!NAME.test(name)) throw new Error(`bad element name ${name}`);
    if (closing === '/') {
      const open = stack.pop();
      if (open?.name !== name) throw new Error(`</${name}> closes <${open?.name ?? 'nothing'}>`);
      continue;
    }
    const attributes: Record<string, string> = {};
    for (const m of attrText.matchAll(/([^\s=]+)="([^"]*)"/g)) {
      const [, key = '', value = ''] = m;
      if (!NAME.test(key)) throw new Error(`bad attribute name ${key}`);
      if (key in attributes) throw new Error(`attribute ${key} twice on <${name}>`);
      attributes[key] = decode(value, `${name}@${key}`);
    }
    const el: XmlElement = { name, attributes, text: '', children: [] };
    const parent = stack[stack.length - 1];
    if (parent === undefined) {
      if (root !== null) throw new Error('a second root element');
      root = el;
    } else parent.children.push(el);
    if (selfClosing !== '/') stack.push(el);
  }
  if (stack.length > 0) throw new Error(`<${stack[stack.length - 1]?.name}> is never closed`);
  if (root === null) throw new Error('no root element');
  return root;
}
