export declare const HASH_FILE: string;
export declare function sourceHash(root: string, extension: string): string;
