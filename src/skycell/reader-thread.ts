// Stage 1, a reader: one cell region's bands, masks and headers from the input Zarr store,
// handed on by transfer.
import { parentPort } from "node:worker_threads";
import * as Comlink from "comlink/dist/esm/comlink.mjs";
import { nodeEndpoint } from "../store/worker/endpoint.js";
import { readSkycellRegion, type PixelRect, type Ps1Band, type SkycellBundle } from "./dataset.js";

const api = {
  async read(
    storeRoot: string,
    projection: number,
    skycellName: string,
    region: PixelRect,
    bands: Ps1Band[],
  ): Promise<SkycellBundle> {
    const bundle = await readSkycellRegion(storeRoot, projection, skycellName, region, bands);
    const buffers = Object.values(bundle.bands).flatMap((b) => [b.image.buffer, b.mask.buffer]);
    return Comlink.transfer(bundle, buffers);
  },
};

export type ReaderThreadApi = typeof api;

if (parentPort) Comlink.expose(api, nodeEndpoint(parentPort));
