/** The stagelab kernel's version (reported in kernel_info). */
export const VERSION = "0.1.0";
