/**
 * The wif-notebook JupyterLab plugin: the "Workload Identity" side panel, a status-bar item and
 * palette commands to start, stop and reset the kit's services and to open a lesson. The MIME
 * renderers are a separate mimeExtension (mime.ts) so they also load where this plugin's optional
 * pieces (status bar, palette) are missing.
 */

import { ILabShell, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Dialog, ICommandPalette, InputDialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { IStatusBar } from '@jupyterlab/statusbar';
import { LabIcon } from '@jupyterlab/ui-components';

import { lessonPath, StatusModel, WifApiError } from './api';
import { CommandIDs, WifPanel, WifStatusItem } from './panel';

const ICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16"><g class="jp-icon3" fill="#616161">' +
  '<path d="M7 14a2 2 0 1 1 0-4 2 2 0 0 1 0 4zm5.65-4A6 6 0 1 0 12.65 14H17v4h4v-4h2v-4z"/></g></svg>';

export const wifIcon = new LabIcon({ name: 'wif-notebook:key', svgstr: ICON_SVG });

const CATEGORY = 'Workload Identity';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'wif-notebook:plugin',
  description: 'Workload Identity side panel, status-bar item and commands for the wif-notebook kit.',
  autoStart: true,
  optional: [ICommandPalette, IStatusBar, ILabShell],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    statusBar: IStatusBar | null,
    labShell: ILabShell | null
  ) => {
    const model = new StatusModel();
    const panel = new WifPanel(model, app.commands);
    panel.title.icon = wifIcon;
    app.shell.add(panel, 'left', { rank: 600 });

    app.commands.addCommand(CommandIDs.start, {
      label: 'Start the Workload Identity services (IdP and test mongod)',
      caption: 'wif up: start the mock IdP and the test mongod',
      execute: () => model.act('start')
    });
    app.commands.addCommand(CommandIDs.stop, {
      label: 'Stop the Workload Identity services',
      caption: 'wif down: stop the test mongod and the mock IdP',
      execute: () => model.act('stop')
    });
    app.commands.addCommand(CommandIDs.reset, {
      label: 'Reset the Workload Identity services…',
      caption: 'wif reset: stop both services and wipe the state directory (keys, data, progress)',
      execute: async args => {
        if (!args.confirmed) {
          const answer = await showDialog({
            title: 'Reset the kit?',
            body:
              'This stops the IdP and the test mongod and wipes the state directory: signing keys, ' +
              'principals, mongod data and logs. The next start creates fresh ones.',
            buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Reset' })],
            // Focus (and Enter) on Cancel: wiping the state directory takes a deliberate choice.
            defaultButton: 0
          });
          if (!answer.button.accept) {
            return;
          }
        }
        await model.act('reset');
      }
    });
    app.commands.addCommand(CommandIDs.openLesson, {
      label: args => (args.id ? `Open lesson ${String(args.id)}` : 'Open a Workload Identity lesson…'),
      caption: 'Open one of the kit lessons',
      execute: async args => {
        let id = args.id ? String(args.id) : '';
        if (!id) {
          await model.refresh();
          const lessons = model.status?.lessons ?? [];
          if (lessons.length === 0) {
            await showDialog({
              title: 'No lessons',
              body: 'No lesson notebooks were found (they live in the notebooks/ folder).',
              buttons: [Dialog.okButton()]
            });
            return;
          }
          const titles = lessons.map(l => `${l.title} (${l.done}/${l.total})`);
          const choice = await InputDialog.getItem({ title: 'Open a lesson', items: titles });
          if (!choice.button.accept || choice.value === null) {
            return;
          }
          id = lessons[titles.indexOf(choice.value)].id;
        }
        let path: string;
        try {
          path = await lessonPath(id);
        } catch (err) {
          const failure = err instanceof WifApiError ? err : new WifApiError(String(err));
          await showErrorMessage(
            'Cannot open the lesson',
            failure.hint ? `${failure.message}. Next step: ${failure.hint}` : failure.message
          );
          return;
        }
        return app.commands.execute('docmanager:open', { path });
      }
    });
    app.commands.addCommand(CommandIDs.openPanel, {
      label: 'Show the Workload Identity panel',
      execute: () => {
        if (labShell) {
          labShell.activateById(panel.id);
        } else {
          app.shell.activateById(panel.id);
        }
      }
    });

    if (palette) {
      for (const command of [
        CommandIDs.start,
        CommandIDs.stop,
        CommandIDs.reset,
        CommandIDs.openLesson,
        CommandIDs.openPanel
      ]) {
        palette.addItem({ command, category: CATEGORY });
      }
    }
    if (statusBar) {
      statusBar.registerStatusItem('wif-notebook:status', {
        item: new WifStatusItem(model, app.commands),
        align: 'left',
        rank: 5
      });
    }
    model.start();
  }
};

export default plugin;
