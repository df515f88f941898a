/**
 * A 1-d array as a Vega-Lite line chart. New rows are added in place with a Vega changeset
 * (the chart is not re-rendered), so a growing dataset scrolls along smoothly.
 */
import embed, { type Result } from "vega-embed";
import { changeset } from "vega";
import { themeConfig } from "../shared/vega-theme.js";

export interface LinePoint {
  index: number;
  value: number;
}

export class LinePanel {
  readonly el = document.createElement("div");
  private result: Result | undefined;
  private count = 0;

  constructor(private readonly onCursor: (text: string) => void) {
    this.el.className = "sl-h5-line";
  }

  async show(points: LinePoint[], title: string, log: boolean): Promise<void> {
    this.result?.finalize();
    this.count = points.length;
    const spec = {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: "container" as const,
      height: 220,
      title,
      data: { name: "table", values: points },
      mark: { type: "line" as const, tooltip: true, point: points.length < 60 },
      encoding: {
        x: { field: "index", type: "quantitative" as const, title: "index" },
        y: {
          field: "value",
          type: "quantitative" as const,
          title: "value",
          scale: log ? { type: "log" as const } : { zero: false },
        },
      },
      config: themeConfig(),
    };
    this.result = await embed(this.el, spec, { actions: false, renderer: "canvas" });
    this.result.view.addEventListener("mousemove", (_e, item) => {
      const datum = (item as { datum?: LinePoint } | null)?.datum;
      if (datum && typeof datum.index === "number")
        this.onCursor(`[${datum.index}] = ${datum.value}`);
    });
  }

  /** Append points with a changeset; returns false when there is no chart to append to. */
  async append(points: LinePoint[]): Promise<boolean> {
    if (!this.result) return false;
    this.count += points.length;
    await this.result.view.change("table", changeset().insert(points)).runAsync();
    return true;
  }

  get length(): number {
    return this.count;
  }

  dispose(): void {
    this.result?.finalize();
    this.result = undefined;
  }
}
