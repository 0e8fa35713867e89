/**
 * The "Workload Identity" side panel: the services (IdP and test mongod: up or down, ports,
 * issuer, which mongod), buttons to start, stop and reset them, and the lessons with progress
 * (each a button that opens it). It is a labelled region.
 *
 * Every change of the shared StatusModel draws the panel afresh off-screen and patches only what
 * differs into the live DOM (render/dom.ts `patch`): the focused control, the scroll position and
 * an opened "more issuers" section survive the 3-second polls, Start/Stop and Reset. Clicks are
 * handled once on the panel (delegation), and busy buttons are aria-disabled rather than disabled
 * so the button a keyboard user just pressed keeps focus.
 */

import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { StatusModel } from './api';
import { h, patch, uri } from './render/dom';
import { overallProgress, progressBar, renderServiceCards } from './render/status';

export const CommandIDs = {
  start: 'wif-notebook:start-services',
  stop: 'wif-notebook:stop-services',
  reset: 'wif-notebook:reset-services',
  openLesson: 'wif-notebook:open-lesson',
  openPanel: 'wif-notebook:open-panel'
};

const TITLE_ID = 'wif-notebook-panel-title';

/** Run the command named by the clicked element's data-command (with its data-lesson, if any). */
function delegateClicks(node: HTMLElement, commands: CommandRegistry, isBusy: () => boolean): void {
  node.addEventListener('click', (ev: MouseEvent) => {
    const target = (ev.target as Element | null)?.closest<HTMLElement>('[data-command]');
    if (!target || !node.contains(target) || target.getAttribute('aria-disabled') === 'true') {
      return;
    }
    if (target.dataset.busyBlocks !== undefined && isBusy()) {
      return;
    }
    const lesson = target.dataset.lesson;
    void commands.execute(target.dataset.command!, lesson ? { id: lesson } : {});
  });
}

export class WifPanel extends Widget {
  constructor(
    private readonly model: StatusModel,
    commands: CommandRegistry
  ) {
    super();
    this.id = 'wif-notebook-panel';
    this.addClass('wif-Panel');
    this.title.caption = 'Workload Identity';
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-labelledby', TITLE_ID);
    delegateClicks(this.node, commands, () => this.model.busy !== null);
    model.changed.connect(this.draw, this);
    this.draw();
  }

  dispose(): void {
    this.model.changed.disconnect(this.draw, this);
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    this.model.watch(true);
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.model.watch(false);
  }

  private button(label: string, command: string, cls: string, description: string): HTMLButtonElement {
    const busy = this.model.busy !== null;
    return h(
      'button',
      {
        type: 'button',
        class: `jp-Button jp-mod-styled ${cls}`,
        'data-command': command,
        'data-busy-blocks': '',
        'aria-disabled': busy ? 'true' : 'false',
        title: description
      },
      label
    );
  }

  draw(): void {
    patch(this.node, this.build());
  }

  /** The whole panel as it should look now, as a detached copy of the panel's node. */
  private build(): HTMLElement {
    const { status, error, busy } = this.model;
    const lessons = status?.lessons ?? [];
    const total = overallProgress(lessons);
    const target = this.node.cloneNode(false) as HTMLElement;
    const add = (...nodes: (Node | null)[]) => {
      for (const n of nodes) {
        if (n) {
          target.appendChild(n);
        }
      }
    };
    add(
      h('h2', { class: 'wif-Panel-title', id: TITLE_ID }, 'Workload Identity'),
      h('h3', {}, 'Services'),
      status
        ? renderServiceCards(status)
        : error
          ? null
          : h('p', { class: 'wif-Muted' }, 'Asking the server…'),
      h(
        'div',
        { class: 'wif-Panel-actions' },
        this.button('Start', CommandIDs.start, 'jp-mod-accept wif-Panel-start', 'wif up: start the IdP and the test mongod'),
        this.button('Stop', CommandIDs.stop, 'jp-mod-reject wif-Panel-stop', 'wif down: stop both services'),
        this.button('Reset…', CommandIDs.reset, 'jp-mod-warn wif-Panel-reset', 'wif reset: asks before wiping the state directory')
      ),
      // Always present (possibly empty) so screen readers announce what appears in them.
      h('p', { class: 'wif-Panel-busy', role: 'status' }, busy ?? ''),
      h(
        'p',
        { class: 'wif-Error wif-Panel-error', role: 'alert' },
        error ? error.message : '',
        error?.hint ? h('span', { class: 'wif-Hint' }, ` — ${error.hint}`) : null
      ),
      h('h3', {}, 'Lessons'),
      status ? h('p', { class: 'wif-Panel-overall' }, `${total.done} of ${total.total} checks passed`) : null,
      status && lessons.length === 0
        ? h('p', { class: 'wif-Muted' }, 'No lesson notebooks found (they live in the notebooks/ folder).')
        : null,
      h(
        'ul',
        { class: 'wif-Panel-lessons', 'aria-label': 'Lessons' },
        ...lessons.map(l =>
          h(
            'li',
            { 'data-key': l.id },
            h(
              'button',
              {
                type: 'button',
                class: `wif-Panel-lesson${l.total > 0 && l.done >= l.total ? ' wif-Panel-lesson--done' : ''}`,
                'data-command': CommandIDs.openLesson,
                'data-lesson': l.id,
                title: `Open ${l.path}`
              },
              h('span', { class: 'wif-Panel-lessonTitle' }, l.title),
              progressBar(l)
            )
          )
        )
      ),
      status ? h('p', { class: 'wif-Muted wif-Panel-state' }, 'State directory ', uri(status.state_dir)) : null
    );
    return target;
  }
}

/**
 * The status-bar item: both services at a glance and overall progress, as a button that opens
 * the panel (Enter and Space work; it is in the tab order). Updated in place like the panel.
 */
export class WifStatusItem extends Widget {
  private readonly button: HTMLButtonElement;

  constructor(
    private readonly model: StatusModel,
    commands: CommandRegistry
  ) {
    super();
    this.addClass('wif-StatusItem');
    this.button = h('button', { type: 'button', class: 'wif-StatusItem-button', 'data-command': CommandIDs.openPanel });
    this.node.appendChild(this.button);
    delegateClicks(this.node, commands, () => false);
    model.changed.connect(this.draw, this);
    this.draw();
  }

  dispose(): void {
    this.model.changed.disconnect(this.draw, this);
    super.dispose();
  }

  draw(): void {
    const { status, error } = this.model;
    const next = this.button.cloneNode(false) as HTMLButtonElement;
    if (!status) {
      next.setAttribute('title', 'Workload Identity: open the panel');
      next.appendChild(h('span', {}, error ? 'WIF: ?' : 'WIF: …'));
      patch(this.button, next);
      return;
    }
    const total = overallProgress(status.lessons ?? []);
    const state = (running: boolean) => (running ? 'up' : 'down');
    const { idp, mongod } = status.services;
    const progress = total.total > 0 ? `, ${total.done} of ${total.total} checks passed` : '';
    next.setAttribute(
      'title',
      `Workload Identity: IdP ${state(idp.running)}, mongod ${state(mongod.running)}${progress}. Open the panel`
    );
    const dot = (name: string, running: boolean) =>
      h(
        'span',
        { class: `wif-StatusItem-svc wif-State--${state(running)}`, 'data-service': name },
        `${name} ${state(running)}`
      );
    next.append(
      h('span', {}, 'WIF: '),
      dot('IdP', idp.running),
      h('span', {}, ' · '),
      dot('mongod', mongod.running),
      total.total > 0 ? h('span', {}, ` · ${total.done}/${total.total}`) : ''
    );
    patch(this.button, next);
  }
}
