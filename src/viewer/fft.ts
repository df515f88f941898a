/**
 * Small FFTs for viewers (a power spectrum of the image on screen): iterative radix-2
 * Cooley-Tukey on float64, sizes padded to powers of two. Pure; runs in the browser's
 * compute worker. Large transforms belong to the pipelines, not here.
 */

export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** In-place forward FFT of length n = 2^k, on separate real and imaginary arrays. */
export function fftInPlace(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  if (n !== im.length || (n & (n - 1)) !== 0)
    throw new RangeError(`FFT length must be a power of two, got ${n}`);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len *= 2) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const xr = re[b]! * cr - im[b]! * ci;
        const xi = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
}

/**
 * 2-d FFT of a real rows x cols image (zero-padded to powers of two), returned as interleaved
 * complex values of shape [paddedRows, paddedCols], unshifted (numpy.fft.fft2 order).
 */
export function fft2(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
): { re: Float64Array; im: Float64Array; rows: number; cols: number } {
  const R = nextPow2(rows);
  const C = nextPow2(cols);
  const re = new Float64Array(R * C);
  const im = new Float64Array(R * C);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) re[r * C + c] = values[r * cols + c]!;
  const rowRe = new Float64Array(C);
  const rowIm = new Float64Array(C);
  for (let r = 0; r < R; r++) {
    rowRe.set(re.subarray(r * C, (r + 1) * C));
    rowIm.set(im.subarray(r * C, (r + 1) * C));
    fftInPlace(rowRe, rowIm);
    re.set(rowRe, r * C);
    im.set(rowIm, r * C);
  }
  const colRe = new Float64Array(R);
  const colIm = new Float64Array(R);
  for (let c = 0; c < C; c++) {
    for (let r = 0; r < R; r++) {
      colRe[r] = re[r * C + c]!;
      colIm[r] = im[r * C + c]!;
    }
    fftInPlace(colRe, colIm);
    for (let r = 0; r < R; r++) {
      re[r * C + c] = colRe[r]!;
      im[r * C + c] = colIm[r]!;
    }
  }
  return { re, im, rows: R, cols: C };
}

/** |FFT| of an image with the zero frequency at the centre (numpy.fft.fftshift order). */
export function powerSpectrum(
  values: ArrayLike<number>,
  rows: number,
  cols: number,
): { values: Float64Array; rows: number; cols: number } {
  const f = fft2(values, rows, cols);
  const out = new Float64Array(f.rows * f.cols);
  const hr = f.rows / 2;
  const hc = f.cols / 2;
  for (let r = 0; r < f.rows; r++) {
    const sr = (r + hr) % f.rows;
    for (let c = 0; c < f.cols; c++) {
      const sc = (c + hc) % f.cols;
      out[sr * f.cols + sc] = Math.hypot(f.re[r * f.cols + c]!, f.im[r * f.cols + c]!);
    }
  }
  return { values: out, rows: f.rows, cols: f.cols };
}
