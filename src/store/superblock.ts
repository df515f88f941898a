/**
 * A look at an HDF5 file's superblock before HDF5 opens it.
 *
 * HDF5 in SWMR-read mode skips its end-of-file check (a SWMR writer may still be growing
 * the file) and, on a truncated file, loops forever inside WASM where nothing can interrupt
 * it. Reading the superblock ourselves tells a truncated file (no writer flag set, stored
 * end-of-file beyond the real size) from a file a writer has open, and says which format
 * version it is (SWMR needs superblock version 3).
 */
import fs from "node:fs";

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface SuperblockInfo {
  /** Superblock version: 0-1 (pre-1.8 format), 2, 3 (1.10+, SWMR capable). */
  version: number;
  /** File consistency flags: non-zero while a writer has the file open (or died with it). */
  writerFlags: number;
  /** Stored end-of-file address relative to the superblock. */
  endOfFile: bigint;
  /** Where the superblock starts (after a user block, if any). */
  offset: number;
  /** Real file size in bytes. */
  size: number;
}

/** undefined when the file has no HDF5 signature at any place a superblock may start. */
export function readSuperblock(path: string): SuperblockInfo | undefined {
  const fd = fs.openSync(path, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const buf = Buffer.alloc(96);
    for (let offset = 0; offset + 48 <= size; offset = offset === 0 ? 512 : offset * 2) {
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      if (n < 48 || !buf.subarray(0, 8).equals(SIGNATURE)) continue;
      const version = buf[8]!;
      let sizeOfOffsets: number;
      let writerFlags: number;
      let eofAt: number;
      if (version >= 2) {
        sizeOfOffsets = buf[9]!;
        writerFlags = buf[11]!;
        eofAt = 12 + 2 * sizeOfOffsets;
      } else {
        sizeOfOffsets = buf[13]!;
        writerFlags = buf.readUInt32LE(20);
        eofAt = (version === 1 ? 28 : 24) + 2 * sizeOfOffsets;
      }
      if (sizeOfOffsets !== 8 && sizeOfOffsets !== 4) return undefined;
      const endOfFile =
        sizeOfOffsets === 8 ? buf.readBigUInt64LE(eofAt) : BigInt(buf.readUInt32LE(eofAt));
      return { version, writerFlags, endOfFile, offset, size };
    }
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

/** Truncated: no writer holds it, yet the superblock says it should be longer. */
export function looksTruncated(sb: SuperblockInfo): boolean {
  return sb.writerFlags === 0 && BigInt(sb.offset) + sb.endOfFile > BigInt(sb.size);
}
