/**
 * Vega-Lite chart colours from JupyterLab's theme variables (light or dark, whichever is
 * active). Shared by the chart views (H5View's line chart, the CubeFit widgets).
 */
export function themeConfig(): Record<string, unknown> {
  const css = getComputedStyle(document.body);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const text = v("--jp-ui-font-color1", "#333");
  const grid = v("--jp-border-color2", "#ddd");
  return {
    background: "transparent",
    axis: {
      labelColor: text,
      titleColor: text,
      gridColor: grid,
      domainColor: grid,
      tickColor: grid,
    },
    legend: { labelColor: text, titleColor: text },
    title: { color: text },
    header: { labelColor: text, titleColor: text },
    line: { color: v("--jp-brand-color1", "#1976d2") },
  };
}
