/**
 * The MIME renderers (a JupyterLab mimeExtension): token, flow, status and picture payloads in outputs.
 * Without this extension (classic Notebook 7, VS Code) the same bundles show their text/html.
 */

import { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { h, setHeadingLevels } from './render/dom';
import { renderFlow } from './render/flow';
import { renderPicture } from './render/picture';
import { renderStatus } from './render/status';
import { renderToken } from './render/token';
import {
  FLOW_MIME,
  IFlowPayload,
  IPicturePayload,
  IStatusPayload,
  PICTURE_MIME,
  ITokenPayload,
  STATUS_MIME,
  TOKEN_MIME
} from './render/types';

type Draw = (data: any) => HTMLElement;

class PayloadRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(
    private readonly mimeType: string,
    private readonly draw: Draw
  ) {
    super();
    this.addClass('wif-Output');
  }

  renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const data = model.data[this.mimeType];
    this.node.textContent = '';
    try {
      this.node.appendChild(this.draw(data));
    } catch (err) {
      // A payload from a newer or older kit: say so instead of leaving an empty output.
      this.node.appendChild(
        h(
          'p',
          { class: 'wif-Error' },
          `Cannot show this ${this.mimeType} payload (${String(err)}); the text/html version of the output has the same facts.`
        )
      );
    }
    this.nestHeadings();
    return Promise.resolve();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    this.nestHeadings();
  }

  /** Headings go one level below the last heading before this output in its notebook. */
  private nestHeadings(): void {
    if (this.node.isConnected) {
      setHeadingLevels(this.node, this.node.closest('.jp-Notebook') ?? this.node.closest('.jp-OutputArea'));
    }
  }
}

/** The mimeExtension entry of one payload: `wif-notebook:<name>-renderer`, drawn by `draw`. */
function renderer(name: string, mimeType: string, draw: Draw): IRenderMime.IExtension {
  return {
    id: `wif-notebook:${name}-renderer`,
    rendererFactory: {
      safe: true,
      mimeTypes: [mimeType],
      defaultRank: 20,
      createRenderer: () => new PayloadRenderer(mimeType, draw)
    },
    rank: 20,
    dataType: 'json'
  };
}

const extensions: IRenderMime.IExtension[] = [
  renderer('token', TOKEN_MIME, (d: ITokenPayload) => renderToken(d)),
  renderer('flow', FLOW_MIME, (d: IFlowPayload) => renderFlow(d)),
  renderer('picture', PICTURE_MIME, (d: IPicturePayload) => renderPicture(d)),
  renderer('status', STATUS_MIME, (d: IStatusPayload) => renderStatus(d))
];

export default extensions;
