/**
 * application/vnd.wif.status+json: the kit's services (IdP, test mongod) and progress through the
 * lessons. The side panel builds on the same pieces.
 */

import { h, heading, uri } from './dom';
import { ILessonStatus, IStatusPayload } from './types';

export function upDown(running: boolean): HTMLElement {
  return h(
    'span',
    { class: `wif-State wif-State--${running ? 'up' : 'down'}`, 'data-state': running ? 'up' : 'down' },
    running ? 'up' : 'down'
  );
}

export function renderServices(payload: IStatusPayload): HTMLElement {
  const { idp, mongod } = payload.services;
  const issuers = Object.entries(idp.issuers ?? {});
  const idpDetail = idp.running
    ? h(
        'div',
        {},
        uri(idp.base_url ?? ''),
        issuers.length
          ? h(
              'ul',
              { class: 'wif-Issuers' },
              ...issuers.map(([id, info]) =>
                h('li', {}, h('strong', {}, id), ' ', uri(info.issuer ?? ''))
              )
            )
          : null
      )
    : h('span', { class: 'wif-Muted' }, 'start it with `wif up` or the Start command');
  const mongodDetail = mongod.running
    ? h(
        'div',
        {},
        h('span', { class: 'wif-Kind' }, mongod.kind ?? 'test-server'),
        ' ',
        uri(mongod.mongodb_uri ?? '')
      )
    : h('span', { class: 'wif-Muted' }, 'not running');
  const row = (name: string, label: string, running: boolean, port: number | undefined, detail: Node) =>
    h(
      'tr',
      { 'data-service': name },
      h('th', { scope: 'row' }, label),
      h('td', {}, upDown(running)),
      h('td', { class: 'wif-Port' }, running && port !== undefined ? String(port) : '—'),
      h('td', {}, detail)
    );
  return h(
    'table',
    { class: 'wif-Table wif-Services' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ...['service', 'state', 'port', 'details'].map(name => h('th', { scope: 'col' }, name))
      )
    ),
    h(
      'tbody',
      {},
      row('idp', 'identity provider', idp.running, idp.port, idpDetail),
      row('mongod', 'mongod', mongod.running, mongod.port, mongodDetail)
    )
  );
}

/** The services as stacked cards: the narrow side panel's version of the services table. */
export function renderServiceCards(payload: IStatusPayload): HTMLElement {
  const { idp, mongod } = payload.services;
  const card = (name: string, label: string, running: boolean, port: number | undefined, ...body: Node[]) =>
    h(
      'div',
      { class: 'wif-Card', 'data-service': name, 'data-key': name },
      h(
        'div',
        { class: 'wif-Card-head' },
        h('strong', {}, label),
        ' ',
        upDown(running),
        running && port !== undefined ? h('span', { class: 'wif-Port' }, `port ${port}`) : null
      ),
      ...body
    );
  const kit = idp.issuers?.kit;
  const others = Object.entries(idp.issuers ?? {}).filter(([id]) => id !== 'kit');
  const idpBody: Node[] = idp.running
    ? ([
        h('div', { class: 'wif-Card-line' }, 'issuer ', uri(kit?.issuer ?? idp.base_url ?? '')),
        others.length
          ? h(
              'details',
              { class: 'wif-Card-line' },
              h('summary', {}, `${others.length} more issuers`),
              h(
                'ul',
                { class: 'wif-Issuers' },
                ...others.map(([id, info]) => h('li', {}, h('strong', {}, id), ' ', uri(info.issuer ?? '')))
              )
            )
          : null
      ].filter(n => n !== null) as Node[])
    : [];
  const mongodBody: Node[] = mongod.running
    ? [
        h('div', { class: 'wif-Card-line' }, h('span', { class: 'wif-Kind' }, mongod.kind ?? 'test-server')),
        h('div', { class: 'wif-Card-line' }, uri(mongod.mongodb_uri ?? ''))
      ]
    : [];
  return h(
    'div',
    { class: 'wif-Cards' },
    card('idp', 'Identity provider', idp.running, idp.port, ...idpBody),
    card('mongod', 'mongod', mongod.running, mongod.port, ...mongodBody)
  );
}

export function progressBar(lesson: ILessonStatus): HTMLElement {
  if (lesson.total === 0) {
    return h('span', { class: 'wif-Progress wif-Muted', title: 'this lesson has no checks' }, 'no checks');
  }
  const pct = lesson.total > 0 ? Math.round((lesson.done / lesson.total) * 100) : 0;
  const fill = h('span', { class: 'wif-Progress-fill' });
  fill.style.width = `${pct}%`;
  return h(
    'span',
    { class: 'wif-Progress', title: `${lesson.done} of ${lesson.total} checks passed` },
    h('span', { class: 'wif-Progress-bar' }, fill),
    h('span', { class: 'wif-Progress-text' }, `${lesson.done}/${lesson.total}`)
  );
}

export function overallProgress(lessons: ILessonStatus[]): { done: number; total: number } {
  return lessons.reduce(
    (acc, l) => ({ done: acc.done + l.done, total: acc.total + l.total }),
    { done: 0, total: 0 }
  );
}

export function renderStatus(payload: IStatusPayload): HTMLElement {
  const lessons = payload.lessons ?? [];
  const total = overallProgress(lessons);
  return h(
    'div',
    { class: 'wif-Status' },
    heading(1, 'Services'),
    renderServices(payload),
    h('p', { class: 'wif-Muted' }, 'State directory ', uri(payload.state_dir)),
    heading(1, `Lessons (${total.done}/${total.total} checks passed)`),
    lessons.length
      ? h(
          'table',
          { class: 'wif-Table wif-Lessons' },
          h(
            'thead',
            {},
            h('tr', {}, ...['lesson', 'notebook', 'progress'].map(name => h('th', { scope: 'col' }, name)))
          ),
          h(
            'tbody',
            {},
            ...lessons.map(l =>
              h(
                'tr',
                { 'data-lesson': l.id },
                h('th', { scope: 'row' }, l.title),
                h('td', {}, uri(l.path)),
                h('td', {}, progressBar(l))
              )
            )
          )
        )
      : h('p', { class: 'wif-Muted' }, 'No lessons found.')
  );
}
