import type { TopLevelSpec } from 'vega-lite';
import { Html, html } from './html.ts';

/**
 * Plots are Vega-Lite specifications drawn to SVG here in Node (Vega's headless renderer, text measured by its
 * estimate, no canvas), so the page carries them as inline SVG and needs no script. Vega and Vega-Lite load on
 * the first plot only: no other command pays for them.
 */

export type PlotSpec = TopLevelSpec;

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", sans-serif',
  background: 'white',
  view: { stroke: null },
  axis: { labelColor: '#1d2330', titleColor: '#1d2330', gridColor: '#e6e9ee', domainColor: '#9aa3af' },
  legend: { labelColor: '#1d2330', titleColor: '#1d2330' },
} as const;

/**
 * Refuses SVG that could carry script or reach out. Vega escapes the text it draws; this makes sure of it by looking
 * at the SVG's skeleton (attribute values and text taken out, since escaped text may spell "onerror=" harmlessly).
 */
function checkedSvg(svg: string): string {
  const skeleton = svg.replace(/"[^"]*"/g, '""').replace(/>[^<]*</g, '><');
  if (/<script|<foreignObject|<a[\s>]|\son[a-z]+\s*=|\shref\s*=|\sxlink:href\s*=/i.test(skeleton))
    throw new Error('a plot drew active content into its SVG; refusing to put it in a report');
  return svg;
}

/**
 * One plot as a figure: the SVG, a caption, and (for people who cannot see it, and to copy from) the figures it
 * shows as a table the caller gives.
 */
export async function renderPlot(spec: PlotSpec, caption: string, table?: Html): Promise<Html> {
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = compile({ ...spec, config: { ...CONFIG, ...spec.config } } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    const svg = checkedSvg(await view.toSVG());
    return html`<figure class="plot" data-plot="${caption}">
      ${new Html(svg)}
      <figcaption>${caption}</figcaption>
      ${
        table === undefined
          ? ''
          : html`<details>
              <summary>Figures</summary>
              ${table}
            </details>`
      }
    </figure>`;
  } finally {
    view.finalize();
  }
}
