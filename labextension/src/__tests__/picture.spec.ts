import { renderPicture } from '../render/picture';

describe('picture renderer', () => {
  it('holds the light and the dark image, both with the text alternative and the size', () => {
    const el = renderPicture({ version: 1, alt: 'Validity window of billing-api', width: 900, height: 320, light: 'TElHSFQ=', dark: 'REFSSw==' });
    const imgs = Array.from(el.querySelectorAll('img'));
    expect(imgs.map(i => i.className)).toEqual([
      'wif-Picture-img wif-Picture-img--light',
      'wif-Picture-img wif-Picture-img--dark'
    ]);
    expect(imgs.map(i => i.getAttribute('src'))).toEqual([
      'data:image/png;base64,TElHSFQ=',
      'data:image/png;base64,REFSSw=='
    ]);
    for (const img of imgs) {
      expect(img.alt).toBe('Validity window of billing-api');
      expect([img.getAttribute('width'), img.getAttribute('height')]).toEqual(['900', '320']);
    }
  });
});
