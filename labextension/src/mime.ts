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

function factory(mimeType: string, draw: Draw): IRenderMime.IRendererFactory {
  return {
    safe: true,
    mimeTypes: [mimeType],
    defaultRank: 20,
    createRenderer: () => new PayloadRenderer(mimeType, draw)
  };
}

const extensions: IRenderMime.IExtension[] = [
  {
    id: 'wif-notebook:token-renderer',
    rendererFactory: factory(TOKEN_MIME, (d: ITokenPayload) => renderToken(d)),
    rank: 20,
    dataType: 'json'
  },
  {
    id: 'wif-notebook:flow-renderer',
    rendererFactory: factory(FLOW_MIME, (d: IFlowPayload) => renderFlow(d)),
    rank: 20,
    dataType: 'json'
  },
  {
    id: 'wif-notebook:picture-renderer',
    rendererFactory: factory(PICTURE_MIME, (d: IPicturePayload) => renderPicture(d)),
    rank: 20,
    dataType: 'json'
  },
  {
    id: 'wif-notebook:status-renderer',
    rendererFactory: factory(STATUS_MIME, (d: IStatusPayload) => renderStatus(d)),
    rank: 20,
    dataType: 'json'
  }
];

export default extensions;
