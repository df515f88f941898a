/** The stagelab version recorded in every file's provenance. */
export const VERSION = "0.1.0";
