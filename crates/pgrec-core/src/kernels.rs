//! Vector kernels used in the hot loops. The bodies are written with eight independent lanes so
//! that the compiler vectorises them; on x86-64 an AVX2+FMA build of the same body is chosen at
//! run time. Each kernel has a scalar reference it is tested against.

const LANES: usize = 8;

#[inline(always)]
pub(crate) fn dot_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    acc.iter().sum::<f32>() + tail
}

/// Sum of eight lanes as a tree ((0+4)+(2+6)) + ((1+5)+(3+7)): the order a SIMD register is
/// reduced in, with a short dependency chain.
#[inline(always)]
pub(crate) fn lane_sum(a: [f32; LANES]) -> f32 {
    let h = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let q = [h[0] + h[2], h[1] + h[3]];
    q[0] + q[1]
}

/// Dot product for the SGD loops, where its latency is on the critical path: two independent
/// accumulators and a tree reduction (the same value on every CPU: no fused multiply-adds).
#[inline(always)]
pub(crate) fn dot_short_body(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [[0f32; LANES]; 2];
    let (ac, bc) = (a.chunks_exact(2 * LANES), b.chunks_exact(2 * LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for h in 0..2 {
            for l in 0..LANES {
                acc[h][l] += x[h * LANES + l] * y[h * LANES + l];
            }
        }
    }
    let (ac, bc) = (ar.chunks_exact(LANES), br.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[0][l] += x[l] * y[l];
        }
    }
    let mut tail = 0f32;
    for (x, y) in ar.iter().zip(br) {
        tail += x * y;
    }
    let mut both = [0f32; LANES];
    for l in 0..LANES {
        both[l] = acc[0][l] + acc[1][l];
    }
    lane_sum(both) + tail
}

/// Asks the CPU to start loading `len` floats at `ptr` into cache (no-op where unsupported).
/// A hint only: it never faults and never changes results.
#[inline(always)]
pub fn prefetch(ptr: *const f32, len: usize) {
    prefetch_bytes(ptr as *const u8, len * 4);
}

/// `prefetch` for `len` bytes (at least one cache line) of any data.
#[inline(always)]
pub fn prefetch_bytes(ptr: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (0..len.max(1)).step_by(64) {
        // SAFETY: _mm_prefetch is a hint; it does not dereference the pointer.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                ptr.wrapping_add(off) as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len);
}

/// One gradient step on a pair of factor vectors, with separate step sizes and penalties:
/// p += lr_p * (err * q - reg_p * p), q += lr_q * (err * p_old - reg_q * q).
#[derive(Debug, Clone, Copy)]
pub struct PairStep {
    pub err: f32,
    pub lr_p: f32,
    pub lr_q: f32,
    pub reg_p: f32,
    pub reg_q: f32,
}

/// Applies `s` and returns the mean squared gradient of p and of q (for adaptive steps).
/// Written in chunks of eight lanes so that the loop, including the gradient statistics,
/// vectorises.
#[inline(always)]
pub(crate) fn sgd_body<const STATS: bool>(p: &mut [f32], q: &mut [f32], s: PairStep) -> (f32, f32) {
    let n = p.len().min(q.len());
    let (p, q) = (&mut p[..n], &mut q[..n]);
    let mut gp2 = [0f32; LANES];
    let mut gq2 = [0f32; LANES];
    let split = n - n % LANES;
    let (p_main, p_tail) = p.split_at_mut(split);
    let (q_main, q_tail) = q.split_at_mut(split);
    for (pc, qc) in p_main
        .chunks_exact_mut(LANES)
        .zip(q_main.chunks_exact_mut(LANES))
    {
        // Whole-chunk copies in and out keep the loop in vector registers.
        let mut pv = [0f32; LANES];
        let mut qv = [0f32; LANES];
        pv.copy_from_slice(pc);
        qv.copy_from_slice(qc);
        let mut gp = [0f32; LANES];
        let mut gq = [0f32; LANES];
        for l in 0..LANES {
            gp[l] = s.err * qv[l] - s.reg_p * pv[l];
            gq[l] = s.err * pv[l] - s.reg_q * qv[l];
        }
        for l in 0..LANES {
            pv[l] += s.lr_p * gp[l];
            qv[l] += s.lr_q * gq[l];
        }
        pc.copy_from_slice(&pv);
        qc.copy_from_slice(&qv);
        if STATS {
            for l in 0..LANES {
                gp2[l] += gp[l] * gp[l];
                gq2[l] += gq[l] * gq[l];
            }
        }
    }
    for (pj, qj) in p_tail.iter_mut().zip(q_tail.iter_mut()) {
        let (a, b) = (*pj, *qj);
        let gp = s.err * b - s.reg_p * a;
        let gq = s.err * a - s.reg_q * b;
        *pj = a + s.lr_p * gp;
        *qj = b + s.lr_q * gq;
        gp2[0] += gp * gp;
        gq2[0] += gq * gq;
    }
    let inv = 1.0 / n.max(1) as f32;
    (lane_sum(gp2) * inv, lane_sum(gq2) * inv)
}

/// y += a * x.
#[inline(always)]
pub(crate) fn axpy_body(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let (x, y) = (&x[..n], &mut y[..n]);
    for j in 0..n {
        y[j] += a * x[j];
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    axpy_body(a, x, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sgd_avx2(p: &mut [f32], q: &mut [f32], s: PairStep) -> (f32, f32) {
    sgd_body::<true>(p, q, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sgd_plain_avx2(p: &mut [f32], q: &mut [f32], s: PairStep) {
    sgd_body::<false>(p, q, s);
}

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_body(a, b)
}

/// out[r] = <q, row r of `rows`> (rows of q.len() values), each exactly as `dot` computes it.
#[inline(always)]
pub(crate) fn dots_body(q: &[f32], rows: &[f32], out: &mut [f32]) {
    let k = q.len().max(1);
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
        *o = dot_body(q, row);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dots_avx2(q: &[f32], rows: &[f32], out: &mut [f32]) {
    dots_body(q, rows, out)
}

fn sgd_portable(p: &mut [f32], q: &mut [f32], s: PairStep) -> (f32, f32) {
    sgd_body::<true>(p, q, s)
}

/// out[r] = <q, row r of `rows`>, the rows stored as IEEE half floats (f16 bits), each value
/// widened to f32 and the products summed in f32 in the lane order of `dot_body`.
#[inline(always)]
pub(crate) fn dots_f16_body(q: &[f32], rows: &[u16], out: &mut [f32]) {
    let k = q.len().max(1);
    let mut wide = vec![0f32; k];
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
        for (w, &h) in wide.iter_mut().zip(row) {
            *w = half::f16::from_bits(h).to_f32();
        }
        *o = dot_body(q, &wide);
    }
}

/// Rows scored together by the SIMD f16 kernels: four accumulators in flight hide the FMA
/// latency, and one shuffle-add reduces all four (one horizontal sum per row was half the cost).
const F16_BLOCK: usize = 4;

/// How many blocks ahead the f16 kernel prefetches.
const PREFETCH_BLOCKS: usize = 16;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dots_f16_avx2(q: &[f32], rows: &[u16], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let k = q.len();
    if k == 0 || !k.is_multiple_of(8) {
        return dots_f16_body(q, rows, out);
    }
    let n = out.len().min(rows.len() / k);
    let blocks = n / F16_BLOCK;
    for b in 0..blocks {
        // SAFETY (whole block): rows b*4 .. b*4+3 lie inside rows[..n*k]; every load reads 8
        // values at j + 8 <= k of a row or of q (k values); the store writes out[b*4..b*4+4]
        // with b*4 + 4 <= n <= out.len(); avx2, fma and f16c are enabled on this function.
        let base = unsafe { rows.as_ptr().add(b * F16_BLOCK * k) };
        // Ask for the block PREFETCH_BLOCKS ahead: the hardware streamer stops at 4 KB page
        // boundaries, which a scan of a memory-mapped catalog crosses every 8 blocks (64
        // factors); on 531,560 items x 64 this took a two-thread f16 scan from 5.1 to 1.7 ms.
        let ahead = base.wrapping_add(PREFETCH_BLOCKS * F16_BLOCK * k);
        for line in (0..F16_BLOCK * k * 2).step_by(64) {
            // a hint: it never faults, whatever the address
            _mm_prefetch(ahead.cast::<i8>().wrapping_add(line), _MM_HINT_T0);
        }
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
            _mm256_setzero_ps(),
        );
        let mut j = 0;
        while j < k {
            let y = unsafe { _mm256_loadu_ps(q.as_ptr().add(j)) };
            let h = |r: usize| unsafe {
                _mm256_cvtph_ps(_mm_loadu_si128(base.add(r * k + j) as *const __m128i))
            };
            a0 = _mm256_fmadd_ps(h(0), y, a0);
            a1 = _mm256_fmadd_ps(h(1), y, a1);
            a2 = _mm256_fmadd_ps(h(2), y, a2);
            a3 = _mm256_fmadd_ps(h(3), y, a3);
            j += 8;
        }
        // [a0 a1 a2 a3] lane sums: two hadds leave each row's halves in lanes r and r + 4.
        let s = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        let sums = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        unsafe { _mm_storeu_ps(out.as_mut_ptr().add(b * F16_BLOCK), sums) };
    }
    let done = blocks * F16_BLOCK;
    dots_f16_body(q, &rows[done * k..n * k], &mut out[done..n]);
}

/// out[r] = sum of q[j] * rows[r * k + j] in integers (k = q.len()): exact, so every build
/// gives the same value. The caller keeps |q[j]| <= 16383 and k <= 1024, so that no sum
/// leaves i32 (16383 x 127 x 1024 < 2^31).
#[inline(always)]
pub(crate) fn dots_i8_i16_body(q: &[i16], rows: &[i8], out: &mut [i32]) {
    let k = q.len().max(1);
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(k)) {
        *o = q.iter().zip(row).map(|(&a, &b)| a as i32 * b as i32).sum();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_i8_i16_avx2(q: &[i16], rows: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let k = q.len();
    if k == 0 || !k.is_multiple_of(16) {
        return dots_i8_i16_body(q, rows, out);
    }
    let n = out.len().min(rows.len() / k);
    let blocks = n / F16_BLOCK;
    for b in 0..blocks {
        // SAFETY (whole block): rows b*4 .. b*4+3 lie inside rows[..n*k]; every load reads 16
        // codes at j + 16 <= k of a row, or 16 values of q; the store writes out[b*4..b*4+4]
        // with b*4 + 4 <= n <= out.len(); avx2 is enabled on this function.
        let base = unsafe { rows.as_ptr().add(b * F16_BLOCK * k) };
        let ahead = base.wrapping_add(PREFETCH_BLOCKS * F16_BLOCK * k);
        for line in (0..F16_BLOCK * k).step_by(64) {
            // a hint: it never faults, whatever the address
            _mm_prefetch(ahead.wrapping_add(line), _MM_HINT_T0);
        }
        let (mut a0, mut a1, mut a2, mut a3) = (
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
            _mm256_setzero_si256(),
        );
        let mut j = 0;
        while j < k {
            let y = unsafe { _mm256_loadu_si256(q.as_ptr().add(j) as *const __m256i) };
            let c = |r: usize| unsafe {
                _mm256_cvtepi8_epi16(_mm_loadu_si128(base.add(r * k + j) as *const __m128i))
            };
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(c(0), y));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(c(1), y));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(c(2), y));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(c(3), y));
            j += 16;
        }
        let s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        let sums = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(b * F16_BLOCK) as *mut __m128i, sums) };
    }
    let done = blocks * F16_BLOCK;
    dots_i8_i16_body(q, &rows[done * k..n * k], &mut out[done..n]);
}

/// out[r] = sum over bytes j of row r of (low nibble) x even[j] + (high nibble) x odd[j], in
/// integers (rows of even.len() bytes; odd.len() == even.len()): exact, so every build gives
/// the same value. Each term is at most 15 x 128, so a row of up to 2^20 bytes stays in i32.
#[inline(always)]
pub(crate) fn dots_u4_i8_body(even: &[i8], odd: &[i8], rows: &[u8], out: &mut [i32]) {
    let b = even.len().max(1);
    for (o, row) in out.iter_mut().zip(rows.chunks_exact(b)) {
        *o = row
            .iter()
            .zip(even.iter().zip(odd))
            .map(|(&c, (&e, &d))| (c & 15) as i32 * e as i32 + (c >> 4) as i32 * d as i32)
            .sum();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dots_u4_i8_avx2(even: &[i8], odd: &[i8], rows: &[u8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let b = even.len();
    if b == 0 || !b.is_multiple_of(32) || odd.len() != b {
        return dots_u4_i8_body(even, odd, rows, out);
    }
    let n = out.len().min(rows.len() / b);
    let blocks = n / F16_BLOCK;
    let nibble = _mm256_set1_epi8(15);
    let ones = _mm256_set1_epi16(1);
    for blk in 0..blocks {
        // SAFETY (whole block): rows blk*4 .. blk*4+3 lie inside rows[..n*b]; every load reads
        // 32 bytes at j + 32 <= b of a row, of even or of odd; the store writes
        // out[blk*4..blk*4+4] with blk*4 + 4 <= n <= out.len(); avx2 is enabled here.
        let base = unsafe { rows.as_ptr().add(blk * F16_BLOCK * b) };
        let ahead = base.wrapping_add(PREFETCH_BLOCKS * F16_BLOCK * b);
        for line in (0..F16_BLOCK * b).step_by(64) {
            // a hint: it never faults, whatever the address
            _mm_prefetch(ahead.wrapping_add(line) as *const i8, _MM_HINT_T0);
        }
        let mut acc = [_mm256_setzero_si256(); F16_BLOCK];
        let mut j = 0;
        while j < b {
            let e = unsafe { _mm256_loadu_si256(even.as_ptr().add(j) as *const __m256i) };
            let d = unsafe { _mm256_loadu_si256(odd.as_ptr().add(j) as *const __m256i) };
            for (r, a) in acc.iter_mut().enumerate() {
                let c = unsafe { _mm256_loadu_si256(base.add(r * b + j) as *const __m256i) };
                let lo = _mm256_and_si256(c, nibble);
                let hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), nibble);
                // unsigned codes x signed query, pairs summed in i16: at most 2 x 15 x 128
                // each, 4 x 15 x 128 after the add
                let p = _mm256_add_epi16(_mm256_maddubs_epi16(lo, e), _mm256_maddubs_epi16(hi, d));
                *a = _mm256_add_epi32(*a, _mm256_madd_epi16(p, ones));
            }
            j += 32;
        }
        let s = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(blk * F16_BLOCK) as *mut __m128i, sums) };
    }
    let done = blocks * F16_BLOCK;
    dots_u4_i8_body(even, odd, &rows[done * b..n * b], &mut out[done..n]);
}

/// `values` as IEEE half floats (f16 bits, rounded to nearest): the rows `dots_f16` reads.
pub fn f16_bits(values: &[f32]) -> Vec<u16> {
    values
        .iter()
        .map(|&x| half::f16::from_f32(x).to_bits())
        .collect()
}

/// The kernels selected for this CPU. Chosen once, then passed by value into hot loops.
#[derive(Clone, Copy)]
pub struct Kernels {
    avx2: bool,
    f16c: bool,
}

impl Kernels {
    /// Whether the AVX2 + FMA builds are in use (for callers that compile their own loops for
    /// them around the `_body` functions).
    pub(crate) fn avx2(self) -> bool {
        self.avx2
    }

    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            Kernels {
                avx2,
                f16c: avx2 && std::is_x86_feature_detected!("f16c"),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Kernels {
                avx2: false,
                f16c: false,
            }
        }
    }

    /// The portable build, for tests that compare against it.
    pub fn portable() -> Self {
        Kernels {
            avx2: false,
            f16c: false,
        }
    }

    #[inline(always)]
    pub fn dot(self, a: &[f32], b: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { dot_avx2(a, b) };
        }
        dot_portable(a, b)
    }

    /// out[r] = self.dot(q, row r of `rows`), for rows of q.len() values, in one call (the
    /// per-call dispatch of `dot` dominates a scan of short vectors).
    #[inline(always)]
    pub fn dots(self, q: &[f32], rows: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { dots_avx2(q, rows, out) };
        }
        dots_body(q, rows, out)
    }

    /// `dots` over rows stored as f16 bits (half the bytes to read). The SIMD path sums in
    /// another order than the portable one: results agree to float rounding, not bit for bit.
    #[inline(always)]
    pub fn dots_f16(self, q: &[f32], rows: &[u16], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.f16c {
            // SAFETY: avx2, fma and f16c were detected at run time.
            return unsafe { dots_f16_avx2(q, rows, out) };
        }
        dots_f16_body(q, rows, out)
    }

    /// Integer dot products of an i16 query with rows of int8 codes (see `dots_i8_i16_body`
    /// for the bounds the caller keeps): exact, the same on every build.
    #[inline(always)]
    pub fn dots_i8_i16(self, q: &[i16], rows: &[i8], out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 was detected at run time.
            return unsafe { dots_i8_i16_avx2(q, rows, out) };
        }
        dots_i8_i16_body(q, rows, out)
    }

    /// Integer dot products of an int8 query, split into its even and odd values, with rows
    /// of 4-bit codes (see `dots_u4_i8_body`): exact, the same on every build.
    #[inline(always)]
    pub fn dots_u4_i8(self, even: &[i8], odd: &[i8], rows: &[u8], out: &mut [i32]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 was detected at run time.
            return unsafe { dots_u4_i8_avx2(even, odd, rows, out) };
        }
        dots_u4_i8_body(even, odd, rows, out)
    }

    /// y += a * x.
    #[inline(always)]
    pub fn axpy(self, a: f32, x: &[f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { axpy_avx2(a, x, y) };
        }
        axpy_body(a, x, y)
    }

    /// `sgd` without the gradient statistics (for plain SGD).
    #[inline(always)]
    pub fn sgd_plain(self, p: &mut [f32], q: &mut [f32], s: PairStep) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { sgd_plain_avx2(p, q, s) };
        }
        sgd_body::<false>(p, q, s);
    }

    #[inline(always)]
    pub fn sgd(self, p: &mut [f32], q: &mut [f32], s: PairStep) -> (f32, f32) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: avx2 and fma were detected at run time.
            return unsafe { sgd_avx2(p, q, s) };
        }
        sgd_portable(p, q, s)
    }
}

pub fn norm(k: Kernels, a: &[f32]) -> f32 {
    k.dot(a, a).sqrt()
}

/// C (m x n) = beta * C + op(A) (m x k) * op(B) (k x n), row-major. `ta` / `tb` say that the
/// stored matrix is the transpose (A stored k x m, B stored n x k).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    ta: bool,
    b: &[f32],
    tb: bool,
    beta: f32,
    c: &mut [f32],
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = if ta { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if tb { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the asserts above bound every index the strides can reach.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn scalar_dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum()
    }

    #[test]
    fn dot_matches_scalar_on_awkward_lengths() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(1);
        for &k in [Kernels::detect(), Kernels::portable()].iter() {
            for n in [0usize, 1, 3, 7, 8, 9, 15, 16, 17, 31, 64, 100, 129] {
                let a: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let b: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let got = k.dot(&a, &b) as f64;
                let want = scalar_dot(&a, &b);
                assert!(
                    (got - want).abs() < 1e-5 * (1.0 + n as f64),
                    "n={n} {got} {want}"
                );
            }
        }
    }

    #[test]
    fn dots_equal_one_dot_per_row_bit_for_bit() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(4);
        for &k in [Kernels::detect(), Kernels::portable()].iter() {
            for n in [1usize, 7, 8, 9, 16, 64, 67, 128] {
                let q: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                // 11 rows: two blocks of four and three more; one output more than rows
                let rows: Vec<f32> = (0..n * 11).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let mut out = vec![f32::NAN; 12];
                k.dots(&q, &rows, &mut out);
                assert!(out[11].is_nan(), "n={n}: wrote past the last row");
                for (r, o) in out[..11].iter().enumerate() {
                    assert_eq!(
                        o.to_bits(),
                        k.dot(&q, &rows[r * n..(r + 1) * n]).to_bits(),
                        "n={n} row {r}"
                    );
                }
            }
        }
    }

    #[test]
    fn f16_dots_agree_with_f32_dots_of_the_rounded_values() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        for n in [1usize, 7, 8, 9, 16, 24, 32, 64, 67, 128] {
            let q: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let rows: Vec<f32> = (0..n * 11).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let bits = f16_bits(&rows);
            let rounded: Vec<f32> = bits
                .iter()
                .map(|&b| half::f16::from_bits(b).to_f32())
                .collect();
            for k in [Kernels::detect(), Kernels::portable()] {
                // 11 rows: two blocks of four and a tail of three; one more output than rows
                let mut got = vec![f32::NAN; 12];
                k.dots_f16(&q, &bits, &mut got);
                assert!(got[11].is_nan(), "n={n}: wrote past the last row");
                for (r, g) in got[..11].iter().enumerate() {
                    let want = scalar_dot(&q, &rounded[r * n..(r + 1) * n]);
                    assert!(
                        (*g as f64 - want).abs() < 1e-5 * (1.0 + n as f64),
                        "n={n} row {r}: {g} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn integer_u4_dots_are_exact_on_every_build() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
        for b in [1usize, 7, 31, 32, 33, 64, 96, 100, 512] {
            let even: Vec<i8> = (0..b).map(|_| rng.gen_range(-128..=127)).collect();
            let odd: Vec<i8> = (0..b).map(|_| rng.gen_range(-128..=127)).collect();
            let mut codes: Vec<u8> = (0..b * 11).map(|_| rng.gen()).collect();
            // the extremes: every nibble 15 against the query's sign (the largest sums)
            codes[..b].fill(0xFF);
            for k in [Kernels::detect(), Kernels::portable()] {
                let mut got = vec![i32::MIN; 12];
                k.dots_u4_i8(&even, &odd, &codes, &mut got);
                assert_eq!(got[11], i32::MIN, "b={b}: wrote past the last row");
                for (r, g) in got[..11].iter().enumerate() {
                    let want: i64 = codes[r * b..(r + 1) * b]
                        .iter()
                        .zip(even.iter().zip(&odd))
                        .map(|(&c, (&e, &d))| {
                            (c & 15) as i64 * e as i64 + (c >> 4) as i64 * d as i64
                        })
                        .sum();
                    assert_eq!(*g as i64, want, "b={b} row {r}");
                }
            }
        }
    }

    #[test]
    fn integer_i8_dots_are_exact_on_every_build() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(7);
        for n in [1usize, 7, 16, 17, 32, 48, 64, 100, 1024] {
            let q: Vec<i16> = (0..n).map(|_| rng.gen_range(-16383..=16383)).collect();
            let mut codes: Vec<i8> = (0..n * 11).map(|_| rng.gen_range(-127..=127)).collect();
            // the extremes: the largest sums a row can reach
            for (j, c) in codes[..n].iter_mut().enumerate() {
                *c = if q[j] < 0 { -127 } else { 127 };
            }
            for k in [Kernels::detect(), Kernels::portable()] {
                let mut got = vec![i32::MIN; 12];
                k.dots_i8_i16(&q, &codes, &mut got);
                assert_eq!(got[11], i32::MIN, "n={n}: wrote past the last row");
                for (r, g) in got[..11].iter().enumerate() {
                    let want: i64 = q
                        .iter()
                        .zip(&codes[r * n..(r + 1) * n])
                        .map(|(&a, &b)| a as i64 * b as i64)
                        .sum();
                    assert_eq!(*g as i64, want, "n={n} row {r}");
                }
            }
        }
    }

    #[test]
    fn sgd_matches_scalar_on_awkward_lengths() {
        let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(2);
        for &k in [Kernels::detect(), Kernels::portable()].iter() {
            for n in [1usize, 5, 8, 13, 64, 67] {
                let p0: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let q0: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
                let (err, lr, rp, rq) = (0.7f32, 0.05f32, 0.1f32, 0.3f32);
                let (mut p, mut q) = (p0.clone(), q0.clone());
                let step = PairStep {
                    err,
                    lr_p: lr,
                    lr_q: 2.0 * lr,
                    reg_p: rp,
                    reg_q: rq,
                };
                let (gp2, gq2) = k.sgd(&mut p, &mut q, step);
                let (mut wgp2, mut wgq2) = (0f32, 0f32);
                for j in 0..n {
                    let gp = err * q0[j] - rp * p0[j];
                    let gq = err * p0[j] - rq * q0[j];
                    wgp2 += gp * gp / n as f32;
                    wgq2 += gq * gq / n as f32;
                    let wp = p0[j] + lr * gp;
                    let wq = q0[j] + 2.0 * lr * gq;
                    assert!((p[j] - wp).abs() < 1e-6 && (q[j] - wq).abs() < 1e-6);
                }
                assert!((gp2 - wgp2).abs() < 1e-5 && (gq2 - wgq2).abs() < 1e-5);
            }
        }
    }
}
