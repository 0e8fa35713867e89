/**
 * application/vnd.wif.flow+json: an exchange (client, mongod, IdP ...) as a sequence diagram in SVG:
 * one lifeline per participant, one arrow per message in time order; replies dashed, errors red
 * with their MongoDB error code. Each arrow's detail is its tooltip and is listed below the diagram.
 */

import { h, s } from './dom';
import { IFlowMessage, IFlowPayload } from './types';

const COL = 200;
const MARGIN_LEFT = 70;
const HEAD = 44;
const ROW = 46;

function participantsOf(payload: IFlowPayload): string[] {
  const names = [...(payload.participants ?? [])];
  // A message may name a participant the list left out; draw it rather than drop the message.
  for (const m of payload.messages ?? []) {
    for (const name of [m.from, m.to]) {
      if (!names.includes(name)) {
        names.push(name);
      }
    }
  }
  return names;
}

export function messageLabel(m: IFlowMessage): string {
  return m.kind === 'error' && m.code !== null && m.code !== undefined
    ? `${m.label} (code ${m.code})`
    : m.label;
}

function ms(t: number, t0: number): string {
  const dt = (t - t0) * 1000;
  return `+${dt < 10 ? dt.toFixed(1) : Math.round(dt)} ms`;
}

export function renderFlow(payload: IFlowPayload): HTMLElement {
  const names = participantsOf(payload);
  const messages = payload.messages ?? [];
  const x = (name: string) => MARGIN_LEFT + names.indexOf(name) * COL + COL / 2;
  const width = MARGIN_LEFT + names.length * COL;
  const height = HEAD + 20 + messages.length * ROW + 10;
  const t0 = messages.length ? messages[0].t : 0;

  const svg = s('svg', {
    class: 'wif-Flow-svg',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Sequence diagram: ${messages.length} messages between ${names.join(', ')}`
  });
  svg.appendChild(
    s(
      'defs',
      {},
      ...['request', 'reply', 'error'].map(kind =>
        s(
          'marker',
          {
            id: `wif-arrow-${kind}`,
            class: `wif-Flow-head wif-Flow-head--${kind}`,
            viewBox: '0 0 10 10',
            refX: 9,
            refY: 5,
            markerWidth: 8,
            markerHeight: 8,
            orient: 'auto-start-reverse'
          },
          s('path', { d: 'M 0 0 L 10 5 L 0 10 z' })
        )
      )
    )
  );
  for (const name of names) {
    const cx = x(name);
    svg.appendChild(
      s(
        'g',
        { class: 'wif-Flow-participant', 'data-participant': name },
        s('rect', { x: cx - 70, y: 6, width: 140, height: 28, rx: 5 }),
        s('text', { x: cx, y: 25, 'text-anchor': 'middle' }, name),
        s('line', { x1: cx, y1: 34, x2: cx, y2: height - 4, class: 'wif-Flow-lifeline' })
      )
    );
  }
  messages.forEach((m, i) => {
    const y = HEAD + 20 + i * ROW;
    const x1 = x(m.from);
    const x2 = x(m.to);
    const g = s('g', {
      class: `wif-Flow-message wif-Flow-message--${m.kind}`,
      'data-kind': m.kind,
      'data-index': i
    });
    if (m.detail) {
      g.appendChild(s('title', {}, m.detail));
    }
    g.appendChild(s('text', { x: 6, y: y + 4, class: 'wif-Flow-time' }, ms(m.t, t0)));
    if (x1 === x2) {
      // A participant talking to itself (a JWKS refresh inside mongod): a small loop.
      g.appendChild(
        s('path', {
          d: `M ${x1} ${y - 6} h 40 v 14 h -38`,
          fill: 'none',
          'marker-end': `url(#wif-arrow-${m.kind})`
        })
      );
      g.appendChild(s('text', { x: x1 + 46, y: y + 4 }, messageLabel(m)));
    } else {
      const dir = x2 > x1 ? 1 : -1;
      g.appendChild(
        s('line', {
          x1,
          y1: y,
          x2: x2 - dir * 2,
          y2: y,
          'marker-end': `url(#wif-arrow-${m.kind})`
        })
      );
      g.appendChild(
        s('text', { x: (x1 + x2) / 2, y: y - 7, 'text-anchor': 'middle' }, messageLabel(m))
      );
    }
    svg.appendChild(g);
  });

  const list = h(
    'ol',
    { class: 'wif-Flow-list' },
    ...messages.map(m =>
      h(
        'li',
        { class: `wif-Flow-item wif-Flow-item--${m.kind}` },
        h('span', { class: 'wif-Flow-itemTime' }, ms(m.t, t0)),
        ` ${m.from} → ${m.to}: `,
        h('strong', {}, messageLabel(m)),
        m.detail ? h('span', { class: 'wif-Flow-itemDetail' }, ` — ${m.detail}`) : null
      )
    )
  );
  return h(
    'div',
    { class: 'wif-Flow' },
    h('div', { class: 'wif-Flow-diagram' }, svg),
    h('details', {}, h('summary', {}, `The ${messages.length} messages in words`), list)
  );
}
