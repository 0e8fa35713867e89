import { labelRows, renderToken, validityText } from '../render/token';
import { ITokenPayload } from '../render/types';

const NOW = 1_800_000_000;

function payload(over: Partial<ITokenPayload> = {}): ITokenPayload {
  return {
    version: 1,
    token: {
      redacted: 'eyJhbGciOi…[redacted]',
      segments: {
        header: 'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0',
        payload: 'eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0L2tpdCJ9',
        signature: 'Qk1wX2…'
      }
    },
    header: { alg: 'RS256', kid: 'kit-1', typ: 'JWT' },
    claims: { iss: 'http://localhost:8123/kit', sub: 'billing-api', aud: 'api://mongodb-kit', exp: NOW + 250 },
    explanations: [
      { claim: 'iss', value: 'http://localhost:8123/kit', meaning: 'who issued the token' },
      { claim: 'sub', value: 'billing-api', meaning: 'the workload it names' },
      { claim: 'nbf', meaning: 'not before: absent, so usable at once' }
    ],
    validity: { iat: NOW - 50, nbf: null, exp: NOW + 250, now: NOW, reauth_at: NOW + 200 },
    verdict: {
      provider: { issuer: 'http://localhost:8123/kit', audience: 'api://mongodb-kit' },
      ok: false,
      rules: [
        { rule: 'format', title: 'three base64url parts', passed: true, detail: null },
        { rule: 'body.aud', title: 'aud matches the provider', passed: false, detail: 'Audience mismatch' },
        { rule: 'signature', title: 'signature verifies', passed: null, detail: null }
      ]
    },
    source: { method: 'client_credentials', principal: 'billing-api', issuer: 'http://localhost:8123/kit', elapsed_ms: 3.2 },
    ...over
  };
}

describe('token renderer', () => {
  it('shows the three parts separately, each in its own coloured block', () => {
    const el = renderToken(payload());
    const parts = Array.from(el.querySelectorAll('[data-part]')).map(p => p.getAttribute('data-part'));
    expect(parts).toEqual(['header', 'payload', 'signature']);
    const header = el.querySelector('.wif-Token-part--header .wif-Token-segment')!;
    expect(header.textContent).toBe('eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0');
  });

  it('never joins header and payload into a usable token', () => {
    const p = payload();
    const text = renderToken(p).textContent!;
    expect(text).not.toContain(`${p.token.segments.header}.${p.token.segments.payload}`);
    expect(text).toContain('eyJhbGciOi…[redacted]');
  });

  it('lists every claim with its meaning, including explained claims the token lacks', () => {
    const el = renderToken(payload());
    const row = el.querySelector('tr[data-claim="sub"]')!;
    expect(row.textContent).toContain('billing-api');
    expect(row.textContent).toContain('the workload it names');
    expect(el.querySelector('tr[data-claim="nbf"]')!.textContent).toContain('(absent)');
    expect(el.querySelector('tr[data-claim="exp"]')!.textContent).toContain('2027-01-15');
  });

  it('puts a now marker inside the validity window of a live token', () => {
    const el = renderToken(payload());
    const now = el.querySelector<HTMLElement>('[data-marker="now"]')!;
    const exp = el.querySelector<HTMLElement>('[data-marker="exp"]')!;
    expect(parseFloat(now.style.left)).toBeGreaterThan(0);
    expect(parseFloat(now.style.left)).toBeLessThan(parseFloat(exp.style.left));
    expect(el.querySelector('[data-marker="reauth"]')).not.toBeNull();
    expect(el.querySelector('.wif-Token-validityText')!.textContent).toBe('valid for another 4 min 10 s');
  });

  it('folds a re-authentication at exp into the exp marker', () => {
    const el = renderToken(payload({ validity: { iat: NOW - 50, exp: NOW + 250, now: NOW, reauth_at: NOW + 250 } }));
    expect(el.querySelector('[data-marker="reauth"]')).toBeNull();
    expect(el.querySelector('.wif-Timeline-legend')!.textContent).toContain('mongod answers 391');
  });

  it('places now after exp for an expired token and says how long ago', () => {
    const v = { iat: NOW - 600, exp: NOW - 90, now: NOW };
    const el = renderToken(payload({ validity: v }));
    const now = el.querySelector<HTMLElement>('[data-marker="now"]')!;
    expect(now.style.left).toBe('100.00%');
    // Its label flips to the left of the marker so it stays inside the output.
    expect(now.classList.contains('wif-Timeline-marker--end')).toBe(true);
    expect(validityText(v)).toBe('expired 1 min 30 s ago');
  });

  it('shows the verdict rule by rule with the failing rule marked', () => {
    const el = renderToken(payload());
    expect(el.querySelector('.wif-Verdict')!.textContent).toContain('Rejected at rule body.aud');
    expect(el.querySelector('[data-rule="format"]')!.className).toContain('wif-Rule--pass');
    expect(el.querySelector('[data-rule="body.aud"]')!.className).toContain('wif-Rule--fail');
    expect(el.querySelector('[data-rule="body.aud"]')!.textContent).toContain('Audience mismatch');
    expect(el.querySelector('[data-rule="signature"]')!.className).toContain('wif-Rule--skip');
  });

  it('says the token was not checked when no verdict is available', () => {
    const el = renderToken(payload({ verdict: null, validity: null }));
    expect(el.querySelector('.wif-Verdict--unknown')!.textContent).toContain('Not checked');
    expect(el.querySelector('.wif-Rules')).toBeNull();
  });

  it('keeps markup in claim values as text', () => {
    const el = renderToken(payload({ claims: { sub: '<img src=x onerror=alert(1)>' } }));
    expect(el.querySelector('img')).toBeNull();
    expect(el.textContent).toContain('<img src=x onerror=alert(1)>');
  });

  it('puts the labels of a fresh token (iat = now) on different rows, far ones on the first row', () => {
    const el = renderToken(payload({ validity: { iat: NOW, nbf: null, exp: NOW + 300, now: NOW, reauth_at: null } }));
    const row = (name: string) => el.querySelector(`[data-marker="${name}"]`)!.getAttribute('data-row');
    expect([row('iat'), row('now'), row('exp')]).toEqual(['0', '1', '0']);
    expect(labelRows([0, 0.05, 0.5, 1, 0.02])).toEqual([0, 1, 0, 0, 2]);
  });

  it('gives the timeline a text alternative and its sections headings, and every table headers', () => {
    const el = renderToken(payload());
    expect(el.querySelector('.wif-Timeline')!.getAttribute('role')).toBe('img');
    expect(el.querySelector('.wif-Timeline')!.getAttribute('aria-label')).toBe('Timeline: valid for another 4 min 10 s');
    const headings = Array.from(el.querySelectorAll('[role="heading"]')).map(e => e.textContent);
    expect(headings).toEqual(['The token, part by part', 'Header', 'Claims', 'Validity window', "The server's verdict"]);
    for (const th of Array.from(el.querySelectorAll('th'))) {
      expect(th.textContent!.trim()).not.toBe('');
      expect(['row', 'col']).toContain(th.getAttribute('scope'));
    }
  });
});
