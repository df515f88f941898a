import type { DType, TypedArrayFor } from "../../../src/dist/index.js";
export declare const ROW_WIDTH: number;
export declare function rowValue(i: number, j: number): number;
export declare function rowsBlock(start: number, n: number): Float64Array;
export declare function indexBlock(start: number, n: number): BigInt64Array;
export declare const APPEND_SIZES: number[];
export declare function elementValue(dtype: DType, k: number): number | bigint | [number, number];
export declare function pattern<D extends DType>(dtype: D, k0: number, n: number): TypedArrayFor[D];
