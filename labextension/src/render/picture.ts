/**
 * application/vnd.wif.picture+json: a matplotlib picture drawn for each JupyterLab theme. Both
 * images are in the output and the stylesheet shows the one for the current theme (body's
 * data-jp-theme-light), so switching themes needs no re-render; the hidden one is display:none
 * and so absent from the accessibility tree. The alt text is the picture in words.
 */

import { h } from './dom';
import { IPicturePayload } from './types';

export function renderPicture(payload: IPicturePayload): HTMLElement {
  const img = (theme: 'light' | 'dark', data: string) => {
    const el = h('img', {
      class: `wif-Picture-img wif-Picture-img--${theme}`,
      src: `data:image/png;base64,${data}`,
      alt: payload.alt
    });
    if (payload.width) {
      el.setAttribute('width', String(payload.width));
    }
    if (payload.height) {
      el.setAttribute('height', String(payload.height));
    }
    return el;
  };
  return h('figure', { class: 'wif-Picture' }, img('light', payload.light), img('dark', payload.dark));
}
