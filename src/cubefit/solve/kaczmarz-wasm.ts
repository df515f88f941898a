/**
 * kaczmarzRow (kaczmarz.ts) as a WebAssembly SIMD kernel, bit for bit. V8 runs the JS loop
 * one float at a time; f64x2 lanes halve the instructions, which matters when the rows are
 * long (nCols ~ 3600: the JS loop then trails numpy's BLAS calls).
 *
 * Same arithmetic, same order: lanes 0, 1 of the two dot (and norm) accumulators are the JS
 * loop's d0..d3 (q0..q3), the tail goes into d0 (q0), and they are summed as
 * d0 + d1 + (d2 + d3); the update is x + step * a per element (no fused multiply-add), and the
 * projection keeps v where v > 0, else +0 (NaN -> 0), like `v > 0 ? v : 0`.
 *
 * The module is assembled here from a flat WAT-like listing (there is no wasm toolchain in
 * the repo); `asm` knows just the instructions the kernel uses. Wasm reads only its own
 * memory, so x lives there for the whole fit and each row is copied in before its step (a
 * memcpy: it is also what brings the row into cache for the step's two passes).
 */

/** One row step on a private x (in wasm memory). */
export interface RowKernel {
  /** The live x, a view of the kernel's memory: read and write it like any Float64Array. */
  readonly x: Float64Array;
  /** kaczmarzRow(a, off, yl, this.x, n, lr, project): same result, same x afterwards. */
  row(a: Float64Array, off: number, yl: number, lr: number, project: boolean): number;
}

/** The kernel for rows of n columns, or undefined where wasm SIMD is unavailable. */
export function wasmRowKernel(n: number): RowKernel | undefined {
  const mod = kernelModule();
  if (!mod) return undefined;
  // x at byte 0, the row buffer after it (16-byte aligned).
  const rowAt = Math.ceil((n * 8) / 16) * 16;
  const memory = new WebAssembly.Memory({ initial: Math.ceil((rowAt + n * 8) / 65536) });
  const { exports } = new WebAssembly.Instance(mod, { env: { memory } });
  const step = exports.row as (
    a: number,
    x: number,
    n: number,
    yl: number,
    lr: number,
    project: number,
  ) => number;
  const x = new Float64Array(memory.buffer, 0, n);
  const row = new Float64Array(memory.buffer, rowAt, n);
  return {
    x,
    row(a, off, yl, lr, project) {
      row.set(a.subarray(off, off + n));
      return step(rowAt, 0, n, yl, lr, project ? 1 : 0);
    },
  };
}

let cached: WebAssembly.Module | null | undefined;

function kernelModule(): WebAssembly.Module | undefined {
  if (cached === undefined) {
    const bytes = moduleBytes();
    cached =
      typeof WebAssembly === "object" && WebAssembly.validate(bytes)
        ? new WebAssembly.Module(bytes)
        : null;
  }
  return cached ?? undefined;
}

/** row(a, x, n, yl, lr, project) -> residual; a and x are byte offsets, n columns. */
const PARAMS = [
  ["a", "i32"],
  ["x", "i32"],
  ["n", "i32"],
  ["yl", "f64"],
  ["lr", "f64"],
  ["project", "i32"],
] as const;
const LOCALS = [
  ["i", "i32"],
  ["end", "i32"],
  ["d01", "v128"],
  ["d23", "v128"],
  ["q01", "v128"],
  ["q23", "v128"],
  ["va", "v128"],
  ["vb", "v128"],
  ["step", "v128"],
  ["keep", "v128"],
  ["zero", "v128"],
  ["v", "v128"],
  ["d0", "f64"],
  ["q0", "f64"],
  ["r", "f64"],
  ["nrm", "f64"],
  ["s", "f64"],
] as const;

/** Columns i/8 + k/8 and the next one (byte offsets): x <- x + step * a, masked by keep. */
const update2 = (k: number) => `
    local.get $x  local.get $i  i32.add
    local.get $x  local.get $i  i32.add  v128.load offset=${k}
    local.get $step  local.get $a  local.get $i  i32.add  v128.load offset=${k}  f64x2.mul
    f64x2.add  local.tee $v
    local.get $v  local.get $zero  f64x2.gt  local.get $keep  v128.or  v128.and
    v128.store offset=${k}`;

// Fresh locals are zero, so the accumulators, i and $zero start at 0, as in kaczmarzRow.
const BODY = `
  ;; Dot product and squared norm, four columns per turn (the JS loop's d0..d3, q0..q3).
  local.get $n  i32.const -4  i32.and  i32.const 3  i32.shl  local.set $end
  block  loop
    local.get $i  local.get $end  i32.ge_u  br_if 1
    local.get $a  local.get $i  i32.add  v128.load offset=0   local.set $va
    local.get $a  local.get $i  i32.add  v128.load offset=16  local.set $vb
    local.get $d01  local.get $va  local.get $x  local.get $i  i32.add  v128.load offset=0
      f64x2.mul  f64x2.add  local.set $d01
    local.get $d23  local.get $vb  local.get $x  local.get $i  i32.add  v128.load offset=16
      f64x2.mul  f64x2.add  local.set $d23
    local.get $q01  local.get $va  local.get $va  f64x2.mul  f64x2.add  local.set $q01
    local.get $q23  local.get $vb  local.get $vb  f64x2.mul  f64x2.add  local.set $q23
    local.get $i  i32.const 32  i32.add  local.set $i
    br 0
  end  end
  ;; The last n % 4 columns go into d0 and q0.
  local.get $d01  f64x2.extract_lane 0  local.set $d0
  local.get $q01  f64x2.extract_lane 0  local.set $q0
  local.get $n  i32.const 3  i32.shl  local.set $end
  block  loop
    local.get $i  local.get $end  i32.ge_u  br_if 1
    local.get $a  local.get $i  i32.add  f64.load offset=0  local.set $s
    local.get $d0  local.get $s  local.get $x  local.get $i  i32.add  f64.load offset=0
      f64.mul  f64.add  local.set $d0
    local.get $q0  local.get $s  local.get $s  f64.mul  f64.add  local.set $q0
    local.get $i  i32.const 8  i32.add  local.set $i
    br 0
  end  end
  ;; r = yl - (d0 + d1 + (d2 + d3)), nrm = q0 + q1 + (q2 + q3)
  local.get $yl
  local.get $d0  local.get $d01  f64x2.extract_lane 1  f64.add
  local.get $d23  f64x2.extract_lane 0  local.get $d23  f64x2.extract_lane 1  f64.add
  f64.add  f64.sub  local.set $r
  local.get $q0  local.get $q01  f64x2.extract_lane 1  f64.add
  local.get $q23  f64x2.extract_lane 0  local.get $q23  f64x2.extract_lane 1  f64.add
  f64.add  local.set $nrm
  ;; An all-zero row carries no information: no step.
  local.get $nrm  f64.const 0  f64.gt  i32.eqz  if  local.get $r  return  end
  local.get $lr  local.get $r  f64.mul  local.get $nrm  f64.div  f64x2.splat  local.set $step
  ;; Lane mask of what survives the projection: v > 0, or everything (all ones) without it.
  local.get $project  i32.const 1  i32.sub  i32x4.splat  local.set $keep
  ;; x <- x + step * a, four columns per turn, then two.
  local.get $n  i32.const -4  i32.and  i32.const 3  i32.shl  local.set $end
  i32.const 0  local.set $i
  block  loop
    local.get $i  local.get $end  i32.ge_u  br_if 1
    ${update2(0)}
    ${update2(16)}
    local.get $i  i32.const 32  i32.add  local.set $i
    br 0
  end  end
  local.get $n  i32.const 2  i32.and  if
    ${update2(0)}
    local.get $i  i32.const 16  i32.add  local.set $i
  end
  ;; Odd n: the last column.
  local.get $n  i32.const 1  i32.and  if
    local.get $x  local.get $i  i32.add
    local.get $x  local.get $i  i32.add  f64.load offset=0
    local.get $step  f64x2.extract_lane 0  local.get $a  local.get $i  i32.add  f64.load offset=0
    f64.mul  f64.add  local.tee $s
    f64.const 0
    local.get $s  f64.const 0  f64.gt  local.get $project  i32.eqz  i32.or
    select
    f64.store offset=0
  end
  local.get $r
`;

type Imm = "none" | "local" | "label" | "i32" | "f64" | "mem" | "lane" | "block";

/** Opcode bytes (SIMD ones after the 0xfd prefix, LEB128) and immediate kind. */
const OPS: Record<string, [number[], Imm]> = {
  block: [[0x02], "block"],
  loop: [[0x03], "block"],
  if: [[0x04], "block"],
  end: [[0x0b], "none"],
  br: [[0x0c], "label"],
  br_if: [[0x0d], "label"],
  return: [[0x0f], "none"],
  select: [[0x1b], "none"],
  "local.get": [[0x20], "local"],
  "local.set": [[0x21], "local"],
  "local.tee": [[0x22], "local"],
  "f64.load": [[0x2b], "mem"],
  "f64.store": [[0x39], "mem"],
  "i32.const": [[0x41], "i32"],
  "f64.const": [[0x44], "f64"],
  "i32.eqz": [[0x45], "none"],
  "i32.ge_u": [[0x4f], "none"],
  "f64.gt": [[0x64], "none"],
  "i32.add": [[0x6a], "none"],
  "i32.sub": [[0x6b], "none"],
  "i32.and": [[0x71], "none"],
  "i32.or": [[0x72], "none"],
  "i32.shl": [[0x74], "none"],
  "f64.add": [[0xa0], "none"],
  "f64.sub": [[0xa1], "none"],
  "f64.mul": [[0xa2], "none"],
  "f64.div": [[0xa3], "none"],
  "v128.load": [[0xfd, 0x00], "mem"],
  "v128.store": [[0xfd, 0x0b], "mem"],
  "i32x4.splat": [[0xfd, 0x11], "none"],
  "f64x2.splat": [[0xfd, 0x14], "none"],
  "f64x2.extract_lane": [[0xfd, 0x21], "lane"],
  "f64x2.gt": [[0xfd, 0x4a], "none"],
  "v128.and": [[0xfd, 0x4e], "none"],
  "v128.or": [[0xfd, 0x50], "none"],
  "f64x2.add": [[0xfd, 0xf0, 0x01], "none"],
  "f64x2.mul": [[0xfd, 0xf2, 0x01], "none"],
};

const TYPES = { i32: 0x7f, f64: 0x7c, v128: 0x7b } as const;
/** Natural alignment (log2 bytes) of the memory instructions, given as their hint. */
const ALIGN: Record<string, number> = { "f64.load": 3, "f64.store": 3 };

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    const b = v & 0x7f;
    v >>>= 7;
    out.push(v ? b | 0x80 : b);
  } while (v);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = v & 0x7f;
    v >>= 7;
    if ((v === 0 && !(b & 0x40)) || (v === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
}

/** Assemble the flat listing (`;;` comments, `$name` locals, `offset=k` memory offsets). */
function asm(src: string, locals: Map<string, number>): number[] {
  const toks = src
    .replace(/;;[^\n]*/g, "")
    .split(/\s+/)
    .filter(Boolean);
  const out: number[] = [];
  for (let t = 0; t < toks.length; t++) {
    const name = toks[t]!;
    const op = OPS[name];
    if (!op) throw new Error(`kaczmarz-wasm: unknown instruction ${name}`);
    out.push(...op[0]);
    const arg = () => toks[++t]!;
    switch (op[1]) {
      case "block":
        out.push(0x40); // no result
        break;
      case "local": {
        const i = locals.get(arg());
        if (i === undefined) throw new Error(`kaczmarz-wasm: unknown local ${toks[t]}`);
        out.push(...uleb(i));
        break;
      }
      case "label":
      case "lane":
        out.push(...uleb(Number(arg())));
        break;
      case "i32":
        out.push(...sleb(Number(arg())));
        break;
      case "f64":
        out.push(...f64le(Number(arg())));
        break;
      case "mem": {
        const m = /^offset=(\d+)$/.exec(arg());
        if (!m) throw new Error(`kaczmarz-wasm: ${name} needs offset=k, got ${toks[t]}`);
        out.push(ALIGN[name] ?? 4, ...uleb(Number(m[1])));
        break;
      }
    }
  }
  return out;
}

function f64le(v: number): number[] {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v, true);
  return [...new Uint8Array(b.buffer)];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const str = (s: string): number[] => [...uleb(s.length), ...new TextEncoder().encode(s)];

function moduleBytes(): Uint8Array<ArrayBuffer> {
  const names = new Map([...PARAMS, ...LOCALS].map(([name], i) => [`$${name}`, i]));
  const body = [...asm(BODY, names), 0x0b];
  const localDecls = vec(LOCALS.map(([, t]) => [1, TYPES[t]]));
  const code = [...localDecls, ...body];
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // "\0asm", version 1
    ...section(1, vec([[0x60, ...vec(PARAMS.map(([, t]) => [TYPES[t]])), ...vec([[TYPES.f64]])]])),
    ...section(2, vec([[...str("env"), ...str("memory"), 0x02, 0x00, 0x01]])), // memory, min 1 page
    ...section(3, vec([[0x00]])), // one function of type 0
    ...section(7, vec([[...str("row"), 0x00, 0x00]])), // export "row" = function 0
    ...section(10, vec([[...uleb(code.length), ...code]])),
  ]);
}
