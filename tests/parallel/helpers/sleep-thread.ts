// A worker module for the WorkerPool tests: calls that take a given time.
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../../../src/store/worker/endpoint.js";

const api = {
  async sleep(ms: number, label: string): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return label;
  },
};

export type SleepThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
