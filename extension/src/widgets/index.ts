/**
 * The classes of the `@stagelab/widgets` module, by the names kernel-side models use in
 * `_model_name` / `_view_name`. Loaded on first use (its own chunk): add new viewers here.
 */
export { HelloModel, HelloView } from "./hello.js";
export { H5ViewModel, H5ViewView } from "../h5view/widget.js";
export { VoxelViewModel, VoxelViewView } from "../voxelview/widget.js";
export { FftExplorerModel, FftExplorerView } from "../fftexplorer/widget.js";
export { PrefitSnapshotModel, PrefitSnapshotView } from "../cubefit/prefit.js";
export { FitDashboardModel, FitDashboardView } from "../cubefit/fitdash.js";
