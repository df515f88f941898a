/**
 * `{ x }` in a cell, where `x` was declared by an earlier cell, must use that cell's `x`.
 * tslab rewrites references to earlier declarations as `exports.x`, but it cannot rewrite a
 * shorthand property (the identifier is also the property name), so `{ x }` threw
 * "x is not defined" and `({ x } = o)` assigned a stray global. Cells therefore run with every
 * shorthand property spelled out: `{ x }` -> `{ x: x }`, `({ x = 1 } = o)` -> `({ x: x = 1 } = o)`,
 * which mean the same and which tslab can rewrite. Declarations (`const { x } = o`) are binding
 * patterns, not shorthand properties, and are left alone. Only columns after an expansion on
 * the same line shift in diagnostics.
 */
import type * as TS from "typescript";
import { getTs } from "./typescript.js";

export function expandShorthandProperties(src: string): string {
  if (!src.includes("{")) return src;
  const ts = getTs() as typeof TS;
  const sf = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const inserts: { at: number; text: string }[] = [];
  const visit = (node: TS.Node): void => {
    if (ts.isShorthandPropertyAssignment(node))
      inserts.push({ at: node.name.end, text: `: ${node.name.text}` });
    ts.forEachChild(node, visit);
  };
  visit(sf);
  let out = src;
  for (const { at, text } of inserts.sort((a, b) => b.at - a.at))
    out = out.slice(0, at) + text + out.slice(at);
  return out;
}
