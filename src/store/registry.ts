/**
 * Files open in this thread. One HDF5 library instance shares a file's state between all its
 * handles, so a reader in the writer's own thread would see the writer's cache, not what is
 * committed on disk. We refuse that combination with a clear message instead.
 */
import path from "node:path";
import { InvalidArgumentError } from "./errors.js";

type Role = "reader" | "writer";
const open = new Map<string, { role: Role; count: number }>();

export function claim(file: string, role: Role): () => void {
  const key = path.resolve(file);
  const cur = open.get(key);
  if (cur && (cur.role !== role || role === "writer")) {
    const hint =
      cur.role === "writer"
        ? "it is open for writing in this thread: read it from another thread (openReaderInWorker) or through the writer"
        : "it is open for reading in this thread: close the reader before writing here, or write from a worker";
    throw new InvalidArgumentError(
      `cannot open for ${role === "writer" ? "writing" : "reading"}: ${hint}`,
      { file },
    );
  }
  if (cur) cur.count++;
  else open.set(key, { role, count: 1 });
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const c = open.get(key);
    if (!c) return;
    if (--c.count === 0) open.delete(key);
  };
}
