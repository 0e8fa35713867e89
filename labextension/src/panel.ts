/**
 * The "Workload Identity" side panel: the services (IdP and test mongod: up or down, ports,
 * issuer, which mongod), buttons to start, stop and reset them, and the lessons with progress
 * (click one to open it). It redraws whenever the shared StatusModel changes.
 */

import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { StatusModel } from './api';
import { h } from './render/dom';
import { overallProgress, progressBar, renderServiceCards } from './render/status';

export const CommandIDs = {
  start: 'wif-notebook:start-services',
  stop: 'wif-notebook:stop-services',
  reset: 'wif-notebook:reset-services',
  openLesson: 'wif-notebook:open-lesson',
  openPanel: 'wif-notebook:open-panel'
};

export class WifPanel extends Widget {
  constructor(
    private readonly model: StatusModel,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.id = 'wif-notebook-panel';
    this.addClass('wif-Panel');
    this.title.caption = 'Workload Identity';
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

  private button(label: string, command: string, cls: string): HTMLButtonElement {
    const b = h('button', { class: `jp-Button wif-Panel-button ${cls}`, 'data-command': command }, label);
    b.disabled = this.model.busy !== null;
    b.onclick = () => void this.commands.execute(command);
    return b;
  }

  draw(): void {
    const { status, error, busy } = this.model;
    const node = this.node;
    node.textContent = '';
    node.appendChild(h('h2', { class: 'wif-Panel-title' }, 'Workload Identity'));

    node.appendChild(h('h3', {}, 'Services'));
    if (status) {
      node.appendChild(renderServiceCards(status));
    } else if (!error) {
      node.appendChild(h('p', { class: 'wif-Muted' }, 'Asking the server…'));
    }
    node.appendChild(
      h(
        'div',
        { class: 'wif-Panel-actions' },
        this.button('Start', CommandIDs.start, 'wif-Panel-start'),
        this.button('Stop', CommandIDs.stop, 'wif-Panel-stop'),
        this.button('Reset…', CommandIDs.reset, 'wif-Panel-reset')
      )
    );
    if (busy) {
      node.appendChild(h('p', { class: 'wif-Panel-busy' }, busy));
    }
    if (error) {
      node.appendChild(
        h(
          'p',
          { class: 'wif-Error wif-Panel-error' },
          error.message,
          error.hint ? h('span', { class: 'wif-Hint' }, ` — ${error.hint}`) : null
        )
      );
    }

    const lessons = status?.lessons ?? [];
    const total = overallProgress(lessons);
    node.appendChild(h('h3', {}, 'Lessons'));
    if (status) {
      node.appendChild(
        h(
          'p',
          { class: 'wif-Panel-overall' },
          `${total.done} of ${total.total} checks passed`
        )
      );
    }
    if (status && lessons.length === 0) {
      node.appendChild(
        h('p', { class: 'wif-Muted' }, 'No lesson notebooks found (they live in the notebooks/ folder).')
      );
    }
    node.appendChild(
      h(
        'ul',
        { class: 'wif-Panel-lessons' },
        ...lessons.map(l => {
          const item = h(
            'li',
            {
              class: `wif-Panel-lesson${l.total > 0 && l.done >= l.total ? ' wif-Panel-lesson--done' : ''}`,
              'data-lesson': l.id,
              title: `Open ${l.path}`,
              tabindex: '0'
            },
            h('span', { class: 'wif-Panel-lessonTitle' }, l.title),
            progressBar(l)
          );
          const open = () => void this.commands.execute(CommandIDs.openLesson, { path: l.path });
          item.onclick = open;
          item.onkeydown = (ev: KeyboardEvent) => {
            if (ev.key === 'Enter') {
              open();
            }
          };
          return item;
        })
      )
    );
    if (status) {
      node.appendChild(h('p', { class: 'wif-Muted wif-Panel-state' }, 'State directory ', h('code', {}, status.state_dir)));
    }
  }
}

/** The status-bar item: both services at a glance and overall progress; click opens the panel. */
export class WifStatusItem extends Widget {
  constructor(
    private readonly model: StatusModel,
    private readonly commands: CommandRegistry
  ) {
    super();
    this.addClass('wif-StatusItem');
    this.node.title = 'Workload Identity: click to open the panel';
    this.node.onclick = () => void this.commands.execute(CommandIDs.openPanel);
    model.changed.connect(this.draw, this);
    this.draw();
  }

  dispose(): void {
    this.model.changed.disconnect(this.draw, this);
    super.dispose();
  }

  draw(): void {
    const { status, error } = this.model;
    this.node.textContent = '';
    if (!status) {
      this.node.appendChild(h('span', {}, error ? 'WIF: ?' : 'WIF: …'));
      return;
    }
    const dot = (name: string, running: boolean) =>
      h('span', { class: `wif-StatusItem-svc wif-State--${running ? 'up' : 'down'}`, 'data-service': name }, `${name} ${running ? 'up' : 'down'}`);
    const total = overallProgress(status.lessons ?? []);
    this.node.appendChild(h('span', {}, 'WIF: '));
    this.node.appendChild(dot('IdP', status.services.idp.running));
    this.node.appendChild(h('span', {}, ' · '));
    this.node.appendChild(dot('mongod', status.services.mongod.running));
    if (total.total > 0) {
      this.node.appendChild(h('span', {}, ` · ${total.done}/${total.total}`));
    }
  }
}
