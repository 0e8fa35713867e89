/**
 * Small DOM builders. Every text goes in through textContent, never innerHTML: payloads carry
 * claim values chosen by whoever minted the token.
 */

export type Child = Node | string | number | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: Child[]
): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.appendChild(
      typeof child === 'string' || typeof child === 'number'
        ? document.createTextNode(String(child))
        : child
    );
  }
}

/** A JSON value as one line of text (strings without quotes). */
export function show(value: unknown): string {
  if (value === null || value === undefined) {
    return '—';
  }
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value);
}

/** "4 min 10 s", "2 h 5 min", "12 s": a duration in seconds for people. */
export function duration(seconds: number): string {
  const total = Math.round(Math.abs(seconds));
  if (total < 60) {
    return `${total} s`;
  }
  if (total < 3600) {
    const m = Math.floor(total / 60);
    const rest = total % 60;
    return rest ? `${m} min ${rest} s` : `${m} min`;
  }
  const hours = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  return m ? `${hours} h ${m} min` : `${hours} h`;
}

/** A NumericDate (seconds since the epoch) as UTC text. */
export function utc(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z').replace('T', ' ');
}

/**
 * A URI or path as code that wraps only after its separators (/ . ? & = : -), never inside a
 * word: the side panel is 250 px wide and a URL is one long word.
 */
export function uri(text: string): HTMLElement {
  const el = h('code', { class: 'wif-Uri' });
  for (const piece of text.split(/(?<=[/.?&=:-])/)) {
    el.appendChild(document.createTextNode(piece));
    el.appendChild(document.createElement('wbr'));
  }
  if (el.lastChild) {
    el.removeChild(el.lastChild);
  }
  return el;
}

/**
 * A heading whose level is set where it is shown (see setHeadingLevels): `depth` 1 is one level
 * below the heading the output sits under (a lesson's "## Tokens" makes it level 3).
 */
export function heading(depth: number, ...children: Child[]): HTMLElement {
  return h(
    'div',
    { class: 'wif-Heading', role: 'heading', 'aria-level': String(2 + depth), 'data-depth': String(depth) },
    ...children
  );
}

const HEADINGS = 'h1, h2, h3, h4, h5, h6, [role="heading"]';

function levelOf(el: Element): number {
  const tag = /^H([1-6])$/.exec(el.tagName);
  return tag ? Number(tag[1]) : Number(el.getAttribute('aria-level')) || 2;
}

/**
 * Nest the headings of `node` (made by heading()) under the last heading before it inside
 * `scope` (the notebook), so a lesson's h2 is followed by h3s, never h4s. Headings of other
 * outputs made by heading() do not count: outputs are siblings under the lesson's heading.
 */
export function setHeadingLevels(node: HTMLElement, scope: Element | null): void {
  let base = 1;
  if (scope) {
    for (const el of Array.from(scope.querySelectorAll(HEADINGS))) {
      if (node.contains(el) || el.hasAttribute('data-depth')) {
        continue;
      }
      if (el.compareDocumentPosition(node) & Node.DOCUMENT_POSITION_FOLLOWING) {
        base = levelOf(el);
      }
    }
  }
  for (const el of Array.from(node.querySelectorAll('[data-depth]'))) {
    const depth = Number(el.getAttribute('data-depth')) || 1;
    el.setAttribute('aria-level', String(Math.min(6, base + depth)));
  }
}

/**
 * Make `target` look like `source` by changing only what differs, so focus, scroll position,
 * open <details> and text selection survive a redraw. Children with a `data-key` are matched by
 * key (a lesson that moves keeps its element), others by position. Event handlers live on an
 * ancestor (delegation), so nothing is lost when `source`'s nodes are dropped.
 */
export function patch(target: Element, source: Element): void {
  for (const attr of Array.from(target.attributes)) {
    if (!source.hasAttribute(attr.name) && !(attr.name === 'open' && target.tagName === 'DETAILS')) {
      target.removeAttribute(attr.name);
    }
  }
  for (const attr of Array.from(source.attributes)) {
    if (target.getAttribute(attr.name) !== attr.value) {
      target.setAttribute(attr.name, attr.value);
    }
  }
  patchChildren(target, source);
}

function sameKind(a: Node, b: Node): boolean {
  return (
    a.nodeType === b.nodeType &&
    a.nodeName === b.nodeName &&
    (a.nodeType !== Node.ELEMENT_NODE ||
      (a as Element).getAttribute('data-key') === (b as Element).getAttribute('data-key'))
  );
}

function patchChildren(target: Element, source: Element): void {
  const keyed = new Map<string, Element>();
  for (const child of Array.from(target.children)) {
    const key = child.getAttribute('data-key');
    if (key !== null) {
      keyed.set(key, child);
    }
  }
  const wanted = Array.from(source.childNodes);
  let cursor: ChildNode | null = target.firstChild;
  for (const next of wanted) {
    const key = next.nodeType === Node.ELEMENT_NODE ? (next as Element).getAttribute('data-key') : null;
    let match: ChildNode | null = null;
    if (key !== null) {
      match = keyed.get(key) ?? null;
      if (match && match.nodeName !== next.nodeName) {
        match = null;
      }
    } else if (cursor && sameKind(cursor, next)) {
      match = cursor;
    }
    if (match === null) {
      target.insertBefore(next, cursor);
      continue;
    }
    if (match !== cursor) {
      target.insertBefore(match, cursor);
    }
    if (match.nodeType === Node.TEXT_NODE) {
      if (match.nodeValue !== next.nodeValue) {
        match.nodeValue = next.nodeValue;
      }
    } else if (match.nodeType === Node.ELEMENT_NODE) {
      patch(match as Element, next as Element);
    }
    cursor = match.nextSibling;
  }
  while (cursor) {
    const gone = cursor;
    cursor = cursor.nextSibling;
    target.removeChild(gone);
  }
}
