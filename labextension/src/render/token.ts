/**
 * application/vnd.wif.token+json: a JWT taken apart. The three segments are shown in their own
 * colours as separate blocks (never joined by a dot: what is on screen is not a usable token),
 * every claim with its meaning, the validity window with a "now" marker, and the server's verdict
 * rule by rule.
 */

import { duration, h, heading, show, utc } from './dom';
import { IRuleResult, ITokenPayload, IValidity, IVerdict } from './types';

const TIME_CLAIMS = new Set(['iat', 'nbf', 'exp', 'auth_time']);

export function renderToken(payload: ITokenPayload): HTMLElement {
  return h(
    'div',
    { class: 'wif-Token' },
    renderSegments(payload),
    renderHeader(payload.header ?? {}),
    renderClaims(payload),
    renderValidity(payload.validity ?? null),
    renderVerdict(payload.verdict ?? null),
    renderSource(payload)
  );
}

function renderSegments(payload: ITokenPayload): HTMLElement {
  const segments = payload.token?.segments ?? { header: '', payload: '', signature: '' };
  const part = (name: 'header' | 'payload' | 'signature', what: string) =>
    h(
      'div',
      { class: `wif-Token-part wif-Token-part--${name}`, 'data-part': name },
      h('span', { class: 'wif-Token-partName' }, name),
      h('span', { class: 'wif-Token-partWhat' }, what),
      h('code', { class: 'wif-Token-segment' }, segments[name] ?? '')
    );
  return h(
    'section',
    { class: 'wif-Token-parts' },
    heading(1, 'The token, part by part'),
    h(
      'p',
      { class: 'wif-Token-redacted' },
      'Shown as ',
      h('code', {}, payload.token?.redacted ?? ''),
      ' — the parts below are kept apart and the signature is cut short, so nothing here can be used to log in.'
    ),
    part('header', 'base64url JSON: how it is signed'),
    part('payload', 'base64url JSON: the claims'),
    part('signature', 'RS256/ES256 signature over header.payload (cut short)')
  );
}

function renderHeader(header: Record<string, unknown>): HTMLElement {
  const rows = Object.entries(header).map(([name, value]) =>
    h('tr', {}, h('th', { scope: 'row' }, name), h('td', {}, h('code', {}, show(value))))
  );
  return h(
    'section',
    { class: 'wif-Token-header' },
    heading(1, 'Header'),
    h('table', { class: 'wif-Table' }, h('tbody', {}, ...rows))
  );
}

function renderClaims(payload: ITokenPayload): HTMLElement {
  const claims = payload.claims ?? {};
  const meanings = new Map<string, string>();
  for (const e of payload.explanations ?? []) {
    meanings.set(e.claim, e.meaning);
  }
  const names = Object.keys(claims);
  // A claim the explainer talks about but the token lacks (a missing exp, say) still gets a row.
  for (const e of payload.explanations ?? []) {
    if (!(e.claim in claims)) {
      names.push(e.claim);
    }
  }
  const rows = names.map(name => {
    const present = name in claims;
    const value = claims[name];
    const shown =
      present && TIME_CLAIMS.has(name) && typeof value === 'number'
        ? `${value} (${utc(value)})`
        : present
          ? show(value)
          : '(absent)';
    return h(
      'tr',
      { 'data-claim': name },
      h('th', { scope: 'row' }, h('code', {}, name)),
      h('td', { class: 'wif-Token-claimValue' }, shown),
      h('td', { class: 'wif-Token-meaning' }, meanings.get(name) ?? '')
    );
  });
  return h(
    'section',
    { class: 'wif-Token-claims' },
    heading(1, 'Claims'),
    h(
      'table',
      { class: 'wif-Table' },
      h('thead', {}, h('tr', {}, ...['claim', 'value', 'meaning'].map(name => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, ...rows)
    )
  );
}

/** Where the token stands in time, in words: the sentence next to the timeline. */
export function validityText(v: IValidity): string {
  const now = v.now ?? Date.now() / 1000;
  if (v.nbf !== null && v.nbf !== undefined && now < v.nbf) {
    return `not valid yet: usable in ${duration(v.nbf - now)}`;
  }
  if (v.exp === null || v.exp === undefined) {
    return 'no exp claim: mongod refuses a token without one';
  }
  if (now >= v.exp) {
    return `expired ${duration(now - v.exp)} ago`;
  }
  return `valid for another ${duration(v.exp - now)}`;
}

function renderValidity(v: IValidity | null): HTMLElement {
  const section = h('section', { class: 'wif-Token-validity' }, heading(1, 'Validity window'));
  if (v === null) {
    section.appendChild(h('p', {}, 'No time claims to show.'));
    return section;
  }
  const now = v.now ?? Date.now() / 1000;
  const start = [v.iat, v.nbf].filter((x): x is number => typeof x === 'number');
  const from = start.length ? Math.min(...start) : null;
  const to = typeof v.exp === 'number' ? v.exp : null;
  section.appendChild(h('p', { class: 'wif-Token-validityText' }, validityText(v)));
  if (from === null || to === null || to <= from) {
    return section;
  }
  // The axis covers the window and "now", whichever side of the window it falls on.
  const lo = Math.min(from, now);
  const hi = Math.max(to, now);
  const span = hi - lo || 1;
  const pct = (t: number) => `${(((t - lo) / span) * 100).toFixed(2)}%`;
  const bar = h('div', { class: 'wif-Timeline', role: 'img', 'aria-label': `Timeline: ${validityText(v)}` });
  const window = h('div', { class: 'wif-Timeline-window' });
  window.style.left = pct(from);
  window.style.width = `${(((to - from) / span) * 100).toFixed(2)}%`;
  bar.appendChild(window);
  const marks: [string, number][] = [];
  if (typeof v.iat === 'number') {
    marks.push(['iat', v.iat]);
  }
  if (typeof v.nbf === 'number' && v.nbf !== v.iat) {
    marks.push(['nbf', v.nbf]);
  }
  marks.push(['exp', to]);
  if (typeof v.reauth_at === 'number' && v.reauth_at !== to) {
    marks.push(['reauth', v.reauth_at]);
  }
  marks.push(['now', now]);
  const rows = labelRows(marks.map(([, t]) => (t - lo) / span));
  // Which row each label takes and how many there are; style/base.css turns rows into places.
  bar.style.setProperty('--wif-label-rows', String(Math.max(...rows)));
  marks.forEach(([name, t], i) => {
    const m = h(
      'div',
      { class: `wif-Timeline-marker wif-Timeline-marker--${name}`, 'data-marker': name, 'data-row': String(rows[i]) },
      h('span', {}, name)
    );
    m.style.left = pct(t);
    m.style.setProperty('--wif-label-row', String(rows[i]));
    if ((t - lo) / span > 0.85) {
      // Near the right edge the label goes to the marker's left so it stays inside the output.
      m.classList.add('wif-Timeline-marker--end');
    }
    bar.appendChild(m);
  });
  section.appendChild(bar);
  const legend = h(
    'ul',
    { class: 'wif-Timeline-legend' },
    typeof v.iat === 'number' ? h('li', {}, `iat — issued ${utc(v.iat)}`) : null,
    typeof v.nbf === 'number' ? h('li', {}, `nbf — not before ${utc(v.nbf)}`) : null,
    h('li', {}, `exp — expires ${utc(to)}`),
    typeof v.reauth_at === 'number'
      ? h(
          'li',
          {},
          v.reauth_at === to
            ? 'reauth — at exp: mongod answers 391 (ReauthenticationRequired) and the driver fetches a new token'
            : `reauth — the driver fetches a new token around ${utc(v.reauth_at)}`
        )
      : null,
    h('li', {}, `now — ${utc(now)} (when this was checked)`)
  );
  section.appendChild(legend);
  return section;
}

/** Labels closer than this (a fraction of the timeline) would print over each other. */
const LABEL_GAP = 0.1;

/**
 * A row for each timeline label (0 above the line, 1 below it, 2 further below), given their
 * positions as fractions: the first free row where no label already placed is too close. A fresh
 * token's iat and now fall on the same spot and so go to different rows.
 */
export function labelRows(positions: number[]): number[] {
  const placed: [number, number][] = [];
  return positions.map(x => {
    let row = 0;
    while (placed.some(([px, pr]) => pr === row && Math.abs(px - x) < LABEL_GAP)) {
      row += 1;
    }
    placed.push([x, row]);
    return row;
  });
}

function ruleMark(passed: boolean | null): string {
  return passed === true ? '✓' : passed === false ? '✗' : '–';
}

function ruleState(passed: boolean | null): string {
  return passed === true ? 'pass' : passed === false ? 'fail' : 'skip';
}

function renderRule(r: IRuleResult): HTMLElement {
  return h(
    'li',
    { class: `wif-Rule wif-Rule--${ruleState(r.passed)}`, 'data-rule': r.rule },
    h('span', { class: 'wif-Rule-mark' }, ruleMark(r.passed)),
    h('span', { class: 'wif-Rule-title' }, r.title || r.rule),
    h('code', { class: 'wif-Rule-id' }, r.rule),
    r.detail ? h('span', { class: 'wif-Rule-detail' }, r.detail) : null
  );
}

function renderVerdict(verdict: IVerdict | null): HTMLElement {
  const section = h('section', { class: 'wif-Token-verdict' }, heading(1, "The server's verdict"));
  if (verdict === null) {
    section.appendChild(
      h(
        'p',
        { class: 'wif-Verdict wif-Verdict--unknown' },
        'Not checked: no server configuration was available (start the kit with `wif up`).'
      )
    );
    return section;
  }
  const failed = verdict.rules.find(r => r.passed === false);
  section.appendChild(
    h(
      'p',
      { class: `wif-Verdict wif-Verdict--${verdict.ok ? 'ok' : 'rejected'}` },
      verdict.ok
        ? 'Accepted: mongod would authenticate this token.'
        : `Rejected at rule ${failed ? failed.rule : '?'}: mongod answers with error 18 (AuthenticationFailed).`
    )
  );
  if (verdict.provider) {
    section.appendChild(
      h(
        'p',
        { class: 'wif-Verdict-provider' },
        'Checked against the oidcIdentityProviders entry for issuer ',
        h('code', {}, verdict.provider.issuer ?? '?'),
        ', audience ',
        h('code', {}, verdict.provider.audience ?? '?')
      )
    );
  }
  section.appendChild(h('ol', { class: 'wif-Rules' }, ...verdict.rules.map(renderRule)));
  return section;
}

function renderSource(payload: ITokenPayload): HTMLElement | null {
  const src = payload.source;
  if (!src) {
    return null;
  }
  const bits: string[] = [];
  if (src.method) {
    bits.push(`obtained with ${src.method}`);
  }
  if (src.principal) {
    bits.push(`as ${src.principal}`);
  }
  if (src.issuer) {
    bits.push(`from ${src.issuer}`);
  }
  if (typeof src.elapsed_ms === 'number') {
    bits.push(`in ${src.elapsed_ms.toFixed(1)} ms`);
  }
  return h('p', { class: 'wif-Token-source' }, bits.join(' '));
}
