import { renderServiceCards, renderStatus } from '../render/status';
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

  it('has a header for every column, none empty', () => {
    const el = renderStatus(up);
    const cols = Array.from(el.querySelectorAll('thead th')).map(th => th.textContent);
    expect(cols).toEqual(['service', 'state', 'port', 'details', 'lesson', 'notebook', 'progress']);
    expect(Array.from(el.querySelectorAll('th')).every(th => th.textContent!.trim() !== '')).toBe(true);
  });

  it('lists lessons with progress and the total', () => {
    const el = renderStatus(up);
    expect(el.querySelectorAll('tr[data-lesson]').length).toBe(2);
    expect(el.querySelector('tr[data-lesson="01-what-is-wif"]')!.textContent).toContain('2/3');
    expect(el.textContent).toContain('Lessons (2/7 checks passed)');
  });
});

describe('service cards (side panel)', () => {
  it('shows the kit issuer, the mongod kind and port, and tucks the other issuers away', () => {
    const el = renderServiceCards({
      ...up,
      services: {
        ...up.services,
        idp: { ...up.services.idp, issuers: { ...up.services.idp.issuers, gcp: { issuer: 'http://localhost:8123/gcp' } } }
      }
    });
    const idp = el.querySelector('[data-service="idp"]')!;
    expect(idp.querySelector('.wif-Card-line code')!.textContent).toBe('http://localhost:8123/kit');
    expect(idp.querySelector('details summary')!.textContent).toBe('1 more issuers');
    const mongod = el.querySelector('[data-service="mongod"]')!;
    expect(mongod.querySelector('.wif-Port')!.textContent).toBe('port 27117');
    expect(mongod.querySelector('.wif-Kind')!.textContent).toBe('test-server');
  });

  it('shows a stopped service as down with no port', () => {
    const el = renderServiceCards({ ...up, services: { idp: { running: false }, mongod: { running: false } } });
    expect(el.querySelector('[data-service="idp"] [data-state]')!.textContent).toBe('down');
    expect(el.querySelector('[data-service="idp"] .wif-Port')).toBeNull();
  });
});

describe('lesson progress', () => {
  it('says a lesson without checks has none instead of 0/0', () => {
    const el = renderStatus({ ...up, lessons: [{ id: 'x', title: 'X', path: 'x.ipynb', done: 0, total: 0 }] });
    expect(el.querySelector('tr[data-lesson="x"]')!.textContent).toContain('no checks');
    expect(el.querySelector('tr[data-lesson="x"]')!.textContent).not.toContain('0/0');
  });
});
