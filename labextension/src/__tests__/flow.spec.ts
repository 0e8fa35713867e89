import { renderFlow } from '../render/flow';
import { IFlowPayload } from '../render/types';

const flow: IFlowPayload = {
  version: 1,
  participants: ['client', 'mongod', 'idp'],
  messages: [
    { t: 10.0, from: 'client', to: 'idp', label: 'POST /kit/token', detail: 'client_credentials', kind: 'request', code: null },
    { t: 10.004, from: 'idp', to: 'client', label: '200 access_token', detail: null, kind: 'reply', code: null },
    { t: 10.01, from: 'client', to: 'mongod', label: 'saslStart MONGODB-OIDC', detail: 'jwt', kind: 'request', code: null },
    { t: 10.02, from: 'mongod', to: 'mongod', label: 'JWKS refresh', detail: null, kind: 'request', code: null },
    { t: 10.03, from: 'mongod', to: 'client', label: 'Authentication failed', detail: 'aud', kind: 'error', code: 18 }
  ]
};

describe('flow renderer', () => {
  it('draws one lifeline per participant and one arrow per message, in order', () => {
    const el = renderFlow(flow);
    const svg = el.querySelector('svg')!;
    const names = Array.from(svg.querySelectorAll('[data-participant]')).map(g => g.getAttribute('data-participant'));
    expect(names).toEqual(['client', 'mongod', 'idp']);
    const msgs = svg.querySelectorAll('.wif-Flow-message');
    expect(msgs.length).toBe(5);
    expect(msgs[0].textContent).toContain('POST /kit/token');
  });

  it('points request arrows from the sender to the receiver', () => {
    const svg = renderFlow(flow).querySelector('svg')!;
    const x = (name: string) =>
      Number(svg.querySelector(`[data-participant="${name}"] line`)!.getAttribute('x1'));
    const first = svg.querySelector('[data-index="0"] line')!;
    expect(Number(first.getAttribute('x1'))).toBe(x('client'));
    expect(Number(first.getAttribute('x2'))).toBeGreaterThan(x('mongod'));
    expect(Number(first.getAttribute('x2'))).toBeLessThanOrEqual(x('idp'));
  });

  it('marks errors with their MongoDB code and replies as replies', () => {
    const svg = renderFlow(flow).querySelector('svg')!;
    const err = svg.querySelector('[data-index="4"]')!;
    expect(err.getAttribute('data-kind')).toBe('error');
    expect(err.textContent).toContain('Authentication failed (code 18)');
    expect(svg.querySelector('[data-index="1"]')!.getAttribute('data-kind')).toBe('reply');
  });

  it('shows time relative to the first message and details as tooltips', () => {
    const el = renderFlow(flow);
    expect(el.querySelector('[data-index="1"] .wif-Flow-time')!.textContent).toBe('+4.0 ms');
    expect(el.querySelector('[data-index="0"] title')!.textContent).toBe('client_credentials');
  });

  it('draws a participant a message names but the list leaves out', () => {
    const el = renderFlow({ ...flow, participants: ['client'], messages: flow.messages.slice(0, 1) });
    expect(el.querySelectorAll('[data-participant]').length).toBe(2);
  });
});
