import { renderStatus } from '../render/status';
import { IStatusPayload } from '../render/types';

const up: IStatusPayload = {
  version: 1,
  state_dir: '/tmp/state',
  services: {
    idp: {
      running: true,
      pid: 1,
      port: 8123,
      base_url: 'http://localhost:8123',
      issuers: { kit: { issuer: 'http://localhost:8123/kit', audience: 'api://mongodb-kit' } }
    },
    mongod: { running: true, kind: 'test-server', pid: 2, port: 27117, mongodb_uri: 'mongodb://127.0.0.1:27117/' }
  },
  lessons: [
    { id: '01-what-is-wif', title: 'What is WIF', path: 'notebooks/01-what-is-wif.ipynb', done: 2, total: 3 },
    { id: '02-tokens', title: 'Tokens', path: 'notebooks/02-tokens.ipynb', done: 0, total: 4 }
  ]
};

describe('status renderer', () => {
  it('shows both services up with ports, issuer and which mongod', () => {
    const el = renderStatus(up);
    const idp = el.querySelector('tr[data-service="idp"]')!;
    expect(idp.querySelector('[data-state]')!.textContent).toBe('up');
    expect(idp.textContent).toContain('8123');
    expect(idp.textContent).toContain('http://localhost:8123/kit');
    const mongod = el.querySelector('tr[data-service="mongod"]')!;
    expect(mongod.textContent).toContain('test-server');
    expect(mongod.textContent).toContain('27117');
  });

  it('shows stopped services as down without ports', () => {
    const el = renderStatus({ ...up, services: { idp: { running: false }, mongod: { running: false } } });
    const states = Array.from(el.querySelectorAll('[data-state]')).map(s => s.textContent);
    expect(states).toEqual(['down', 'down']);
    expect(el.querySelector('tr[data-service="mongod"] .wif-Port')!.textContent).toBe('—');
  });

  it('lists lessons with progress and the total', () => {
    const el = renderStatus(up);
    expect(el.querySelectorAll('tr[data-lesson]').length).toBe(2);
    expect(el.querySelector('tr[data-lesson="01-what-is-wif"]')!.textContent).toContain('2/3');
    expect(el.textContent).toContain('Lessons (2/7 checks passed)');
  });
});
