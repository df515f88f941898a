// The viewer's small FFT against numpy.fft on the same data (Debian's numpy as reference).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fft2, powerSpectrum } from "../../src/viewer/fft.js";

const python = process.env.STAGELAB_SYSTEM_PYTHON ?? "/usr/bin/python3";

test("fft2 and powerSpectrum match numpy.fft (padded to powers of two)", () => {
  const [rows, cols] = [12, 20];
  const values = Float64Array.from(
    { length: rows * cols },
    (_, i) => Math.sin(i * 0.37) * 10 + ((i * 7919) % 13),
  );
  const script = [
    "import sys, json, numpy as np",
    "v = np.array(json.loads(sys.stdin.read())).reshape(12, 20)",
    "f = np.fft.fft2(v, s=(16, 32))",
    "print(json.dumps({'re': f.real.ravel().tolist(), 'im': f.imag.ravel().tolist(), 'ps': np.abs(np.fft.fftshift(f)).ravel().tolist()}))",
  ].join("\n");
  const r = spawnSync(python, ["-c", script], {
    input: JSON.stringify(Array.from(values)),
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as { re: number[]; im: number[]; ps: number[] };
  const f = fft2(values, rows, cols);
  assert.deepEqual([f.rows, f.cols], [16, 32]);
  const scale = Math.max(...ref.ps);
  for (let i = 0; i < ref.re.length; i++) {
    assert.ok(Math.abs(f.re[i]! - ref.re[i]!) <= 1e-10 * scale, `re[${i}]`);
    assert.ok(Math.abs(f.im[i]! - ref.im[i]!) <= 1e-10 * scale, `im[${i}]`);
  }
  const ps = powerSpectrum(values, rows, cols);
  for (let i = 0; i < ref.ps.length; i++)
    assert.ok(Math.abs(ps.values[i]! - ref.ps[i]!) <= 1e-10 * scale, `ps[${i}]`);
});
