/**
 * The file tree: groups and datasets with their shapes and types, keyboard navigable
 * (WAI-ARIA tree: arrows move, Enter/Space select). Every name comes from the file and is
 * set as text, never parsed as HTML.
 */
export interface TreeEntry {
  path: string;
  kind: "group" | "dataset" | "other";
  shape?: number[];
  dtype?: string;
  chunks?: number[] | null;
  compression?: string;
  maxshape?: (number | null)[];
  attrs: Record<string, string>;
}

export function describeEntry(t: TreeEntry): string {
  if (t.kind !== "dataset") return "";
  return `${t.dtype ?? "?"} [${(t.shape ?? []).join(" × ")}]`;
}

export class TreePanel {
  readonly el = document.createElement("ul");
  private items: HTMLLIElement[] = [];
  private selected = "";

  constructor(private readonly onSelect: (path: string) => void) {
    this.el.className = "sl-h5-tree";
    this.el.setAttribute("role", "tree");
    this.el.setAttribute("aria-label", "HDF5 file contents");
    this.el.addEventListener("keydown", this.onKey);
  }

  render(entries: TreeEntry[], selected: string): void {
    this.selected = selected;
    const shown = entries.filter((t) => t.path !== "/");
    // Same objects as before (a live file only grows): update in place, so keyboard focus
    // and scroll position survive the updates a followed file sends several times a second.
    if (
      shown.length === this.items.length &&
      shown.every((t, i) => this.items[i]!.dataset.path === t.path)
    ) {
      shown.forEach((t, i) => {
        const li = this.items[i]!;
        const meta = li.querySelector(".sl-h5-meta");
        if (meta) meta.textContent = describeEntry(t);
        if (t.kind === "dataset") li.setAttribute("aria-selected", String(t.path === selected));
      });
      return;
    }
    const focusedPath = this.el.contains(document.activeElement)
      ? (document.activeElement as HTMLElement).dataset.path
      : undefined;
    this.el.replaceChildren();
    this.items = [];
    for (const t of entries) {
      if (t.path === "/") continue;
      const li = document.createElement("li");
      const depth = t.path.split("/").length - 2;
      li.setAttribute("role", "treeitem");
      li.dataset.path = t.path;
      li.dataset.kind = t.kind;
      li.style.paddingLeft = `${0.4 + depth * 1.1}em`;
      li.tabIndex = -1;
      const name = document.createElement("span");
      name.className = "sl-h5-name";
      name.textContent = (t.kind === "group" ? "▸ " : "") + (t.path.split("/").pop() ?? t.path);
      li.appendChild(name);
      const meta = document.createElement("span");
      meta.className = "sl-h5-meta";
      meta.textContent = describeEntry(t);
      li.appendChild(meta);
      if (t.kind === "dataset") {
        li.addEventListener("click", () => this.onSelect(t.path));
        li.setAttribute("aria-selected", String(t.path === selected));
      }
      this.el.appendChild(li);
      this.items.push(li);
    }
    const focusable =
      this.items.find((i) => i.dataset.path === (focusedPath ?? selected)) ?? this.items[0];
    if (focusable) {
      focusable.tabIndex = 0;
      if (focusedPath) focusable.focus();
    }
  }

  private readonly onKey = (e: KeyboardEvent): void => {
    const current = this.items.findIndex((i) => i === document.activeElement);
    let next: number;
    if (e.key === "ArrowDown") next = Math.min(this.items.length - 1, current + 1);
    else if (e.key === "ArrowUp") next = Math.max(0, current - 1);
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = this.items.length - 1;
    else if ((e.key === "Enter" || e.key === " ") && current >= 0) {
      const item = this.items[current]!;
      if (item.dataset.kind === "dataset" && item.dataset.path) this.onSelect(item.dataset.path);
      e.preventDefault();
      return;
    } else return;
    e.preventDefault();
    for (const i of this.items) i.tabIndex = -1;
    const target = this.items[next];
    if (target) {
      target.tabIndex = 0;
      target.focus();
    }
  };

  get selectedPath(): string {
    return this.selected;
  }
}
