/**
 * Provenance attributes: which stagelab, which stage, with which parameters, and when.
 * Written on the file's root and on each dataset a stage creates, so a result file says
 * how it was made without a notebook beside it.
 */
import { VERSION } from "../version.js";
import type { Attrs, JsonValue } from "./h5file.js";

export interface Provenance {
  /** Stage (or program) name, e.g. "superres.bigFT". */
  stage: string;
  /** The stage's parameters, as JSON. */
  parameters?: JsonValue;
}

export function provenanceAttrs(p: Provenance, now = new Date()): Attrs {
  return {
    stagelab_version: VERSION,
    stagelab_stage: p.stage,
    stagelab_parameters: p.parameters ?? {},
    stagelab_created: now.toISOString(),
  };
}
