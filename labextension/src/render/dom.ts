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
