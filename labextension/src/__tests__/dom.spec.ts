import { h, heading, patch, setHeadingLevels, uri } from '../render/dom';

describe('patch (in-place redraw)', () => {
  it('changes only what differs: the focused button and an opened details stay the same elements', () => {
    const live = h(
      'div',
      {},
      h('p', {}, 'IdP down'),
      h('details', {}, h('summary', {}, '2 more issuers')),
      h('button', { 'data-command': 'start' }, 'Start')
    );
    document.body.appendChild(live);
    const button = live.querySelector('button')!;
    const details = live.querySelector('details')!;
    details.open = true;
    button.focus();
    patch(
      live,
      h(
        'div',
        {},
        h('p', {}, 'IdP up'),
        h('details', {}, h('summary', {}, '3 more issuers')),
        h('button', { 'data-command': 'start', 'aria-disabled': 'true' }, 'Start')
      )
    );
    expect(live.querySelector('p')!.textContent).toBe('IdP up');
    expect(live.querySelector('button')).toBe(button);
    expect(button.getAttribute('aria-disabled')).toBe('true');
    expect(document.activeElement).toBe(button);
    expect(live.querySelector('details')).toBe(details);
    expect(details.open).toBe(true);
    expect(details.textContent).toBe('3 more issuers');
    live.remove();
  });

  it('matches keyed children by key: a lesson keeps its element when others come and go', () => {
    const list = (...ids: string[]) => h('ul', {}, ...ids.map(id => h('li', { 'data-key': id }, id)));
    const live = list('01', '02', '03');
    const second = live.children[1];
    patch(live, list('00', '02', '03'));
    expect(Array.from(live.children).map(li => li.textContent)).toEqual(['00', '02', '03']);
    expect(live.children[1]).toBe(second);
    patch(live, list('03', '02'));
    expect(Array.from(live.children).map(li => li.textContent)).toEqual(['03', '02']);
    expect(live.children[1]).toBe(second);
  });

  it('replaces an element whose tag changed and drops attributes the new view lacks', () => {
    const live = h('div', {}, h('p', { class: 'wif-Muted', title: 'x' }, 'Asking the server…'));
    patch(live, h('div', {}, h('p', { class: 'wif-Panel-overall' }, '1 of 2'), h('ul', {})));
    expect(live.innerHTML).toBe('<p class="wif-Panel-overall">1 of 2</p><ul></ul>');
  });
});

describe('uri', () => {
  it('keeps the text and offers line breaks only after separators', () => {
    const el = uri('http://localhost:8123/kit');
    expect(el.textContent).toBe('http://localhost:8123/kit');
    const pieces = Array.from(el.childNodes)
      .filter(n => n.nodeType === Node.TEXT_NODE)
      .map(n => n.textContent);
    expect(pieces).toEqual(['http:', '/', '/', 'localhost:', '8123/', 'kit']);
    expect(el.querySelectorAll('wbr').length).toBe(pieces.length - 1);
  });
});

describe('heading levels', () => {
  it('nest one level below the last heading before the output in its notebook, not an output\'s', () => {
    const earlier = h('div', {}, heading(1, 'Services'));
    const notebook = h('div', {}, h('h1', {}, 'Lesson'), h('h2', {}, 'Tokens'), earlier);
    const output = h('div', {}, heading(1, 'Claims'), heading(2, 'Detail'));
    notebook.appendChild(output);
    notebook.appendChild(h('h2', {}, 'After'));
    setHeadingLevels(output, notebook);
    const levels = Array.from(output.querySelectorAll('[role="heading"]')).map(e => e.getAttribute('aria-level'));
    expect(levels).toEqual(['3', '4']);
  });

  it('start at level 2 when nothing comes before them', () => {
    const output = h('div', {}, heading(1, 'Services'));
    setHeadingLevels(output, null);
    expect(output.firstElementChild!.getAttribute('aria-level')).toBe('2');
  });
});
